package search

import (
	"net/url"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
)

// TestMatch: Query.Match agrees with what the index would select, on the
// Patient example's values.
func TestMatch(t *testing.T) {
	t.Parallel()
	pat := decode(t, "r4-Patient-example.json")
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"", true},
		{"gender=male", true},
		{"gender=female", false},
		// gender is a code: its binding implies its system
		// (https://hl7.org/fhir/R4/search.html#token).
		{"gender=|male", false},
		{"gender=http://hl7.org/fhir/administrative-gender|male", true},
		{"gender=http://hl7.org/fhir/administrative-gender|", true},
		{"gender=http://example.org/gender|male", false},
		{"identifier=urn:oid:1.2.36.146.595.217.0.1|", true},
		{"identifier=urn:oid:1.2.36.146.595.217.0.1|12345", true},
		{"identifier=12345", true},
		{"family=chal", true},
		{"family:exact=chal", false},
		{"family:exact=Chalmers", true},
		{"family:contains=alme", true},
		{"organization=Organization/1", true},
		{"organization=1", true},
		{"organization=Organization/2", false},
		{"birthdate=1974-12-25", true},
		{"birthdate=gt1980", false},
		{"gender=female,male&family=chalmers", true},
		{"gender=male&family=smith", false},
	} {
		v, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse("Patient", v, true)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if got := q.Match(pat); got != c.want {
			t.Errorf("%q: Match %v, want %v", c.query, got, c.want)
		}
	}
}

// TestMatchExact: :exact compares the resource's strings as written, case
// and accents included, where the index only narrows it down.
func TestMatchExact(t *testing.T) {
	t.Parallel()
	m, err := codec.MustNew().Decode([]byte(`{"resourceType":"Patient","name":[{"family":"Dupónt","given":["Élodie"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"family:exact=Dupónt", true},
		{"family:exact=Dupo\u0301nt", true}, // the same accent as a combining mark
		{"family:exact=Dupont", false},
		{"family:exact=DUPÓNT", false},
		{"family:exact=dupónt", false},
		{"family:exact=Dupón", false},
		{"family:exact=Dupont,Dupónt", true},
		{"name:exact=Élodie", true},
		{"name:exact=Elodie", false},
		{"family=dup", true}, // no :exact: left to the index
	} {
		q, err := ParseQuery("Patient", c.query, true)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if got := q.MatchExact(m); got != c.want {
			t.Errorf("%q: MatchExact %v, want %v", c.query, got, c.want)
		}
		if q.Exact() != strings.Contains(c.query, ":exact") {
			t.Errorf("%q: Exact() = %v", c.query, q.Exact())
		}
	}
}
