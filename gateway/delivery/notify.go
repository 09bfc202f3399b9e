package delivery

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/parameters_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// Notification types (backport IG, "Notification types": the
// SubscriptionStatus type parameter).
const (
	typeHandshake   = "handshake"
	typeHeartbeat   = "heartbeat"
	typeEvent       = "event-notification"
	typeQueryStatus = "query-status"
	typeQueryEvent  = "query-event"
)

// notified is one event as a notification carries it: with its focus
// (id-only, full-resource) unless withheld, and the resource itself for
// full-resource.
type notified struct {
	number   uint64
	time     time.Time
	typ, id  string
	version  uint64
	res      proto.Message // full-resource only
	withheld bool          // the consent decision denied it: number only
	method   string        // the interaction that made the version: POST, PUT, PATCH or DELETE
	created  bool          // the version created the resource (answered 201 Created)
}

// notification is what one status Parameters says, and the events after it.
type notification struct {
	kind   string
	sub    *subscription
	status cpb.SubscriptionStatusCode_Value
	since  uint64 // eventsSinceSubscriptionStart
	events []notified
	err    string // the Subscription's error, for status queries
	// counts, for status queries, are the events by state (countsParam).
	counts *store.OutboxCounts
}

// countsParam names the parameter of $status's status Parameters that
// counts the Subscription's events by state: a part of each name
// (pending, delivered, withheld by a consent decision, dead, cancelled
// because the Subscription was set off or deleted), valueString as the
// IG's event numbers are, pruned events included. The IG defines no such
// parameter; it is Relais's own, and only $status carries it.
const countsParam = "relais-event-counts"

// statusParameters is the SubscriptionStatus of n as an R4 Parameters
// (backport IG, profile backport-subscription-status-r4).
func statusParameters(n *notification) *ppb.Parameters {
	p := &ppb.Parameters{
		Id:   &dtpb.Id{Value: newUUID()},
		Meta: &dtpb.Meta{Profile: []*dtpb.Canonical{{Value: profileStatus}}},
	}
	add := func(name string, v *ppb.Parameters_Parameter_ValueX) {
		p.Parameter = append(p.Parameter, &ppb.Parameters_Parameter{Name: str(name), Value: v})
	}
	add("subscription", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Reference{
		Reference: resource.Ref("Subscription", n.sub.id)}})
	if n.sub.topic != "" {
		add("topic", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Canonical{
			Canonical: &dtpb.Canonical{Value: n.sub.topic}}})
	}
	add("status", codeValue(statusCode(n.status)))
	add("type", codeValue(n.kind))
	add("events-since-subscription-start", stringValue(strconv.FormatUint(n.since, 10)))
	for _, e := range n.events {
		ev := &ppb.Parameters_Parameter{Name: str("notification-event")}
		part := func(name string, v *ppb.Parameters_Parameter_ValueX) {
			ev.Part = append(ev.Part, &ppb.Parameters_Parameter{Name: str(name), Value: v})
		}
		part("event-number", stringValue(strconv.FormatUint(e.number, 10)))
		part("timestamp", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Instant{
			Instant: resource.Instant(e.time)}})
		if !e.withheld && n.sub.content != ContentEmpty {
			part("focus", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Reference{
				Reference: resource.Ref(e.typ, e.id)}})
		}
		p.Parameter = append(p.Parameter, ev)
	}
	if c := n.counts; c != nil {
		cp := &ppb.Parameters_Parameter{Name: str(countsParam)}
		for _, x := range []struct {
			name string
			v    uint64
		}{{"pending", c.Pending}, {"delivered", c.Delivered}, {"withheld", c.Withheld}, {"dead", c.Dead}, {"cancelled", c.Cancelled}} {
			cp.Part = append(cp.Part, &ppb.Parameters_Parameter{Name: str(x.name), Value: stringValue(strconv.FormatUint(x.v, 10))})
		}
		p.Parameter = append(p.Parameter, cp)
	}
	if n.err != "" {
		add("error", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_CodeableConcept{
			CodeableConcept: &dtpb.CodeableConcept{Text: str(n.err)}}})
	}
	return p
}

// bundle is n as the IG's notification Bundle: type history, the status
// Parameters first, then for id-only and full-resource content an entry
// per event not withheld (backport IG, "Notifications";
// https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html).
// base is the server's base URL, for fullUrls. An event's entry shows
// the interaction that made its version as a history Bundle does
// (https://hl7.org/fhir/R4/http.html#history; the IG asks for "a POST or
// PUT operation on the resource"), store.Record.HistoryRequest: a
// creation is POST [type] answered 201 Created (by PUT: PUT [type]/[id]
// answered 201 Created), an update PUT answered 200 OK (a patch PATCH
// answered 200 OK), a deletion DELETE answered 204 and without a resource
// whatever the content.
func bundle(n *notification, base string, now time.Time) *bcrpb.Bundle {
	b := &bcrpb.Bundle{
		Id:        &dtpb.Id{Value: newUUID()},
		Meta:      &dtpb.Meta{Profile: []*dtpb.Canonical{{Value: profileNotify}}},
		Type:      &bcrpb.Bundle_TypeCode{Value: cpb.BundleTypeCode_HISTORY},
		Timestamp: resource.Instant(now),
	}
	status := statusParameters(n)
	b.Entry = append(b.Entry, &bcrpb.Bundle_Entry{
		FullUrl:  &dtpb.Uri{Value: "urn:uuid:" + status.GetId().GetValue()},
		Resource: resource.MustWrap(status),
		Request: &bcrpb.Bundle_Entry_Request{
			Method: &bcrpb.Bundle_Entry_Request_MethodCode{Value: cpb.HTTPVerbCode_GET},
			Url:    &dtpb.Uri{Value: "Subscription/" + n.sub.id + "/$status"},
		},
		Response: &bcrpb.Bundle_Entry_Response{Status: str("200")},
	})
	if n.sub.content == ContentEmpty {
		return b
	}
	for _, e := range n.events {
		if e.withheld {
			continue
		}
		method, url, code := (&store.Record{Type: e.typ, ID: e.id, Method: e.method, Created: e.created}).HistoryRequest()
		entry := &bcrpb.Bundle_Entry{
			FullUrl: &dtpb.Uri{Value: base + "/fhir/" + e.typ + "/" + e.id},
			Request: &bcrpb.Bundle_Entry_Request{
				Method: &bcrpb.Bundle_Entry_Request_MethodCode{Value: httpVerb[method]},
				Url:    &dtpb.Uri{Value: url},
			},
			Response: &bcrpb.Bundle_Entry_Response{Status: str(code), Etag: str(`W/"` + strconv.FormatUint(e.version, 10) + `"`)},
		}
		if n.sub.content == ContentFull && e.res != nil {
			entry.Resource = resource.MustWrap(e.res)
		}
		b.Entry = append(b.Entry, entry)
	}
	return b
}

// httpVerb codes every method store.Record.HistoryRequest gives.
var httpVerb = map[string]cpb.HTTPVerbCode_Value{
	"POST": cpb.HTTPVerbCode_POST, "PUT": cpb.HTTPVerbCode_PUT, "PATCH": cpb.HTTPVerbCode_PATCH, "DELETE": cpb.HTTPVerbCode_DELETE,
}

// statusBundle is the answer of $status: a searchset with the status
// Parameters (backport IG, OperationDefinition backport-subscription-status).
func statusBundle(n *notification, now time.Time) *bcrpb.Bundle {
	p := statusParameters(n)
	return &bcrpb.Bundle{
		Id:        &dtpb.Id{Value: newUUID()},
		Type:      &bcrpb.Bundle_TypeCode{Value: cpb.BundleTypeCode_SEARCHSET},
		Timestamp: resource.Instant(now),
		Total:     &dtpb.UnsignedInt{Value: 1},
		Entry: []*bcrpb.Bundle_Entry{{
			FullUrl:  &dtpb.Uri{Value: "urn:uuid:" + p.GetId().GetValue()},
			Resource: resource.MustWrap(p),
			Search:   &bcrpb.Bundle_Entry_Search{Mode: &bcrpb.Bundle_Entry_Search_ModeCode{Value: cpb.SearchEntryModeCode_MATCH}},
		}},
	}
}

func statusCode(s cpb.SubscriptionStatusCode_Value) string {
	switch s {
	case cpb.SubscriptionStatusCode_REQUESTED:
		return "requested"
	case cpb.SubscriptionStatusCode_ACTIVE:
		return "active"
	case cpb.SubscriptionStatusCode_ERROR:
		return "error"
	}
	return "off"
}

func str(s string) *dtpb.String { return &dtpb.String{Value: s} }

func codeValue(c string) *ppb.Parameters_Parameter_ValueX {
	return &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Code{Code: &dtpb.Code{Value: c}}}
}

// stringValue: the IG carries event numbers as strings, R4 having no
// 64-bit integer.
func stringValue(s string) *ppb.Parameters_Parameter_ValueX {
	return &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_StringValue{StringValue: str(s)}}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
