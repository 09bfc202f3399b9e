package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/mappings/terminology"
)

var testCodec = codec.MustNew()

const actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

type env struct {
	t    testing.TB
	sync bool // the store fsyncs its commits (benchmarks)
	dir  string
	st   *store.Store
	svc  *Service
	cfg  Config
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv opens a store in a temp dir with the consent engine and a
// delivery Service whose retries take milliseconds, and the people of the
// tests: p1, whose GP is PractitionerRole/gp.
func newEnv(t testing.TB, tune func(*Config)) *env { return newEnvSync(t, false, tune) }

// newEnvSync is newEnv with a store that fsyncs its commits when sync.
func newEnvSync(t testing.TB, sync bool, tune func(*Config)) *env {
	t.Helper()
	e := &env{t: t, sync: sync, dir: t.TempDir()}
	e.open(tune)
	e.put(fmt.Sprintf(`{"resourceType":"PractitionerRole","id":"gp","active":true,"code":[{"coding":[{"system":"%s","code":"10"}]}]}`, terminology.TREG15))
	e.put(`{"resourceType":"PractitionerRole","id":"nurse","active":true}`)
	e.put(`{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`)
	return e
}

func (e *env) open(tune func(*Config)) {
	t := e.t
	st, err := store.Open(filepath.Join(e.dir, "relais.db"), store.Options{Codec: testCodec, NoSync: !e.sync, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	src := consent.NewStoreSource(st, testCodec, nil)
	engine, err := consent.New(consent.Config{Directory: src, CareTeams: src, Consents: src,
		HashKey: []byte("test-hmac-key-0123456789abcdef"), Recorder: consent.NewLog(st), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Codec: testCodec, Consent: engine, Logger: quiet(), BaseURL: "https://relais.test",
		RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, GiveUp: time.Hour, Poll: 20 * time.Millisecond,
		Endpoints: Endpoints{Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	if tune != nil {
		tune(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.Follow(svc)
	svc.Start()
	e.st, e.svc, e.cfg = st, svc, cfg
	t.Cleanup(e.close)
}

func (e *env) close() {
	if e.svc == nil {
		return
	}
	e.svc.Close()
	if err := e.st.Close(); err != nil {
		e.t.Error(err)
	}
	e.svc = nil
}

func (e *env) put(js string) {
	e.t.Helper()
	m, err := testCodec.Decode([]byte(js))
	if err != nil {
		e.t.Fatal(err)
	}
	var head struct{ ResourceType, ID string }
	_ = json.Unmarshal([]byte(js), &head)
	if _, err := e.st.Transaction(context.Background(), []store.TxEntry{{Method: "PUT", Type: head.ResourceType, ID: head.ID, Resource: m}}); err != nil {
		e.t.Fatalf("PUT %s/%s: %v", head.ResourceType, head.ID, err)
	}
}

// subscribe stores Subscription id, owned by owner, as the API would
// (status requested, owner tag).
func (e *env) subscribe(id, owner, criteria, endpoint, content, extra string) {
	payload := ""
	if content != "" {
		payload = `,"_payload":{"extension":[{"url":"` + ExtPayloadContent + `","valueCode":"` + content + `"}]}`
	}
	e.put(`{"resourceType":"Subscription","id":"` + id + `","meta":{"tag":[{"system":"` + consent.OwnerSystem + `","code":"` + owner + `"}]},` +
		`"status":"requested","reason":"test","criteria":"` + criteria + `",` +
		`"channel":{"type":"rest-hook","endpoint":"` + endpoint + `","payload":"application/fhir+json"` + payload +
		`,"header":["Authorization: Bearer recipient-secret"]` + extra + `}}`)
}

func (e *env) task(id, owner string) {
	e.put(`{"resourceType":"Task","id":"` + id + `","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"owner":{"reference":"` + owner + `"}}`)
}

// waitFor polls cond for up to 5 s.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) counts(sub string) store.OutboxCounts {
	c, err := e.st.OutboxCounts(sub)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) subStatus(id string) (status, errText string) {
	rec, err := e.st.Read("Subscription", id)
	if err != nil {
		e.t.Fatal(err)
	}
	var m struct{ Status, Error string }
	_ = json.Unmarshal(rec.JSON, &m)
	return m.Status, m.Error
}

// received is one notification a recipient got.
type received struct {
	kind   string
	number uint64 // 0 for handshakes and heartbeats
	focus  string
	full   bool // the entry carried the resource
	header http.Header
	body   []byte
	status int // what the recipient answered
}

// recipient is an httptest endpoint answering with answer(n) to its n-th
// event notification (2xx to handshakes and heartbeats).
type recipient struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, r received) int
	events int
}

func newRecipient(t *testing.T, answer func(n int, r received) int) *recipient {
	rc := &recipient{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := parseNotification(t, body)
		r.header = req.Header.Clone()
		code := 200
		rc.mu.Lock()
		if r.kind == typeEvent {
			rc.events++
			n := rc.events
			rc.mu.Unlock()
			if rc.answer != nil {
				code = rc.answer(n, r)
			}
			rc.mu.Lock()
		}
		r.status = code
		rc.got = append(rc.got, r)
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// accepted lists the event numbers the recipient accepted, in order.
func (rc *recipient) accepted() []uint64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []uint64
	for _, r := range rc.got {
		if r.kind == typeEvent && r.status < 300 {
			out = append(out, r.number)
		}
	}
	return out
}

func (rc *recipient) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// parseNotification reads what a recipient needs of a notification
// Bundle, and checks the status Parameters comes first.
func parseNotification(t *testing.T, body []byte) received {
	var b struct {
		Type  string
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		}
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "history" || len(b.Entry) == 0 {
		t.Errorf("not a notification Bundle: %s", body)
		return received{}
	}
	var p struct {
		ResourceType string
		Parameter    []struct {
			Name           string
			ValueCode      string                     `json:"valueCode"`
			ValueReference struct{ Reference string } `json:"valueReference"`
			Part           []struct {
				Name           string
				ValueString    string                     `json:"valueString"`
				ValueReference struct{ Reference string } `json:"valueReference"`
			}
		}
	}
	if err := json.Unmarshal(b.Entry[0].Resource, &p); err != nil || p.ResourceType != "Parameters" {
		t.Errorf("first entry is not the status Parameters: %s", body)
	}
	r := received{body: body}
	for _, pp := range p.Parameter {
		switch pp.Name {
		case "type":
			r.kind = pp.ValueCode
		case "notification-event":
			for _, part := range pp.Part {
				switch part.Name {
				case "event-number":
					r.number, _ = strconv.ParseUint(part.ValueString, 10, 64)
				case "focus":
					r.focus = part.ValueReference.Reference
				}
			}
		}
	}
	for _, en := range b.Entry[1:] {
		if len(en.Resource) > 0 {
			r.full = true
		}
	}
	return r
}

func TestHandshakeThenOrderUnderRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newRecipient(t, func(n int, _ received) int {
		if n <= 3 {
			return 503
		}
		return 200
	})
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, "", "")
	e.waitFor("the handshake", func() bool { s, _ := e.subStatus("s1"); return s == "active" })
	for i := 1; i <= 5; i++ {
		e.task(fmt.Sprintf("t%d", i), "PractitionerRole/nurse")
	}
	e.task("other", "PractitionerRole/gp") // not matched
	e.waitFor("five deliveries", func() bool { return e.counts("s1").Delivered == 5 })
	if got := fmt.Sprint(rc.accepted()); got != "[1 2 3 4 5]" {
		t.Fatalf("accepted %s, want [1 2 3 4 5] in order", got)
	}
	got := rc.all()
	if got[0].kind != typeHandshake {
		t.Fatalf("first notification %q, want a handshake", got[0].kind)
	}
	for _, r := range got[1:] {
		if r.focus != "Task/t"+strconv.FormatUint(r.number, 10) || r.full {
			t.Errorf("event %d: focus %q, full %v; want id-only Task/t%d", r.number, r.focus, r.full, r.number)
		}
		if r.header.Get("Authorization") != "Bearer recipient-secret" {
			t.Errorf("channel.header not sent: %v", r.header)
		}
	}
	tries, err := e.st.Attempts("s1", 1)
	if err != nil || len(tries) != 4 {
		t.Fatalf("attempts of event 1: %d %v, want 4", len(tries), err)
	}
	for i, a := range tries {
		if a.Decision == "" {
			t.Errorf("attempt %d has no decision ID", i+1)
		}
	}
	if c := e.counts("s1"); c.Last != 5 || c.Pending != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestDeadEndpointDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.GiveUp = 150 * time.Millisecond })
	var failing sync.Mutex
	down := true
	dead := newRecipient(t, func(int, received) int {
		failing.Lock()
		defer failing.Unlock()
		if down {
			return 500
		}
		return 200
	})
	live := newRecipient(t, nil)
	e.subscribe("dead", "PractitionerRole/gp", "Task?patient=Patient/p1", dead.URL, "", "")
	e.subscribe("live", "PractitionerRole/gp", "Task?patient=Patient/p1", live.URL, "", "")
	e.waitFor("both handshakes", func() bool {
		a, _ := e.subStatus("dead")
		b, _ := e.subStatus("live")
		return a == "active" && b == "active"
	})
	start := time.Now()
	for i := 1; i <= 3; i++ {
		e.task(fmt.Sprintf("t%d", i), "PractitionerRole/nurse")
	}
	e.waitFor("the live deliveries", func() bool { return e.counts("live").Delivered == 3 })
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("the live Subscription took %v, held back by the dead one", d)
	}
	e.waitFor("the dead letters", func() bool { return e.counts("dead").Dead == 3 })
	status, reason := e.subStatus("dead")
	if status != "error" || reason == "" {
		t.Fatalf("dead Subscription is %q (%q), want error with a reason", status, reason)
	}
	rec, err := e.st.Read("Task", "t1")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := testCodec.DecodeStored(rec.JSON)
	if c := m.(*tpb.Task).GetBusinessStatus().GetCoding(); len(c) != 1 || c[0].GetCode().GetValue() != "undelivered" {
		t.Fatalf("Task not flagged: %v", m.(*tpb.Task).GetBusinessStatus())
	}
	letters, err := e.svc.DeadLetters(10)
	if err != nil || len(letters) < 3 {
		t.Fatalf("dead letters %+v %v", letters, err)
	}

	// The endpoint is back; an administrator replays the dead letters.
	failing.Lock()
	down = false
	failing.Unlock()
	for _, l := range letters {
		if l.Subscription == "dead" {
			if err := e.svc.Replay(context.Background(), "dead", l.Event); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.waitFor("the replayed deliveries", func() bool { return e.counts("dead").Delivered >= 3 })
	if status, _ := e.subStatus("dead"); status != "active" {
		t.Fatalf("Subscription %q after a delivery, want active", status)
	}
}

func TestRevocationBetweenAttemptsWithholds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newRecipient(t, func(n int, _ received) int {
		if n == 1 {
			// Before the first attempt's answer, p1 objects to her GP.
			e.put(`{"resourceType":"Consent","id":"obj","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"` + actCode + `","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/gp"}}]}}`)
			return 503
		}
		return 200
	})
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, ContentFull, "")
	e.waitFor("the handshake", func() bool { s, _ := e.subStatus("s1"); return s == "active" })
	e.task("t1", "PractitionerRole/nurse")
	e.waitFor("the event withheld", func() bool { return e.counts("s1").Withheld == 1 })
	var events int
	for _, r := range rc.all() {
		if r.kind == typeEvent {
			events++
		}
	}
	if events != 1 {
		t.Fatalf("the recipient got %d event notifications, want only the first attempt's", events)
	}
	tries, _ := e.st.Attempts("s1", 1)
	if len(tries) != 2 || tries[1].State != store.EventWithheld || tries[0].Decision == "" || tries[1].Decision == "" || tries[0].Decision == tries[1].Decision {
		t.Fatalf("attempts %+v: want a failure then a withholding, each with its own decision", tries)
	}
	body, err := e.svc.Events(context.Background(), "s1", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := parseNotification(t, body); r.number != 1 || r.focus != "" || r.full {
		t.Fatalf("$events shows a withheld event: %s", body)
	}
}

func TestContentAndTopics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	full, empty, topic := newRecipient(t, nil), newRecipient(t, nil), newRecipient(t, nil)
	e.subscribe("full", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse&status=requested", full.URL, ContentFull, "")
	e.subscribe("empty", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", empty.URL, ContentEmpty, "")
	e.put(`{"resourceType":"Subscription","id":"topic","meta":{"tag":[{"system":"` + consent.OwnerSystem + `","code":"PractitionerRole/gp"}]},` +
		`"status":"requested","reason":"test","criteria":"` + TopicBase + `Task",` +
		`"_criteria":{"extension":[{"url":"` + ExtFilterCriteria + `","valueString":"Task?owner=PractitionerRole/nurse&status=requested"}]},` +
		`"channel":{"type":"rest-hook","endpoint":"` + topic.URL + `","payload":"application/fhir+json"}}`)
	e.subscribe("bad", "PractitionerRole/gp", "Task?nonsense=1", topic.URL, "", "")
	e.waitFor("the handshakes", func() bool {
		for _, id := range []string{"full", "empty", "topic"} {
			if s, _ := e.subStatus(id); s != "active" {
				return false
			}
		}
		s, _ := e.subStatus("bad")
		return s == "error"
	})
	e.task("t1", "PractitionerRole/nurse")
	e.put(`{"resourceType":"Task","id":"t2","status":"cancelled","intent":"order","for":{"reference":"Patient/p1"},"owner":{"reference":"PractitionerRole/nurse"}}`)
	e.waitFor("deliveries", func() bool {
		return e.counts("full").Delivered == 1 && e.counts("empty").Delivered == 2 && e.counts("topic").Delivered == 1
	})
	if c := e.counts("full"); c.Last != 1 {
		t.Fatalf("the status filter let a cancelled Task through: %+v", c)
	}
	last := func(rc *recipient) received { g := rc.all(); return g[len(g)-1] }
	if r := last(full); !r.full || r.focus != "Task/t1" {
		t.Errorf("full-resource: %s", r.body)
	}
	if r := last(empty); r.full || r.focus != "" {
		t.Errorf("empty: %s", r.body)
	}
	if r := last(topic); r.focus != "Task/t1" {
		t.Errorf("topic: %s", r.body)
	}
	if os.Getenv("RELAIS_VALIDATE") == "1" {
		dir := t.TempDir()
		for i, rc := range []*recipient{full, empty, topic} {
			for j, r := range rc.all() {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%d-%d.json", i, j)), r.body, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		fhirtest.RunValidator(t, dir)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newRecipient(t, nil)
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, "",
		`,"extension":[{"url":"`+ExtHeartbeatPeriod+`","valueUnsignedInt":1}]`)
	e.waitFor("a heartbeat", func() bool {
		for _, r := range rc.all() {
			if r.kind == typeHeartbeat {
				return true
			}
		}
		return false
	})
}

func TestPendingEventsSurviveRestart(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	up := true
	rc := newRecipient(t, func(int, received) int {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return 200
		}
		return 503
	})
	e := newEnv(t, func(c *Config) { c.RetryBase, c.RetryMax = 50*time.Millisecond, 50*time.Millisecond })
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, "", "")
	e.waitFor("the handshake", func() bool { s, _ := e.subStatus("s1"); return s == "active" })
	mu.Lock()
	up = false
	mu.Unlock()
	e.task("t1", "PractitionerRole/nurse")
	e.task("t2", "PractitionerRole/nurse")
	e.waitFor("a failed attempt", func() bool { tries, _ := e.st.Attempts("s1", 1); return len(tries) == 1 })
	e.close()
	if got := rc.accepted(); len(got) != 0 {
		t.Fatalf("accepted %v while down", got)
	}

	// Restarted, with the endpoint up: delivery resumes where it stopped.
	mu.Lock()
	up = true
	mu.Unlock()
	e.open(nil)
	e.waitFor("the deliveries after restart", func() bool { return e.counts("s1").Delivered == 2 })
	if got := fmt.Sprint(rc.accepted()); got != "[1 2]" {
		t.Fatalf("accepted %s after restart, want [1 2]", got)
	}
}

// TestDeliveryAudited: a delivered notification is recorded as a BALP
// export AuditEvent naming the patient, the version sent, the
// Subscription, and the owner as the recipient at the endpoint's host.
func TestDeliveryAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newRecipient(t, nil)
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, ContentFull, "")
	e.waitFor("the handshake", func() bool { s, _ := e.subStatus("s1"); return s == "active" })
	e.task("t1", "PractitionerRole/nurse")
	e.waitFor("the delivery", func() bool { return e.counts("s1").Delivered == 1 })
	var got []string
	err := e.st.AuditEvents(store.AuditQuery{Kinds: []audit.Kind{audit.KindDisclosure}, Types: []string{audit.TypeExport.Code}},
		func(_ store.AuditHead, js []byte) (bool, error) { got = append(got, string(js)); return true, nil })
	if err != nil || len(got) != 1 {
		t.Fatalf("export events: %v %d", err, len(got))
	}
	for _, want := range []string{`"code":"110106"`, `"reference":"PractitionerRole/gp"`, `"reference":"Patient/p1"`,
		`"reference":"Task/t1/_history/1"`, `"reference":"Subscription/s1"`, `"address":"127.0.0.1"`} {
		if !strings.Contains(got[0], want) {
			t.Errorf("export event lacks %s: %s", want, got[0])
		}
	}
}

// TestHiddenEventsAreNotNumbered: a resource the Subscription's owner may
// not read when it is written makes no event in her outbox: nothing is
// counted, listed or numbered for it, so the next event she may see is
// number 1 and $status counts one.
func TestHiddenEventsAreNotNumbered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newRecipient(t, nil)
	e.put(`{"resourceType":"Patient","id":"p2","generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`)
	// p1 objects to her GP, who watches the nurse's Tasks.
	e.put(`{"resourceType":"Consent","id":"obj","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"` + actCode + `","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/gp"}}]}}`)
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, ContentFull, "")
	e.waitFor("the handshake", func() bool { s, _ := e.subStatus("s1"); return s == "active" })
	e.task("t1", "PractitionerRole/nurse") // about p1: hidden from the GP
	e.put(`{"resourceType":"Task","id":"t2","status":"requested","intent":"order","for":{"reference":"Patient/p2"},"owner":{"reference":"PractitionerRole/nurse"}}`)
	e.waitFor("the visible event delivered", func() bool { return e.counts("s1").Delivered == 1 })
	if c := e.counts("s1"); c.Withheld != 0 || c.Pending != 0 || c.Last != 1 {
		t.Errorf("outbox counts %+v: want one event, none withheld", c)
	}
	for _, r := range rc.all() {
		if r.kind == typeEvent && (r.number != 1 || r.focus != "Task/t2") {
			t.Errorf("notified event %d about %s, want event 1 about Task/t2", r.number, r.focus)
		}
	}
}

// TestEventsWhileRequestedAreKept: an owner who moves her Subscription to
// a new endpoint makes it requested until the new endpoint answers its
// handshake; what is written meanwhile is kept and delivered there once
// it has, not lost.
func TestEventsWhileRequestedAreKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	first := newRecipient(t, nil)
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", first.URL, "", "")
	e.waitFor("the handshake", func() bool { s, _ := e.subStatus("s1"); return s == "active" })

	release := make(chan struct{})
	var mu sync.Mutex
	var events []string
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := parseNotification(t, body)
		if r.kind == typeHandshake {
			<-release // answers once the Task below is written
		}
		if r.kind == typeEvent {
			mu.Lock()
			events = append(events, r.focus)
			mu.Unlock()
		}
	}))
	t.Cleanup(moved.Close)
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", moved.URL, "", "")
	if s, _ := e.subStatus("s1"); s != "requested" {
		t.Fatalf("the moved Subscription is %s, want requested until its handshake", s)
	}
	e.task("t1", "PractitionerRole/nurse")
	close(release)
	e.waitFor("the Task at the new endpoint", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 1 && events[0] == "Task/t1"
	})
}
