package auth_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/relais-health/relais/gateway/auth"
)

// The dev key flow behind `relais token` and `relais serve --dev`: both load
// the key from the same directory, one mints, the other verifies.
func ExampleDevKey_Mint() {
	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	key, err := auth.LoadOrCreateDevKey(dir) // relais token
	if err != nil {
		log.Fatal(err)
	}
	raw, err := key.Mint(auth.MintOptions{
		Scope:    "user/Task.rs user/CarePlan.read",
		FHIRUser: "PractitionerRole/123",
		TTL:      time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}

	server, err := auth.LoadOrCreateDevKey(dir) // relais serve --dev
	if err != nil {
		log.Fatal(err)
	}
	v, err := auth.NewVerifier(server.VerifierConfig())
	if err != nil {
		log.Fatal(err)
	}
	p, err := v.Verify(raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.FHIRUser, p.Scopes)
	fmt.Println("may search Tasks:", p.Allows("Task", auth.Search))
	fmt.Println("may update Tasks:", p.Allows("Task", auth.Update))
	// Output:
	// PractitionerRole/123 user/Task.rs user/CarePlan.rs
	// may search Tasks: true
	// may update Tasks: false
}

// A production verifier trusts the identity provider's keys from a PEM file
// (relais serve --jwt-key FILE --jwt-issuer X --jwt-audience Y). Refusals are
// *outcome.Error values of kind Unauthenticated with a static summary.
func ExampleVerifier_Verify() {
	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	idp, err := auth.LoadOrCreateDevKey(dir) // stands in for the identity provider
	if err != nil {
		log.Fatal(err)
	}

	v, err := auth.NewVerifier(auth.Config{
		Issuer:   "https://idp.example",
		Audience: "https://relais.example/fhir",
		Keys:     []auth.Key{{Public: idp.Public()}}, // e.g. from auth.LoadPublicKeys(file)
		Leeway:   30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}

	good, _ := idp.Mint(auth.MintOptions{Scope: "system/*.cruds", Issuer: "https://idp.example", Audience: "https://relais.example/fhir"})
	p, err := v.VerifyHeader("Bearer " + good)
	fmt.Println(p.IsSystem(), err)

	wrongAud, _ := idp.Mint(auth.MintOptions{Scope: "system/*.cruds", Issuer: "https://idp.example"})
	_, err = v.Verify(wrongAud)
	fmt.Println(err)

	expired, _ := idp.Mint(auth.MintOptions{Issuer: "https://idp.example", Audience: "https://relais.example/fhir",
		Now: time.Now().Add(-2 * time.Hour)})
	_, err = v.Verify(expired)
	fmt.Println(err)
	// Output:
	// true <nil>
	// wrong token audience
	// token expired
}

func ExampleParseScopes() {
	s := auth.ParseScopes("openid fhirUser launch/patient patient/Observation.read user/Task.rs system/*.cruds?x=1")
	fmt.Println(s)
	c, ok := s.Grant("Observation", auth.Search)
	fmt.Println(c, ok)
	// Output:
	// patient/Observation.rs user/Task.rs
	// patient true
}
