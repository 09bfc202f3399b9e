package api

import (
	"crypto/aes"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/store"
)

// FuzzParseAuditSearch: any query string is a search or an error, never
// a panic; what the self link repeats was sent; a search never asks for
// more than search.MaxCount entries a page.
func FuzzParseAuditSearch(f *testing.F) {
	for _, s := range []string{
		"patient=demo-patient", "agent=PractitionerRole/a1,Practitioner/b2&agent=x", "agent:identifier=urn:relais:client|lab",
		"entity=Consent/x/_history/2", "outcome=8&outcome=4", "date=2026-12-07T14:32:47Z", "date=eb2026-12-01",
		"_summary=count", "_count=0", "_total=accurate", "_id=a,b", "policy=x&_sort=_id", "patient=%ZZ", "_before=abc",
		"subtype=http://hl7.org/fhir/restful-interaction|create", "type=|rest", "action=C,R",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, strict bool) {
		s, err := parseAuditSearch(raw, auditSearchParams, strict)
		if err != nil {
			return
		}
		if s.count > 1000 {
			t.Errorf("_count %d", s.count)
		}
		for _, a := range s.applied {
			if !strings.Contains(raw, a) {
				t.Errorf("applied %q was not sent", a)
			}
		}
		s.match([]byte(`{"id":"x","type":{"system":"s","code":"c"},"action":"R"}`))
	})
}

// FuzzOpenAuditCursor: a cursor opens only for the search it was sealed
// for; anything else, altered or made up, does not.
func FuzzOpenAuditCursor(f *testing.F) {
	c, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		f.Fatal(err)
	}
	pos := store.AuditPos{Time: 1765118000000000, Index: 42}
	sealed := sealAuditCursor(c, pos, "owner\x00/fhir/AuditEvent\x00patient=a")
	if got, ok := openAuditCursor(c, sealed, "owner\x00/fhir/AuditEvent\x00patient=a"); !ok || got != pos {
		f.Fatalf("sealed cursor opens as %v %v", got, ok)
	}
	f.Add(sealed, "owner\x00/fhir/AuditEvent\x00patient=b")
	f.Add(sealed[1:], "owner\x00/fhir/AuditEvent\x00patient=a")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, s, bound string) {
		if _, ok := openAuditCursor(c, s, bound); ok && (s != sealed || bound != "owner\x00/fhir/AuditEvent\x00patient=a") {
			t.Errorf("opened %q for %q", s, bound)
		}
	})
}
