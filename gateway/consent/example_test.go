package consent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
)

// An engine over the store: the patient's GP reads a clinical resource
// (care team, permitted by law); a social worker needs an explicit permit.
func Example() {
	dir, _ := os.MkdirTemp("", "consent-example")
	defer os.RemoveAll(dir)
	c := codec.MustNew()
	st, err := store.Open(filepath.Join(dir, "relais.db"), store.Options{Codec: c, NoSync: true})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, js := range []string{
		`{"resourceType":"Practitioner","id":"gp"}`,
		`{"resourceType":"PractitionerRole","id":"gp-role","active":true,"practitioner":{"reference":"Practitioner/gp"},
		  "code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"10"}]}]}`,
		`{"resourceType":"PractitionerRole","id":"sw-role","active":true,
		  "code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial","code":"10"}]}]}`,
		`{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"Practitioner/gp"}]}`,
	} {
		m, err := c.Decode([]byte(js))
		if err != nil {
			panic(err)
		}
		if _, _, err := st.Update(ctx, m, 0); err != nil {
			panic(err)
		}
	}
	src := consent.NewStoreSource(st, c, time.Now)
	e, err := consent.New(consent.Config{Directory: src, CareTeams: src, Consents: src,
		HashKey: []byte("per-deployment secret"), Recorder: consent.NewLog(st), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	for _, actor := range []string{"PractitionerRole/gp-role", "PractitionerRole/sw-role"} {
		d, err := e.Decide(ctx, consent.Request{Patient: "Patient/p1", Actor: actor,
			Resource: consent.ResourceFacts{Type: "Condition"}})
		if err != nil {
			panic(err)
		}
		fmt.Println(actor, d.Permit, d.Policy, d.Obligations)
	}
	recs, _ := consent.NewLog(st).List(consent.Query{Patient: "Patient/p1"})
	fmt.Println(len(recs), "decisions recorded")
	// Output:
	// PractitionerRole/gp-role true care-team [ADM CLIN MED ORD FUNC]
	// PractitionerRole/sw-role false non-health-professional []
	// 2 decisions recorded
}
