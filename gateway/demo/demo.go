// Package demo loads a small directory and one patient, so that a newcomer's
// `make run` has something to query: Jeanne Dupont (a test INS) with her
// GP, home nurse and physiotherapist; two or more nurses,
// physiotherapists, pharmacists, cardiologists, midwives and home-help
// services around Lille and some in Lyon (out of her territory); the
// hospital's consent officer and a discharge coordinator; and her daughter
// who holds her healthcare power of attorney, all fictitious. Loading is
// idempotent: the resources have fixed ids. discharge-a03.hl7 is the
// discharge the README's walkthrough sends.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
)

//go:embed directory.json
var directory []byte

// Ids of demo resources worth naming in examples.
const (
	PatientID = "demo-patient"
	GPRole    = "PractitionerRole/demo-gp-role"
	NurseRole = "PractitionerRole/demo-nurse-role"
)

// Identity is a demo caller: the fhirUser and scopes of its token.
type Identity struct {
	Name, FHIRUser, Scope, About string
}

// Identities are the demo callers `relais token --as NAME` mints tokens
// for, in the order the banner lists them.
var Identities = []Identity{
	{"gp", GPRole, "user/*.cruds", "the patient's GP (in her care team)"},
	{"nurse", NurseRole, "user/*.cruds", "the home nurse (in her care team)"},
	{"physio", "PractitionerRole/demo-physio-role", "user/*.cruds", "the physiotherapist (in her care team)"},
	{"midwife", "PractitionerRole/demo-midwife-role", "user/*.cruds", "a midwife outside her care team"},
	{"home-help", "PractitionerRole/demo-home-help-role", "user/*.cruds", "the home-help service (needs her permit)"},
	{"consent-officer", "PractitionerRole/demo-consent-officer-role", "user/*.cruds", "the hospital's consent officer"},
	{"coordinator", "PractitionerRole/demo-coordinator-role", "user/*.cruds", "a discharge coordinator"},
	{"patient", "Patient/" + PatientID, "patient/*.rs patient/Consent.cud", "the patient herself"},
	{"daughter", "RelatedPerson/demo-daughter", "patient/*.rs patient/Consent.cud", "her daughter, her healthcare power of attorney"},
	{"system", "", "system/*.cruds", "the hospital's integration (no consent filter)"},
}

// IdentityNamed returns the demo identity called name.
func IdentityNamed(name string) (Identity, bool) {
	for _, id := range Identities {
		if id.Name == name {
			return id, true
		}
	}
	return Identity{}, false
}

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
	// Through the identity resolver, as every source's people: her
	// qualified INS, the RPPS and FINESS numbers are then claimed, so
	// that an admission or an assessment about her finds her.
	var res *identity.Result
	err = st.View(func(r *store.Snapshot) error {
		var err error
		res, err = identity.New(c, time.Now).Resolve(r, entries, identity.API)
		return err
	})
	if err != nil {
		return err
	}
	_, err = st.Transaction(ctx, res.Entries)
	return err
}

// Banner is what `relais serve --demo` prints: a token and curl commands
// that work against base. prog is how the user runs relais (bin/relais).
func Banner(base, token, prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nRelais is serving %s/fhir with the demo data.\n\n", base)
	fmt.Fprintf(&b, "The console: %s/console/ (sign in as one of the people below).\n\n", base)
	fmt.Fprintf(&b, "A development token (system/*.cruds, 1 hour):\n\n  export TOKEN=%s\n\n", token)
	fmt.Fprintf(&b, "Try:\n\n")
	fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" '%s/fhir/Patient/%s'\n\n", base, PatientID)
	fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" '%s/fhir/PractitionerRole?_include=PractitionerRole:practitioner'\n\n", base)
	fmt.Fprintf(&b, "Tokens for the demo's people (%s token --as NAME):\n\n", prog)
	for _, id := range Identities {
		fmt.Fprintf(&b, "  %-16s %s\n", id.Name, id.About)
	}
	fmt.Fprintf(&b, "\n  export GP=$(%s token --as gp)\n", prog)
	fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $GP\" '%s/fhir/Condition?patient=%s'\n\n", base, PatientID)
	return b.String()
}
