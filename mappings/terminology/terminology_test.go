package terminology

import "testing"

func TestSystemForOID(t *testing.T) {
	for in, want := range map[string]string{
		"2.16.840.1.113883.6.1":          LOINC,
		"urn:oid:2.16.840.1.113883.6.96": SNOMED,
		" 1.2.250.1.213.1.4.8 ":          INSNIR,
		"1.2.3.4.5":                      "urn:oid:1.2.3.4.5",
	} {
		if got := SystemForOID(in); got != want {
			t.Errorf("SystemForOID(%q) = %q, want %q", in, got, want)
		}
	}
}
