package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/delivery"
)

// hook is a rest-hook recipient recording the notification types and
// focuses it was sent.
type hook struct {
	*httptest.Server
	mu  sync.Mutex
	got []string // "type focus"
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, notificationSummary(t, b))
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// notificationSummary is "type focus…" of a notification Bundle.
func notificationSummary(t *testing.T, b []byte) string {
	var bundle struct {
		Entry []struct {
			Resource struct {
				Parameter []struct {
					Name      string
					ValueCode string `json:"valueCode"`
					Part      []struct {
						Name           string
						ValueReference struct{ Reference string } `json:"valueReference"`
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &bundle); err != nil || len(bundle.Entry) == 0 {
		t.Errorf("not a notification: %s", b)
		return ""
	}
	out := ""
	for _, p := range bundle.Entry[0].Resource.Parameter {
		if p.Name == "type" {
			out = p.ValueCode + out
		}
		for _, part := range p.Part {
			if part.Name == "focus" {
				out += " " + part.ValueReference.Reference
			}
		}
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSubscriptionPushAndOperations: a GP's software subscribes to the
// Tasks of her patients' nurse with its own token, is sent a handshake,
// then an id-only notification for a Task written by the hospital; only
// she and system callers read $status and $events.
func TestSubscriptionPushAndOperations(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	h := newHook(t)
	gp, nurse := e.as("PractitionerRole/gp"), e.as("PractitionerRole/nurse")
	sub := `{"resourceType":"Subscription","status":"requested","reason":"my patients' nursing Tasks",` +
		`"criteria":"Task?owner=PractitionerRole/nurse","channel":{"type":"rest-hook","endpoint":"` + h.URL + `","payload":"application/fhir+json"}}`
	r := e.do("POST", "/fhir/Subscription", sub, "Authorization", gp)
	if r.status != 201 {
		t.Fatalf("create Subscription: %d %s", r.status, r.body)
	}
	id := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	waitUntil(t, "the handshake", func() bool {
		r := e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", gp)
		return strings.Contains(string(r.body), `"status":"active"`)
	})
	if r := e.do("PUT", "/fhir/Task/push1", strings.Replace(taskJSON("requested", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/nurse"), `"id":"t1"`, `"id":"push1"`, 1)); r.status != 201 {
		t.Fatalf("PUT Task: %d %s", r.status, r.body)
	}
	waitUntil(t, "the notification", func() bool { return len(h.received()) == 2 })
	if got := h.received(); got[0] != "handshake" || got[1] != "event-notification Task/push1" {
		t.Fatalf("received %q", got)
	}

	for _, c := range []struct {
		who  string
		tok  string
		want int
	}{{"owner", gp, 200}, {"someone else", nurse, 404}, {"system", "Bearer " + e.token, 200}} {
		if r := e.do("GET", "/fhir/Subscription/"+id+"/$status", "", "Authorization", c.tok); r.status != c.want {
			t.Errorf("$status as %s: %d, want %d: %s", c.who, r.status, c.want, r.body)
		} else if c.want == 200 && !strings.Contains(string(r.body), `"valueString":"1"`) {
			t.Errorf("$status as %s does not count one event: %s", c.who, r.body)
		}
		if r := e.do("GET", "/fhir/Subscription/"+id+"/$events?eventsSinceNumber=1", "", "Authorization", c.tok); r.status != c.want {
			t.Errorf("$events as %s: %d, want %d", c.who, r.status, c.want)
		}
	}
	r = e.do("POST", "/fhir/Subscription/"+id+"/$events",
		`{"resourceType":"Parameters","parameter":[{"name":"eventsSinceNumber","valueString":"1"},{"name":"eventsUntilNumber","valueString":"1"}]}`,
		"Authorization", gp)
	if r.status != 200 || notificationSummary(t, r.body) != "query-event Task/push1" {
		t.Fatalf("POST $events: %d %s", r.status, r.body)
	}
	if r.header.Get("X-Consent-Decision") == "" {
		t.Errorf("$events names no consent decision")
	}
	if r := e.do("GET", "/admin/delivery/dead-letters", "", "Authorization", gp); r.status != 403 {
		t.Errorf("dead letters as the GP: %d, want 403", r.status)
	}
	if r := e.do("GET", "/admin/delivery/dead-letters", ""); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("dead letters: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/metadata", ""); !strings.Contains(string(r.body), delivery.IGVersion) || !strings.Contains(string(r.body), "backport-subscription-events") {
		t.Errorf("the CapabilityStatement does not describe push delivery")
	}
}

// TestSubscriptionEndpointAndSecret: a Subscription whose endpoint is a
// special-purpose address outside the allowed networks is refused at
// create (422); a Subscription's secret is never shown, whichever way the
// Subscription is read.
func TestSubscriptionEndpointAndSecret(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	gp := e.as("PractitionerRole/gp")
	sub := func(endpoint, ext string) string {
		return `{"resourceType":"Subscription","status":"requested","reason":"mine",` + ext +
			`"criteria":"Task?owner=PractitionerRole/nurse","channel":{"type":"rest-hook","endpoint":"` + endpoint + `","payload":"application/fhir+json"}}`
	}
	for _, bad := range []string{"http://169.254.169.254/latest", "https://10.0.0.1/hook", "https://[::ffff:192.168.0.1]/hook", "ftp://x.example/"} {
		if r := e.do("POST", "/fhir/Subscription", sub(bad, ""), "Authorization", gp); r.status != 422 || !strings.Contains(string(r.body), "OperationOutcome") {
			t.Errorf("%s: %d %s, want 422", bad, r.status, r.body)
		}
	}
	const secret = "do-not-show-me-0123456789"
	h := newHook(t)
	r := e.do("POST", "/fhir/Subscription", sub(h.URL, `"extension":[{"url":"https://relais-health.github.io/fhir/StructureDefinition/subscription-secret","valueString":"`+secret+`"}],`),
		"Authorization", gp, "Prefer", "return=representation")
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	reads := []resp{r}
	for _, path := range []string{"/fhir/Subscription/" + id, "/fhir/Subscription/" + id + "/_history/1",
		"/fhir/Subscription?_id=" + id, "/fhir/Subscription/" + id + "/_history", "/fhir/Subscription/_history"} {
		reads = append(reads, e.do("GET", path, "", "Authorization", gp))
		reads = append(reads, e.do("GET", path, "", "Authorization", "Bearer "+e.token))
	}
	for i, r := range reads {
		if r.status != 200 && r.status != 201 || !strings.Contains(string(r.body), id) {
			t.Errorf("read %d: %d %s", i, r.status, r.body)
		}
		if strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), "subscription-secret") {
			t.Errorf("read %d shows the secret: %s", i, r.body)
		}
	}
}

// TestSubscriptionActivatedByHandshake: a Subscription written active is
// stored requested and activated by its handshake (the server activates,
// R4 subscription.html), which comes before any notification; one whose
// header would add a header line is refused (422).
func TestSubscriptionActivatedByHandshake(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	h := newHook(t)
	gp := e.as("PractitionerRole/gp")
	sub := func(status, header string) string {
		return `{"resourceType":"Subscription","status":"` + status + `","reason":"mine","criteria":"Task?owner=PractitionerRole/nurse",` +
			`"channel":{"type":"rest-hook","endpoint":"` + h.URL + `","payload":"application/fhir+json"` + header + `}}`
	}
	for _, bad := range []string{`"X-A: a\r\nX-Injected: yes"`, `"no colon"`, `"Bad Name: x"`} {
		if r := e.do("POST", "/fhir/Subscription", sub("requested", `,"header":[`+bad+`]`), "Authorization", gp); r.status != 422 {
			t.Errorf("header %s: %d %s, want 422", bad, r.status, r.body)
		}
	}
	r := e.do("POST", "/fhir/Subscription", sub("active", `,"header":["Authorization: Bearer secret-of-the-recipient"]`), "Authorization", gp, "Prefer", "return=representation")
	if r.status != 201 || !strings.Contains(string(r.body), `"status":"requested"`) {
		t.Fatalf("create active: %d %s", r.status, r.body)
	}
	id := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	waitUntil(t, "the handshake", func() bool {
		r := e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", gp)
		return strings.Contains(string(r.body), `"status":"active"`)
	})
	if got := h.received(); len(got) == 0 || got[0] != "handshake" {
		t.Errorf("received %q, want the handshake first", got)
	}
	// Written again active with its channel unchanged: it stays active.
	cur := e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", gp)
	if r := e.do("PUT", "/fhir/Subscription/"+id, strings.Replace(string(cur.body), `"reason":"mine"`, `"reason":"still mine"`, 1), "Authorization", gp, "Prefer", "return=representation"); r.status != 200 || !strings.Contains(string(r.body), `"status":"active"`) {
		t.Errorf("update keeping the channel: %d %s", r.status, r.body)
	}
}
