package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/consent"
)

// TestSignature: with a secret, the handshake and every notification carry
// X-Relais-Signature, the HMAC-SHA256 of the exact body (checked here as a
// recipient would, with crypto/hmac); without one, none. The stored
// Subscription holds the secret; what a reader is shown does not.
func TestSignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	signed, plain := newRecipient(t, nil), newRecipient(t, nil)
	const secret = "s3cret-shared-with-the-recipient"
	e.put(`{"resourceType":"Subscription","id":"signed","meta":{"tag":[{"system":"` + consent.OwnerSystem + `","code":"PractitionerRole/gp"}]},` +
		`"extension":[{"url":"` + ExtSecret + `","valueString":"` + secret + `"}],` +
		`"status":"requested","reason":"test","criteria":"Task?owner=PractitionerRole/nurse",` +
		`"channel":{"type":"rest-hook","endpoint":"` + signed.URL + `","payload":"application/fhir+json"}}`)
	e.subscribe("plain", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", plain.URL, "", "")
	e.waitFor("the handshakes", func() bool {
		a, _ := e.subStatus("signed")
		b, _ := e.subStatus("plain")
		return a == "active" && b == "active"
	})
	e.task("t1", "PractitionerRole/nurse")
	e.waitFor("deliveries", func() bool { return e.counts("signed").Delivered == 1 && e.counts("plain").Delivered == 1 })
	got := signed.all()
	if len(got) < 2 || got[0].kind != typeHandshake {
		t.Fatalf("got %d notifications", len(got))
	}
	for _, r := range got {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(r.body)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if h := r.header.Get("X-Relais-Signature"); !hmac.Equal([]byte(h), []byte(want)) {
			t.Errorf("%s: signature %q, want %q", r.kind, h, want)
		}
	}
	for _, r := range plain.all() {
		if h := r.header.Get(SignatureHeader); h != "" {
			t.Errorf("unsigned Subscription's %s signed: %q", r.kind, h)
		}
	}
	rec, err := e.st.Read("Subscription", "signed")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec.JSON), secret) {
		t.Fatal("the stored Subscription lost its secret")
	}
	shown, err := WithoutSecret(testCodec, "Subscription", rec.JSON)
	if err != nil || strings.Contains(string(shown), secret) || strings.Contains(string(shown), ExtSecret) {
		t.Fatalf("shown %s %v", shown, err)
	}
	if !strings.Contains(string(shown), `"status":"active"`) {
		t.Fatalf("shown lost the rest: %s", shown)
	}
}
