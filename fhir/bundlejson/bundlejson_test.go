package bundlejson

import (
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
)

// TestMarshalIsValidFHIR parses the spliced Bundle with jsonformat, which
// validates it as an R4 Bundle.
func TestMarshalIsValidFHIR(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := &Bundle{
		Type: "searchset", ID: "b1", Timestamp: at, Total: 2, HasTotal: true,
		Links: []Link{{"self", "http://x/fhir/Patient?name=a\"b"}, {"next", "http://x/fhir/Patient?_page=1"}},
		Entries: []Entry{
			{FullURL: "http://x/fhir/Patient/1", Resource: []byte(`{"resourceType":"Patient","id":"1"}`), Search: "match"},
			{FullURL: "http://x/fhir/Organization/2", Resource: []byte(`{"resourceType":"Organization","id":"2"}`), Search: "include"},
		},
	}
	c := codec.MustNew()
	if _, err := c.Decode(b.Marshal()); err != nil {
		t.Fatalf("searchset: %v\n%s", err, b.Marshal())
	}
	h := &Bundle{Type: "transaction-response", Entries: []Entry{
		{Response: &Response{Status: "201 Created", Location: "Patient/1/_history/1", ETag: `W/"1"`, LastModified: at}},
		{Response: &Response{Status: "400 Bad Request", Outcome: []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}`)}},
		{Request: &Request{Method: "DELETE", URL: "Patient/3"}, Response: &Response{Status: "204 No Content"}},
	}}
	if _, err := c.Decode(h.Marshal()); err != nil {
		t.Fatalf("transaction-response: %v\n%s", err, h.Marshal())
	}
}

func BenchmarkMarshal20(b *testing.B) {
	res := []byte(`{"resourceType":"Observation","id":"1","status":"final","code":{"text":"x"}}`)
	bun := &Bundle{Type: "searchset", Total: 20, HasTotal: true}
	for i := 0; i < 20; i++ {
		bun.Entries = append(bun.Entries, Entry{FullURL: "http://x/fhir/Observation/1", Resource: res, Search: "match"})
	}
	for b.Loop() {
		bun.Marshal()
	}
}
