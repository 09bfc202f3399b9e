package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/server"
)

// syncBuffer is a log sink the server writes to from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUpgradeRelabelsStoredData is the consent officer upgrading Relais: a
// database an earlier Relais filled holds an HIV disease (ICD-10 B20) and
// the stay whose diagnosis it is, without the HIV label the current rules
// give them, and a home nurse holds the patient's permit for clinical
// data (CLIN). After `relais serve` starts on it, neither the nurse nor
// the GP reads the HIV diagnosis or the stay through the API (404, and
// absent from searches), while the heart failure stays readable; the log
// says how many resources were labelled again, by type. A restart does
// not do it again.
func TestUpgradeRelabelsStoredData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := os.MkdirAll(f.cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	const tg15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
	const actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	const icd10 = "http://hl7.org/fhir/sid/icd-10"
	stored := []string{
		`{"resourceType":"PractitionerRole","id":"gp","active":true,"code":[{"coding":[{"system":"` + tg15 + `","code":"10"}]}]}`,
		`{"resourceType":"PractitionerRole","id":"nurse","active":true,"code":[{"coding":[{"system":"` + tg15 + `","code":"60"}]}]}`,
		`{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`,
		`{"resourceType":"Consent","id":"permit-nurse","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
		  "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},
		  "policyRule":{"coding":[{"system":"` + actCode + `","code":"OPTIN"}]},
		  "provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/nurse"}}],
		   "class":[{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"CLIN"}]}}`,
		`{"resourceType":"Condition","id":"hiv","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"` + icd10 + `","code":"B20.7"}]}}`,
		`{"resourceType":"Condition","id":"hf","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"` + icd10 + `","code":"I50.0"}]}}`,
		`{"resourceType":"Encounter","id":"stay","status":"finished","class":{"system":"` + actCode + `","code":"IMP"},"subject":{"reference":"Patient/p1"},
		  "diagnosis":[{"condition":{"reference":"Condition/hf"}},{"condition":{"reference":"Condition/hiv"}}]}`,
	}
	// written as the earlier Relais wrote them: to the store, unlabelled
	st, err := store.Open(filepath.Join(f.cfg.DataDir, server.DBFile), store.Options{Codec: codec.MustNew()})
	if err != nil {
		t.Fatal(err)
	}
	c := codec.MustNew()
	for _, js := range stored {
		m, err := c.Decode([]byte(js))
		if err != nil {
			t.Fatalf("%.50s: %v", js, err)
		}
		e := store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m}
		if _, err := st.TransactionWith(context.Background(), []store.TxEntry{e}, store.TxOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	var log syncBuffer
	cfg := f.cfg
	cfg.RouteInterval = -1 // this stay is not what the test is about
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	base, stop := start(t, cfg)
	mint := func(fhirUser string) string {
		tok, err := f.key.Mint(auth.MintOptions{Scope: "user/*.rs", FHIRUser: fhirUser})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, who := range []string{"PractitionerRole/nurse", "PractitionerRole/gp"} {
		tok := mint(who)
		for _, p := range []string{"/fhir/Condition/hiv", "/fhir/Encounter/stay"} {
			if code, b := call(t, "GET", base+p, "", "", tok); code != 404 {
				t.Errorf("%s GET %s = %d %.200s, want 404", who, p, code, b)
			}
		}
		if code, b := call(t, "GET", base+"/fhir/Condition/hf", "", "", tok); code != 200 {
			t.Errorf("%s GET the heart failure = %d %.200s, want 200", who, code, b)
		}
		code, b := call(t, "GET", base+"/fhir/Condition?patient=p1", "", "", tok)
		if code != 200 || strings.Contains(string(b), `"id":"hiv"`) || !strings.Contains(string(b), `"id":"hf"`) {
			t.Errorf("%s Condition search = %d %.300s, want the heart failure only", who, code, b)
		}
	}
	sys, err := f.key.Mint(auth.MintOptions{Scope: "system/*.rs"})
	if err != nil {
		t.Fatal(err)
	}
	code, b := call(t, "GET", base+"/fhir/Condition/hiv", "", "", sys)
	if code != 200 || !strings.Contains(string(b), `"code":"HIV"`) || !strings.Contains(string(b), `"versionId":"2"`) {
		t.Errorf("the hospital reads Condition/hiv = %d %.300s, want version 2 labelled HIV", code, b)
	}
	if code, b := call(t, "GET", base+"/fhir/Condition/hiv/_history/1", "", "", sys); code != 200 || strings.Contains(string(b), `"code":"HIV"`) {
		t.Errorf("version 1 = %d %.300s, want it as it was stored", code, b)
	}
	stop()
	first := log.String()
	if !strings.Contains(first, "sensitivity labels brought up to date") || !strings.Contains(first, "relabelled=2") ||
		!strings.Contains(first, "Condition=1") || !strings.Contains(first, "Encounter=1") {
		t.Errorf("first start's log, want the summary with counts:\n%s", first)
	}

	// restart: the pass is not done again
	base, stop = start(t, cfg)
	defer stop()
	again := strings.TrimPrefix(log.String(), first)
	if strings.Contains(again, "brought up to date") || !strings.Contains(again, "sensitivity labels current") {
		t.Errorf("second start's log, want no second pass:\n%s", again)
	}
	if code, b := call(t, "GET", base+"/fhir/Condition/hiv", "", "", sys); code != 200 || !strings.Contains(string(b), `"versionId":"2"`) {
		t.Errorf("after a restart Condition/hiv = %d %.200s, want still version 2", code, b)
	}
}
