package search

import (
	"sort"

	"github.com/relais-health/relais/fhir/resource"
)

// Kind is a search parameter type (https://hl7.org/fhir/R4/search.html#ptypes).
type Kind byte

// The supported parameter kinds; the byte is also the index key tag.
const (
	Token     Kind = 't'
	String    Kind = 's'
	Reference Kind = 'r'
	Date      Kind = 'd'
)

func (k Kind) String() string {
	switch k {
	case Token:
		return "token"
	case String:
		return "string"
	case Reference:
		return "reference"
	case Date:
		return "date"
	}
	return "unknown"
}

// Param defines one search parameter of one resource type.
type Param struct {
	Name  string
	Kind  Kind
	Paths []string // proto field paths from the resource, e.g. "subject", "name.family"
	// Target restricts a reference parameter to references to this type
	// ("patient" on Observation only matches Patient references).
	Target string
	// systems maps each code of a token parameter on a code element to
	// the code system its binding implies (codeSystems); nil otherwise.
	systems map[string]string
}

// Common parameters every type has. _id is answered from the primary key;
// _lastUpdated, _tag, _security and _profile are indexed from meta.
var common = []Param{
	{Name: "_lastUpdated", Kind: Date, Paths: []string{"meta.last_updated"}},
	{Name: "_tag", Kind: Token, Paths: []string{"meta.tag"}},
	{Name: "_security", Kind: Token, Paths: []string{"meta.security"}},
	{Name: "_profile", Kind: Token, Paths: []string{"meta.profile"}},
}

func tok(name string, paths ...string) Param  { return Param{Name: name, Kind: Token, Paths: paths} }
func str(name string, paths ...string) Param  { return Param{Name: name, Kind: String, Paths: paths} }
func date(name string, paths ...string) Param { return Param{Name: name, Kind: Date, Paths: paths} }
func ref(name string, paths ...string) Param  { return Param{Name: name, Kind: Reference, Paths: paths} }
func refTo(name, target string, paths ...string) Param {
	return Param{Name: name, Kind: Reference, Paths: paths, Target: target}
}

// Parameter groups shared by several types.
func person(prefix string) []Param {
	return []Param{
		tok("identifier", "identifier"),
		str("name", prefix+"name"),
		str("family", prefix+"name.family"),
		str("given", prefix+"name.given"),
		str("address", "address"),
		str("address-city", "address.city"),
		str("address-postalcode", "address.postal_code"),
		tok("telecom", "telecom"),
		tok("active", "active"),
	}
}

func subjectOf(path string) []Param {
	return []Param{
		refTo("patient", "Patient", path),
		ref("subject", path),
	}
}

func join(groups ...[]Param) []Param {
	var out []Param
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// byType lists the parameters each searchable type supports, following the
// R4 search parameter registry (https://hl7.org/fhir/R4/searchparameter-registry.html)
// with google/fhir's proto field names as paths.
var byType = map[string][]Param{
	"Patient": join(person(""), []Param{
		date("birthdate", "birth_date"),
		tok("gender", "gender"),
		ref("general-practitioner", "general_practitioner"),
		ref("organization", "managing_organization"),
		// Patient.link.other, every link type: the patients a merge
		// linked (replaces, replaced-by), whose Consents apply together.
		ref("link", "link.other"),
	}),
	"Practitioner":  person(""),
	"RelatedPerson": join(person(""), subjectOf("patient")[:1]),
	"PractitionerRole": {
		tok("identifier", "identifier"), tok("active", "active"),
		ref("practitioner", "practitioner"), ref("organization", "organization"),
		tok("role", "code"), tok("specialty", "specialty"),
		ref("location", "location"), ref("service", "healthcare_service"), ref("endpoint", "endpoint"),
		tok("telecom", "telecom"),
	},
	"Organization": {
		tok("identifier", "identifier"), tok("active", "active"),
		str("name", "name", "alias"), tok("type", "type"),
		str("address", "address"), str("address-city", "address.city"), str("address-postalcode", "address.postal_code"),
		ref("partof", "part_of"), ref("endpoint", "endpoint"),
	},
	"HealthcareService": {
		tok("identifier", "identifier"), tok("active", "active"), str("name", "name"),
		ref("organization", "provided_by"), tok("type", "type"), tok("specialty", "specialty"),
		tok("service-category", "category"), tok("category", "category"),
		ref("location", "location"), ref("coverage-area", "coverage_area"), ref("endpoint", "endpoint"),
		tok("characteristic", "characteristic"), tok("program", "program"),
	},
	"Location": {
		tok("identifier", "identifier"), str("name", "name", "alias"), tok("type", "type"), tok("status", "status"),
		str("address", "address"), str("address-city", "address.city"), str("address-postalcode", "address.postal_code"),
		ref("organization", "managing_organization"), ref("partof", "part_of"), ref("endpoint", "endpoint"),
	},
	"Endpoint": {
		tok("identifier", "identifier"), str("name", "name"), tok("status", "status"),
		ref("organization", "managing_organization"), tok("connection-type", "connection_type"),
		tok("payload-type", "payload_type"),
	},
	"CareTeam": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("status", "status"), tok("category", "category"),
		ref("encounter", "encounter"), date("date", "period"),
		ref("participant", "participant.member"), ref("member", "participant.member"),
		ref("organization", "managing_organization"),
	}),
	"Encounter": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("status", "status"), tok("class", "class_value"),
		tok("type", "type"), date("date", "period"),
		ref("participant", "participant.individual"), refTo("practitioner", "Practitioner", "participant.individual"),
		ref("location", "location.location"), ref("service-provider", "service_provider"),
		ref("episode-of-care", "episode_of_care"), tok("reason-code", "reason_code"),
		ref("based-on", "based_on"), ref("part-of", "part_of"),
	}),
	"Condition": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("code", "code"), tok("category", "category"),
		tok("clinical-status", "clinical_status"), tok("verification-status", "verification_status"),
		ref("encounter", "encounter"), date("onset-date", "onset"), date("recorded-date", "recorded_date"),
		ref("asserter", "asserter"),
	}),
	"Observation": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("code", "code"), tok("category", "category"), tok("status", "status"),
		ref("encounter", "encounter"), date("date", "effective"), ref("performer", "performer"),
		ref("based-on", "based_on"), ref("focus", "focus"), ref("has-member", "has_member"),
		tok("value-concept", "value"), tok("component-code", "component.code"),
	}),
	"DiagnosticReport": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("code", "code"), tok("category", "category"), tok("status", "status"),
		ref("encounter", "encounter"), date("date", "effective"), date("issued", "issued"),
		ref("performer", "performer"), ref("results-interpreter", "results_interpreter"),
		ref("result", "result"), ref("based-on", "based_on"), ref("specimen", "specimen"),
		tok("conclusion", "conclusion_code"),
	}),
	"Procedure": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("code", "code"), tok("category", "category"), tok("status", "status"),
		ref("encounter", "encounter"), date("date", "performed"), ref("performer", "performer.actor"),
		ref("based-on", "based_on"), ref("part-of", "part_of"),
	}),
	"MedicationRequest": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("code", "medication"), ref("medication", "medication"),
		tok("status", "status"), tok("intent", "intent"), tok("category", "category"),
		ref("encounter", "encounter"), date("authoredon", "authored_on"), ref("requester", "requester"),
		ref("intended-performer", "performer"),
	}),
	"MedicationStatement": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("code", "medication"), ref("medication", "medication"),
		tok("status", "status"), tok("category", "category"), ref("context", "context"),
		date("effective", "effective"), ref("source", "information_source"), ref("part-of", "part_of"),
	}),
	"AllergyIntolerance": {
		tok("identifier", "identifier"), refTo("patient", "Patient", "patient"), tok("code", "code"),
		tok("clinical-status", "clinical_status"), tok("verification-status", "verification_status"),
		tok("type", "type"), tok("category", "category"), tok("criticality", "criticality"),
		date("date", "recorded_date"), ref("recorder", "recorder"), ref("asserter", "asserter"),
		ref("encounter", "encounter"),
	},
	"CarePlan": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("status", "status"), tok("intent", "intent"), tok("category", "category"),
		ref("encounter", "encounter"), date("date", "period"), ref("care-team", "care_team"),
		ref("based-on", "based_on"), ref("part-of", "part_of"), ref("replaces", "replaces"),
		ref("activity-reference", "activity.reference"), ref("performer", "activity.detail.performer"),
		tok("activity-code", "activity.detail.code"), ref("goal", "goal"), ref("condition", "addresses"),
		ref("author", "author"),
	}),
	"ServiceRequest": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("code", "code"), tok("category", "category"), tok("status", "status"),
		tok("intent", "intent"), tok("priority", "priority"), ref("encounter", "encounter"),
		date("authored", "authored_on"), date("occurrence", "occurrence"), ref("requester", "requester"),
		ref("performer", "performer"), tok("performer-type", "performer_type"), ref("based-on", "based_on"),
		ref("replaces", "replaces"),
	}),
	"Task": {
		tok("identifier", "identifier"), tok("status", "status"), tok("intent", "intent"), tok("priority", "priority"),
		tok("code", "code"), tok("business-status", "business_status"), tok("performer", "performer_type"),
		refTo("patient", "Patient", "for_value"), ref("subject", "for_value"), ref("focus", "focus"),
		ref("owner", "owner"), ref("requester", "requester"), ref("based-on", "based_on"), ref("part-of", "part_of"),
		ref("encounter", "encounter"), date("authored-on", "authored_on"), date("modified", "last_modified"),
		date("period", "execution_period"),
	},
	"Communication": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("category", "category"), tok("status", "status"),
		date("sent", "sent"), date("received", "received"), ref("sender", "sender"),
		ref("recipient", "recipient"), ref("encounter", "encounter"), ref("based-on", "based_on"),
		ref("part-of", "part_of"),
	}),
	"Consent": {
		tok("identifier", "identifier"), refTo("patient", "Patient", "patient"), tok("status", "status"),
		tok("category", "category"), tok("scope", "scope"), date("date", "date_time"),
		tok("action", "provision.action"), ref("actor", "provision.actor.reference"),
		tok("purpose", "provision.purpose"), tok("security-label", "provision.security_label"),
		ref("data", "provision.data.reference"), date("period", "provision.period"),
		ref("organization", "organization"), ref("consentor", "performer"), ref("source-reference", "source"),
	},
	"QuestionnaireResponse": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("status", "status"), date("authored", "authored"),
		ref("author", "author"), ref("encounter", "encounter"), tok("questionnaire", "questionnaire"),
		ref("based-on", "based_on"), ref("part-of", "part_of"), ref("source", "source"),
	}),
	"DocumentReference": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier", "master_identifier"), tok("type", "type"), tok("category", "category"),
		tok("status", "status"), date("date", "date"), ref("author", "author"), ref("custodian", "custodian"),
		ref("encounter", "context.encounter"), date("period", "context.period"), ref("related", "context.related"),
		tok("contenttype", "content.attachment.content_type"), tok("facility", "context.facility_type"),
		tok("setting", "context.practice_setting"),
	}),
	"Composition": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("type", "type"), tok("category", "category"), tok("status", "status"),
		date("date", "date"), ref("author", "author"), ref("attester", "attester.party"),
		ref("encounter", "encounter"), ref("entry", "section.entry"), tok("section", "section.code"),
		str("title", "title"), date("period", "event.period"),
	}),
	"Provenance": {
		ref("target", "target"), refTo("patient", "Patient", "target"), ref("agent", "agent.who"),
		ref("entity", "entity.what"), date("recorded", "recorded"), ref("location", "location"),
		tok("agent-type", "agent.type"), tok("agent-role", "agent.role"),
	},
	"AuditEvent": {
		date("date", "recorded"), ref("agent", "agent.who"), ref("entity", "entity.what"),
		refTo("patient", "Patient", "entity.what"), tok("type", "type"), tok("subtype", "subtype"),
		tok("action", "action"), tok("outcome", "outcome"), ref("source", "source.observer"),
		tok("site", "source.site"), tok("policy", "agent.policy"),
	},
	"Subscription": {
		tok("status", "status"), str("criteria", "criteria"), tok("type", "channel.type"),
		tok("url", "channel.endpoint"), tok("payload", "channel.payload"),
	},
	"Device": {tok("identifier", "identifier"), str("device-name", "device_name.name"), tok("status", "status")},
	// R4 defines no search parameter for Binary; patient is Relais' own,
	// the Patient its securityContext names (R4 Binary.securityContext:
	// access to the Binary is decided as to that resource), so that
	// consent knows whose a source document is.
	"Binary": {refTo("patient", "Patient", "security_context")},
	"Goal": join(subjectOf("subject"), []Param{
		tok("identifier", "identifier"), tok("lifecycle-status", "lifecycle_status"),
		tok("category", "category"), date("start-date", "start"),
	}),
	"Immunization": {
		tok("identifier", "identifier"), refTo("patient", "Patient", "patient"), tok("vaccine-code", "vaccine_code"),
		tok("status", "status"), date("date", "occurrence"), ref("performer", "performer.actor"),
	},
	"OperationOutcome": {},
}

// registry is byType with common parameters added and indexed by name.
var registry = func() map[string]map[string]Param {
	out := make(map[string]map[string]Param, len(resource.Types()))
	for _, typ := range resource.Types() {
		params := byType[typ]
		m := make(map[string]Param, len(params)+len(common))
		for _, p := range common {
			m[p.Name] = p
		}
		for _, p := range params {
			p.systems = codeSystems(typ, p)
			m[p.Name] = p
		}
		out[typ] = m
	}
	return out
}()

// Lookup returns the definition of parameter name on resource type typ.
func Lookup(typ, name string) (Param, bool) {
	p, ok := registry[typ][name]
	return p, ok
}

// Params returns the parameters of typ sorted by name (nil if typ has no
// search support beyond _id).
func Params(typ string) []Param {
	m := registry[typ]
	out := make([]Param, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Types returns the types with indexed search parameters, sorted.
func Types() []string {
	out := make([]string, 0, len(byType))
	for typ := range byType {
		out = append(out, typ)
	}
	sort.Strings(out)
	return out
}

// Searchable reports whether typ has indexed search parameters. Other types
// can still be searched by _id and _lastUpdated.
func Searchable(typ string) bool { _, ok := byType[typ]; return ok }
