package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/gateway/delivery"
)

// Version is the software version reported in the CapabilityStatement.
const Version = "0.1.0"

// capabilityStatement describes exactly what this server does: every R4
// type with its interactions, and the search parameters of the indexed
// types (from the same registry the indexes are built from). It is composed
// as JSON and passed through the codec, which validates it as R4. With
// subscriptions (gateway/delivery), the Subscription resource lists the
// backport IG's operations and says what delivery supports.
func capabilityStatement(c *codec.Codec, now time.Time, subscriptions bool) ([]byte, error) {
	var b bytes.Buffer
	q := func(s string) string { out, _ := json.Marshal(s); return string(out) }
	fmt.Fprintf(&b, `{"resourceType":"CapabilityStatement","status":"active","date":%s,"kind":"instance",`, q(now.UTC().Format("2006-01-02")))
	fmt.Fprintf(&b, `"software":{"name":"Relais","version":%s},"implementation":{"description":"Relais FHIR R4 gateway"},`, q(Version))
	if subscriptions {
		fmt.Fprintf(&b, `"instantiates":[%s],`, q(backportServer))
	}
	b.WriteString(`"fhirVersion":"4.0.1","format":["application/fhir+json","json"],"patchFormat":["application/json-patch+json"],"rest":[{"mode":"server",`)
	fmt.Fprintf(&b, `"documentation":%s,`, q(viewDoc))
	b.WriteString(`"security":{"service":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/restful-security-service","code":"SMART-on-FHIR"}]}],`)
	b.WriteString(`"description":"Bearer JWT (ES256, RS256, EdDSA) with SMART v1/v2 user/, patient/ and system/ scopes. Writes follow the write policy served at /admin/write-policy; update-as-create is for system/ scopes."},"resource":[`)
	for i, typ := range resource.Types() {
		if i > 0 {
			b.WriteByte(',')
		}
		writeResourceCapability(&b, q, typ, subscriptions && typ == "Subscription")
	}
	b.WriteString(`],"interaction":[{"code":"transaction"},{"code":"batch"},{"code":"history-system"}]}]}`)
	m, err := c.Decode(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("capability statement: %w", err)
	}
	return c.Encode(m)
}

// backportServer is the backport IG's CapabilityStatement for R4 servers
// (version delivery.IGVersion).
const backportServer = "http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4"

// subscriptionDoc says exactly what push delivery supports.
var subscriptionDoc = "Push delivery (Subscriptions R5 Backport IG " + delivery.IGVersion + "): channel rest-hook only; " +
	"criteria an R4 search string (filters only) or a topic " + delivery.TopicBase + "{Task|ServiceRequest|CarePlan|Consent} " +
	"with backport-filter-criteria on owner, requester, status, patient (CarePlan and Consent: status, patient); " +
	"backport-payload-content empty, id-only (default) or full-resource; channel.header sent as HTTP headers; " +
	"backport-heartbeat-period; a handshake before active; notifications are the IG's history Bundle; " +
	"every create, update and deletion raises an event (a deletion as a DELETE entry, matched on the version deleted); " +
	"consent is decided for the owner before every attempt " +
	"and a denied event is withheld; retries with exponential backoff up to a configured total, then a dead letter " +
	"(status error, GET /admin/delivery/dead-letters). Not supported: websocket, email, sms and message channels, " +
	"backport-max-count, backport-timeout, notification-shape other than the Bundle. " +
	"Endpoints must be https and not special-purpose addresses (RFC 6890), checked at create and at every connection; " +
	"with the extension https://relais-health.github.io/fhir/StructureDefinition/subscription-secret notifications carry " +
	"X-Relais-Signature: sha256=<HMAC-SHA256 of the body>, and the secret is never returned on read."

// viewDoc says which views of a resource reads and searches give
// (fhir/subset): the searchParam lists hold the filters alone.
const viewDoc = "Every type's read, vread and search (GET or POST _search) take _summary (true, text, data, false; a search " +
	"also count) and _elements (top-level elements, choices by their name or one of their types: value or valueQuantity), " +
	"as R4 search.html#summary and #elements define them; a search's pages keep its view, its included resources get its " +
	"_summary, never its _elements. Every view keeps id, meta, the mandatory and modifier elements and those an invariant needs; " +
	"a resource shown in part carries meta.tag SUBSETTED (http://terminology.hl7.org/CodeSystem/v3-ObservationValue). " +
	"_summary=text with _include or _revinclude, and _summary with _elements, are refused (400). The audit log shows its entries whole."

// auditLogDoc says what the API does with AuditEvents (interactions.go).
const auditLogDoc = "The audit log (IHE BALP): AuditEvents are recorded by the server alone, each a leaf of an RFC 9162 Merkle tree, " +
	"and never changed: read and search (GET, or POST _search) only; any other interaction on the type is a 405."

// operations are the operations of the API on instances or types (route
// table): name, canonical of their definition, what they do.
var operations = map[string][][3]string{
	"Patient":   {{"disclosures", opBase + "Patient-disclosures", "GET Patient/{id}/$disclosures: who received or read what about her, newest first (the patient, her representatives, consent administrators)"}},
	"Consent":   {{"evaluate", opBase + "Consent-evaluate", "POST Consent/$evaluate: may an actor receive a resource of a patient, with an optional draft Consent (consent administrators, system callers, the patient about herself)"}},
	"Encounter": {{"route", opBase + "Encounter-route", "POST Encounter/{id}/$route: plan the stay's discharge again (system callers)"}},
}

const opBase = "https://relais-health.github.io/fhir/OperationDefinition/"

func writeResourceCapability(b *bytes.Buffer, q func(string) string, typ string, subscriptions bool) {
	fmt.Fprintf(b, `{"type":%s,`, q(typ))
	if ops := operations[typ]; len(ops) > 0 {
		b.WriteString(`"operation":[`)
		for i, op := range ops {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, `{"name":%s,"definition":%s,"documentation":%s}`, q(op[0]), q(op[1]), q(op[2]))
		}
		b.WriteString(`],`)
	}
	if subscriptions {
		// Topic discovery (backport IG STU 1.1, backport-subscription-server-r4).
		b.WriteString(`"extension":[`)
		for i, topic := range delivery.TopicURLs() {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, `{"url":%s,"valueCanonical":%s}`, q(delivery.ExtTopicCanonical), q(topic))
		}
		fmt.Fprintf(b, `],"supportedProfile":[%s],`, q(delivery.ProfileSubscription))
		fmt.Fprintf(b, `"documentation":%s,"operation":[{"name":"status","definition":%s},{"name":"events","definition":%s}],`,
			q(subscriptionDoc), q("http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"),
			q("http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events"))
	}
	if auditLogType(typ) {
		fmt.Fprintf(b, `"documentation":%s,`, q(auditLogDoc))
	}
	b.WriteString(`"interaction":[`)
	for i, in := range interactions(typ) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, `{"code":%s}`, q(in))
	}
	params := search.Params(typ)
	if auditLogType(typ) {
		// the audit log's entries have no versions and are never written
		// through the API; its search has parameters of its own (audit.go)
		b.WriteString(`],"versioning":"no-version","readHistory":false,"updateCreate":false,"conditionalCreate":false,`)
		b.WriteString(`"conditionalUpdate":false,"conditionalDelete":"not-supported"`)
		params = slices.DeleteFunc(params, func(p search.Param) bool { return !slices.Contains(auditSearchParams, p.Name) })
		writeSearchParams(b, q, params)
		return
	}
	b.WriteString(`],"versioning":"versioned-update","readHistory":true,"updateCreate":true,"conditionalCreate":true,`)
	// conditionalRead: If-None-Match and If-Modified-Since (respond.go notModified)
	b.WriteString(`"conditionalRead":"full-support","conditionalUpdate":true,"conditionalDelete":"single"`)
	var incs []string
	for _, p := range params {
		if p.Kind == search.Reference {
			incs = append(incs, typ+":"+p.Name)
		}
	}
	// _revinclude=Source:param names, for each resource found, those of
	// Source whose param refers to it: a reference parameter that may
	// refer to typ (R4 capabilitystatement.html, searchRevInclude)
	var revs []string
	for _, src := range search.Types() {
		if auditLogType(src) {
			continue
		}
		for _, p := range search.Params(src) {
			if p.Kind == search.Reference && (p.Target == "" || p.Target == typ) {
				revs = append(revs, src+":"+p.Name)
			}
		}
	}
	for _, l := range []struct {
		name string
		vals []string
	}{{"searchInclude", incs}, {"searchRevInclude", revs}} {
		if len(l.vals) == 0 {
			continue
		}
		fmt.Fprintf(b, `,%q:[`, l.name)
		for i, s := range l.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(q(s))
		}
		b.WriteString(`]`)
	}
	writeSearchParams(b, q, append([]search.Param{{Name: "_id", Kind: search.Token}}, params...))
}

// writeSearchParams ends a resource's capability with params as its
// searchParam.
func writeSearchParams(b *bytes.Buffer, q func(string) string, params []search.Param) {
	b.WriteString(`,"searchParam":[`)
	for i, p := range params {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, `{"name":%s,"type":%s}`, q(p.Name), q(p.Kind.String()))
	}
	b.WriteString(`]}`)
}
