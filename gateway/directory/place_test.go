package directory

import (
	"slices"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

func patient(t *testing.T, address string) *patpb.Patient {
	t.Helper()
	m, err := testCodec.Decode([]byte(`{"resourceType":"Patient","address":[` + address + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*patpb.Patient)
}

func TestPlaceOf(t *testing.T) {
	t.Parallel()
	c := communes(t)
	tests := []struct {
		name, address, how string
		want               []Territory
	}{
		{"insee code extension (FR Core)", `{"extension":[{"url":"https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code","valueCoding":{"system":"https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune","code":"58059"}}],"postalCode":"99999","city":"nowhere"}`,
			"INSEE code", []Territory{{LevelCommune, "58059"}, {LevelDepartement, "58"}, {LevelRegion, "27"}}},
		{"municipal arrondissement carries its commune", `{"use":"home","extension":[{"url":"https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code","valueCoding":{"code":"69381"}}]}`,
			"INSEE code", []Territory{{LevelCommune, "69381"}, {LevelCommune, "69123"}, {LevelDepartement, "69"}, {LevelRegion, "84"}}},
		{"postal code and city, abbreviated", `{"postalCode":"42000","city":"ST ETIENNE"}`,
			"postal code and city", []Territory{{LevelCommune, "42218"}, {LevelDepartement, "42"}, {LevelRegion, "84"}}},
		{"home address first", `{"use":"work","postalCode":"75001","city":"Paris"},{"use":"home","postalCode":"42000","city":"Saint-Étienne"}`,
			"postal code and city", []Territory{{LevelCommune, "42218"}, {LevelDepartement, "42"}, {LevelRegion, "84"}}},
		{"commune déléguée under its commune's postal code", `{"postalCode":"59160","city":"LOMME"}`,
			"postal code and city", []Territory{{LevelCommune, "59355"}, {LevelCommune, "59350"}, {LevelDepartement, "59"}, {LevelRegion, "32"}}},
		{"Paris arrondissement by its postal code", `{"postalCode":"75011","city":"PARIS"}`,
			"postal code and city", []Territory{{LevelCommune, "75111"}, {LevelCommune, "75056"}, {LevelDepartement, "75"}, {LevelRegion, "11"}}},
		{"Lyon arrondissement by its postal code", `{"postalCode":"69003","city":"Lyon"}`,
			"postal code and city", []Territory{{LevelCommune, "69383"}, {LevelCommune, "69123"}, {LevelDepartement, "69"}, {LevelRegion, "84"}}},
		{"Marseille arrondissement by its postal code", `{"postalCode":"13001","city":"Marseille"}`,
			"postal code and city", []Territory{{LevelCommune, "13201"}, {LevelCommune, "13055"}, {LevelDepartement, "13"}, {LevelRegion, "93"}}},
		{"CEDEX postal code: the commune of that name in its département", `{"postalCode":"59046","city":"LILLE CEDEX"}`,
			"city and CEDEX postal code", []Territory{{LevelCommune, "59350"}, {LevelDepartement, "59"}, {LevelRegion, "32"}}},
		{"CEDEX in Corsica", `{"postalCode":"20189","city":"Ajaccio Cedex 2"}`,
			"city and CEDEX postal code", []Territory{{LevelCommune, "2A004"}, {LevelDepartement, "2A"}, {LevelRegion, "94"}}},
		{"CEDEX overseas", `{"postalCode":"97159","city":"POINTE A PITRE CEDEX"}`,
			"city and CEDEX postal code", []Territory{{LevelCommune, "97120"}, {LevelDepartement, "971"}, {LevelRegion, "01"}}},
		{"CEDEX mention on a commune's postal code", `{"postalCode":"69003","city":"LYON CEDEX 03"}`,
			"postal code and city", []Territory{{LevelCommune, "69383"}, {LevelCommune, "69123"}, {LevelDepartement, "69"}, {LevelRegion, "84"}}},
		{"CEDEX code, a city of another département", `{"postalCode":"59046","city":"Lyon Cedex"}`, "", nil},
		{"belgian postal code", `{"postalCode":"7500","city":"Tournai","country":"BE"}`,
			"Belgian postal code", []Territory{{LevelCommune, "7500"}}},
		{"unknown postal code", `{"postalCode":"00000","city":"x"}`, "", nil},
		{"another country's postal code", `{"postalCode":"59000","city":"Lille","country":"DE"}`, "", nil},
		{"France named", `{"postalCode":"42000","city":"Saint-Etienne","country":"France"}`,
			"postal code and city", []Territory{{LevelCommune, "42218"}, {LevelDepartement, "42"}, {LevelRegion, "84"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := c.PlaceOf(patient(t, tt.address))
			if got.How != tt.how || !slices.Equal(got.Territories, tt.want) {
				t.Errorf("PlaceOf = %+v, want %s %v", got, tt.how, tt.want)
			}
		})
	}
}

// A postal code that serves several communes, with a city that names none
// of them, keeps them all: the département still decides.
func TestPlaceOfAmbiguousPostalCode(t *testing.T) {
	t.Parallel()
	c := communes(t)
	if n := len(c.ByPostalCode("01400")); n < 2 {
		t.Fatalf("01400 serves %d communes, want several", n)
	}
	got := c.PlaceOf(patient(t, `{"postalCode":"01400","city":"Lieu-dit inconnu"}`))
	if got.How != "postal code" || !slices.Contains(got.Territories, Territory{LevelDepartement, "01"}) {
		t.Errorf("PlaceOf = %+v", got)
	}
}

func TestCommuneTable(t *testing.T) {
	t.Parallel()
	c := communes(t)
	if n := len(c.All()); n < 34000 {
		t.Errorf("%d codes, want the whole COG", n)
	}
	m, ok := c.Lookup("2A004")
	if !ok || m.Departement != "2A" || m.Region != "94" || m.Name != "Ajaccio" {
		t.Errorf("Lookup(2A004) = %+v, %v", m, ok)
	}
}

// FuzzPlaceOf: whatever an address holds, PlaceOf does not fail, and
// places her only in communes of the table (or a Belgian postal code),
// their départements and régions.
func FuzzPlaceOf(f *testing.F) {
	for _, s := range [][3]string{
		{"75011", "PARIS", ""}, {"59046", "LILLE CEDEX", "FR"}, {"20189", "Ajaccio Cedex 2", ""},
		{"97159", "POINTE A PITRE CEDEX", ""}, {"59160", "LOMME", ""}, {"7500", "Tournai", "BE"},
		{"2", "cedex", ""}, {"97", " cedex 1 cedex", ""}, {"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	c := communes(f)
	f.Fuzz(func(t *testing.T, postalCode, city, country string) {
		a := &dtpb.Address{PostalCode: &dtpb.String{Value: postalCode}, City: &dtpb.String{Value: city}, Country: &dtpb.String{Value: country}}
		got := c.PlaceOf(&patpb.Patient{Address: []*dtpb.Address{a}})
		if (got.How == "") != (len(got.Territories) == 0) {
			t.Fatalf("PlaceOf = %+v", got)
		}
		for _, tr := range got.Territories {
			if _, ok := c.Lookup(tr.Code); tr.Level == LevelCommune && !ok && got.How != "Belgian postal code" {
				t.Fatalf("PlaceOf placed her in %v, not in the table", tr)
			}
		}
	})
}
