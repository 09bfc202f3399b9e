package identity

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// TestResolveLogical: each logical reference of a directory resource is
// resolved to the one resource its identifier names, written in the same
// write or stored; one that names none or several stays logical.
func TestResolveLogical(t *testing.T) {
	t.Parallel()
	c := codec.MustNew()
	st, err := store.Open(filepath.Join(t.TempDir(), "relais.db"), store.Options{Codec: c, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entry := func(js string) store.TxEntry {
		m, err := c.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m}
	}
	const ror = "https://ror.example.org/id"
	if _, err := st.Transaction(context.Background(), []store.TxEntry{
		entry(`{"resourceType":"HealthcareService","id":"svc","identifier":[{"system":"` + ror + `","value":"HS1"}]}`),
		entry(`{"resourceType":"Location","id":"loc-a","identifier":[{"system":"` + ror + `","value":"L1"}]}`),
		entry(`{"resourceType":"Location","id":"loc-b","identifier":[{"system":"` + ror + `","value":"L1"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	entries := []store.TxEntry{
		entry(`{"resourceType":"PractitionerRole","id":"role",` +
			`"organization":{"type":"Organization","identifier":{"system":"` + IDNST + `","value":"1590000017"}},` +
			`"healthcareService":[{"identifier":{"system":"` + ror + `","value":"HS1"}}],` +
			`"location":[{"identifier":{"system":"` + ror + `","value":"L1"}}],` +
			`"endpoint":[{"identifier":{"system":"` + ror + `","value":"nowhere"}}]}`),
		entry(`{"resourceType":"Organization","id":"org","identifier":[{"system":"` + FINESS + `","value":"590000017"}]}`),
	}
	var changed []bool
	if err := st.View(func(r *store.Snapshot) error {
		changed = ResolveLogical(r, entries)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !changed[0] || changed[1] {
		t.Fatalf("changed %v, want the role only", changed)
	}
	js, err := c.Encode(entries[0].Resource)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"endpoint":[{"identifier":{"system":"` + ror + `","value":"nowhere"}}],"healthcareService":[{"identifier":{"system":"` + ror + `","value":"HS1"},"reference":"HealthcareService/svc"}],` +
		`"id":"role","location":[{"identifier":{"system":"` + ror + `","value":"L1"}}],` +
		`"organization":{"identifier":{"system":"` + IDNST + `","value":"1590000017"},"reference":"Organization/org","type":"Organization"},"resourceType":"PractitionerRole"}`
	if string(js) != want {
		t.Errorf("resolved:\n%s\nwant\n%s", js, want)
	}
}
