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

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		TREG15:                       TREG15,
		"urn:oid:1.2.250.1.71.1.2.7": TREG15,
		"urn:oid:1.2.250.1.213.2.28": TRER38,
		"urn:oid:1.2.250.1.213.2.5":  CCAM,
		"urn:oid:1.2.3.4.5":          "urn:oid:1.2.3.4.5",
		TREG15 + "/":                 TREG15,
		TREG15 + "/TRE_G15-ProfessionSante-FHIR.json":                                              TREG15,
		"http://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale": TRER38,
		LOINC:       LOINC,
		"":          "",
		"urn:other": "urn:other",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCanonicalDoesNotAllocate: the consent engine canonicalises the
// system of every role it meets at every decision; one already canonical
// is returned as it is.
func TestCanonicalDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Canonical(TREG15) }); n != 0 {
		t.Errorf("Canonical of a canonical URL: %.0f allocations", n)
	}
}
