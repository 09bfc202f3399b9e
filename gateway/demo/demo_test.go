package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/store"
)

func TestLoadIsIdempotent(t *testing.T) {
	t.Parallel()
	st, err := store.Open(filepath.Join(t.TempDir(), "demo.db"), store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	first := st.Stats().Writes
	if err := Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st.Stats().Writes != first {
		t.Errorf("second Load wrote again")
	}
	p, err := st.Read("Patient", PatientID)
	if err != nil || !strings.Contains(string(p.JSON), GPRole) {
		t.Fatalf("demo patient = %v, %v", p, err)
	}
	for _, ref := range []string{GPRole, NurseRole, "HealthcareService/demo-home-help", "PractitionerRole/demo-midwife-role", "PractitionerRole/demo-physio-role"} {
		typ, id, _ := strings.Cut(ref, "/")
		if _, err := st.Read(typ, id); err != nil {
			t.Errorf("%s missing: %v", ref, err)
		}
	}
}

func TestDirectoryValidates(t *testing.T) {
	if os.Getenv("RELAIS_VALIDATE") == "" {
		t.Skip("set RELAIS_VALIDATE=1 to run the npm FHIR validator")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "directory.json"), directory, 0o644); err != nil {
		t.Fatal(err)
	}
	fhirtest.RunValidator(t, dir)
}
