package identity

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// failOnce fails the first transaction it follows that writes an
// Organization: what the followers before it did is rolled back with it.
type failOnce struct{ failed atomic.Bool }

func (f *failOnce) Follow(_ context.Context, fl *store.Following) error {
	for _, w := range fl.Written() {
		if w.Type == "Organization" && f.failed.CompareAndSwap(false, true) {
			return errors.New("refused once")
		}
	}
	return nil
}

// TestLinker: a directory resource naming its target by identifier
// (R4 references.html section 2.3.0.3) before the target is stored points
// at it once the target is written, whatever the order: by the
// identifier itself or a national identifier standing for it (IDNST 1 +
// FINESS), after a rolled-back write of the target, and, for a file a
// relais without a Linker wrote, at the first directory write after it.
func TestLinker(t *testing.T) {
	t.Parallel()
	c := codec.MustNew()
	path := filepath.Join(t.TempDir(), "relais.db")
	entry := func(js string) store.TxEntry {
		m, err := c.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		e := store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m}
		for _, id := range resource.Identifiers(m) { // as an import or the resolver claims them
			for _, n := range NationalIDs(e.Type, id.GetSystem().GetValue(), id.GetValue().GetValue()) {
				e.Claims = append(e.Claims, store.Claim{Type: e.Type, System: n[0], Value: n[1]})
			}
		}
		return e
	}
	write := func(st *store.Store, js ...string) error {
		var es []store.TxEntry
		for _, j := range js {
			es = append(es, entry(j))
		}
		_, err := st.Transaction(context.Background(), es)
		return err
	}
	linked := func(st *store.Store, typ, id, want string) bool {
		t.Helper()
		rec, err := st.Read(typ, id)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(rec.JSON), `"reference":"`+want+`"`)
	}
	const ror = "https://ror.example.org/id"

	// Written by a relais without a Linker: the Organization came after
	// the role, which waits.
	st, err := store.Open(path, store.Options{Codec: c, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := write(st, `{"resourceType":"PractitionerRole","id":"old","organization":{"identifier":{"system":"`+FINESS+`","value":"590000017"}}}`); err != nil {
		t.Fatal(err)
	}
	if err := write(st, `{"resourceType":"Organization","id":"org-old","identifier":[{"system":"`+FINESS+`","value":"590000017"}]}`); err != nil {
		t.Fatal(err)
	}
	if linked(st, "PractitionerRole", "old", "Organization/org-old") {
		t.Fatal("linked without a Linker")
	}
	st.Close()

	st, err = store.Open(path, store.Options{Codec: c, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fail := &failOnce{}
	st.Follow(NewLinker(c))
	st.Follow(fail)

	if err := write(st,
		`{"resourceType":"PractitionerRole","id":"role","organization":{"type":"Organization","identifier":{"system":"`+IDNST+`","value":"1690000025"}},`+
			`"location":[{"identifier":{"system":"`+ror+`","value":"L9"}}]}`,
		`{"resourceType":"HealthcareService","id":"svc","providedBy":{"identifier":{"system":"`+FINESS+`","value":"690000025"}}}`); err != nil {
		t.Fatal(err)
	}
	if !linked(st, "PractitionerRole", "old", "Organization/org-old") {
		t.Error("a role waiting in a file written before the Linker is not linked at the first directory write")
	}
	org := `{"resourceType":"Organization","id":"org","identifier":[{"system":"` + FINESS + `","value":"690000025"}]}`
	if err := write(st, org); err == nil {
		t.Fatal("the failing follower did not fail the write")
	}
	if linked(st, "PractitionerRole", "role", "Organization/org") {
		t.Fatal("linked by a rolled-back write")
	}
	if err := write(st, org); err != nil {
		t.Fatal(err)
	}
	if !linked(st, "PractitionerRole", "role", "Organization/org") || !linked(st, "HealthcareService", "svc", "Organization/org") {
		t.Error("the role and the service waiting for the Organization (by IDNST and by FINESS) are not linked once it is written")
	}
	if linked(st, "PractitionerRole", "role", "Location/") {
		t.Error("the location nobody holds is linked")
	}
	if err := write(st, `{"resourceType":"Location","id":"loc","identifier":[{"system":"`+ror+`","value":"L9"}]}`); err != nil {
		t.Fatal(err)
	}
	if !linked(st, "PractitionerRole", "role", "Location/loc") || !linked(st, "PractitionerRole", "role", "Organization/org") {
		t.Error("the role's other reference is not linked when its Location is written")
	}
	rec, _ := st.Read("PractitionerRole", "role")
	if err := write(st, `{"resourceType":"Location","id":"loc","name":"again","identifier":[{"system":"`+ror+`","value":"L9"}]}`); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.Read("PractitionerRole", "role"); again.Version != rec.Version {
		t.Errorf("a role already linked is written again: version %d, was %d", again.Version, rec.Version)
	}
}
