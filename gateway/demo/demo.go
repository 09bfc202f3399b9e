// Package demo loads a small directory and one patient, so that a newcomer's
// `make run` has something to query: a GP, a home nurse, a physiotherapist,
// a midwife and a home-help service around Jeanne Dupont (a test INS), all
// fictitious. Loading is idempotent: the resources have fixed ids.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

//go:embed directory.json
var directory []byte

// Ids of demo resources worth naming in examples.
const (
	PatientID = "demo-patient"
	GPRole    = "PractitionerRole/demo-gp-role"
	NurseRole = "PractitionerRole/demo-nurse-role"
)

// Load stores the demo resources that are missing; it leaves alone those
// already there, so edits made while exploring survive a restart.
func Load(ctx context.Context, st *store.Store) error {
	c, err := codec.New()
	if err != nil {
		return err
	}
	m, err := c.Decode(directory)
	if err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	var entries []store.TxEntry
	for _, e := range m.(*bcrpb.Bundle).Entry {
		res := resource.Unwrap(e.Resource)
		typ, id := resource.Type(res), resource.ID(res)
		if _, err := st.Read(typ, id); err == nil {
			continue
		}
		entries = append(entries, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: res})
	}
	if len(entries) == 0 {
		return nil
	}
	_, err = st.Transaction(ctx, entries)
	return err
}

// Banner is what `relais serve --demo` prints: a token and curl commands
// that work against base.
func Banner(base, token string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nRelais is serving %s/fhir with the demo data.\n\n", base)
	fmt.Fprintf(&b, "A development token (system/*.cruds, 1 hour):\n\n  export TOKEN=%s\n\n", token)
	fmt.Fprintf(&b, "Try:\n\n")
	fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" '%s/fhir/Patient/%s'\n\n", base, PatientID)
	fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" '%s/fhir/PractitionerRole?_include=PractitionerRole:practitioner'\n\n", base)
	fmt.Fprintf(&b, "More tokens: relais token --scope \"user/*.rs\" --fhir-user %s\n\n", NurseRole)
	return b.String()
}
