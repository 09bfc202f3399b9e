package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/gateway/auth"
)

// The tests of this file receive notifications as a community nurse's
// software would, written from the Subscriptions R5 Backport IG for R4,
// STU 1.1 (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/), and
// R4's history Bundle rules (https://hl7.org/fhir/R4/http.html#history):
// each body is read as JSON and checked against what they say, not
// against what Relais happens to send.

const (
	igBase          = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	igNotification  = igBase + "backport-subscription-notification-r4"
	igStatusProfile = igBase + "backport-subscription-status-r4"
	testBaseURL     = "https://relais.test"
)

// vendor is a rest-hook endpoint that keeps every request it is sent.
type vendor struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer int // the status it answers (200 when 0)
}

type received struct {
	header http.Header
	body   []byte
}

func newVendor(t *testing.T) *vendor {
	v := &vendor{}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.got = append(v.got, received{header: r.Header.Clone(), body: b})
		code := v.answer
		v.mu.Unlock()
		if code == 0 {
			code = http.StatusOK
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(v.Close)
	return v
}

func (v *vendor) all() []received {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]received(nil), v.got...)
}

// notice is what a notification says, read as the IG defines it.
type notice struct {
	typ, status, subscription, topic, since string
	events                                  []noticeEvent
	entries                                 []noticeEntry // after the status entry
}

type noticeEvent struct{ number, focus string }

type noticeEntry struct {
	fullURL, method, url, status, etag string
	resourceType, resourceID           string // "" without a resource
}

// readNotice checks body against the IG's notification Bundle for R4 and
// returns what it says: a history Bundle (profile
// backport-subscription-notification-r4) whose first entry is the
// SubscriptionStatus as a Parameters (backport-subscription-status-r4),
// with the request of a $status call; every other entry has an absolute
// fullUrl and, as every history entry must (bdl-3, bdl-4), a request and
// a response.
func readNotice(t *testing.T, body []byte) notice {
	t.Helper()
	var b struct {
		ResourceType, Type, Timestamp string
		Meta                          struct{ Profile []string }
		Entry                         []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Request  *struct{ Method, URL string }
			Response *struct{ Status, Etag string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("notification is not JSON: %v", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "history" || b.Timestamp == "" || len(b.Entry) == 0 {
		t.Fatalf("not a history Bundle with a timestamp and entries: %s", body)
	}
	if !contains(b.Meta.Profile, igNotification) {
		t.Errorf("the Bundle does not claim %s", igNotification)
	}
	first := b.Entry[0]
	var p struct {
		ResourceType string
		Meta         struct{ Profile []string }
		Parameter    []struct {
			Name           string
			ValueCode      string `json:"valueCode"`
			ValueString    string `json:"valueString"`
			ValueCanonical string `json:"valueCanonical"`
			ValueReference struct{ Reference string }
			Part           []struct {
				Name           string
				ValueString    string `json:"valueString"`
				ValueInstant   string `json:"valueInstant"`
				ValueReference struct{ Reference string }
			}
		}
	}
	if err := json.Unmarshal(first.Resource, &p); err != nil || p.ResourceType != "Parameters" {
		t.Fatalf("the first entry is not the SubscriptionStatus Parameters: %s", body)
	}
	if !contains(p.Meta.Profile, igStatusProfile) {
		t.Errorf("the status does not claim %s", igStatusProfile)
	}
	var n notice
	for _, q := range p.Parameter {
		switch q.Name {
		case "subscription":
			n.subscription = q.ValueReference.Reference
		case "topic":
			n.topic = q.ValueCanonical
		case "status":
			n.status = q.ValueCode
		case "type":
			n.typ = q.ValueCode
		case "events-since-subscription-start":
			n.since = q.ValueString
		case "notification-event":
			var ev noticeEvent
			for _, part := range q.Part {
				switch part.Name {
				case "event-number":
					ev.number = part.ValueString
				case "focus":
					ev.focus = part.ValueReference.Reference
				}
			}
			if ev.number == "" {
				t.Errorf("a notification-event without its event-number")
			}
			n.events = append(n.events, ev)
		}
	}
	if n.subscription == "" || n.status == "" || n.typ == "" {
		t.Errorf("the status lacks subscription, status or type (each 1..1): %s", first.Resource)
	}
	if !strings.HasPrefix(first.FullURL, "urn:uuid:") && !strings.HasPrefix(first.FullURL, "http") {
		t.Errorf("status entry fullUrl %q is not absolute", first.FullURL)
	}
	if first.Request == nil || first.Request.Method != "GET" || !strings.HasSuffix(first.Request.URL, n.subscription+"/$status") ||
		first.Response == nil || !strings.HasPrefix(first.Response.Status, "200") {
		t.Errorf("the status entry's request is not the $status call it stands for: %+v %+v", first.Request, first.Response)
	}
	for _, e := range b.Entry[1:] {
		if e.Request == nil || e.Response == nil {
			t.Fatalf("a history entry without request and response (bdl-3, bdl-4): %s", body)
		}
		ne := noticeEntry{fullURL: e.FullURL, method: e.Request.Method, url: e.Request.URL, status: e.Response.Status, etag: e.Response.Etag}
		if len(e.Resource) > 0 {
			var r struct{ ResourceType, ID string }
			if err := json.Unmarshal(e.Resource, &r); err != nil {
				t.Fatal(err)
			}
			ne.resourceType, ne.resourceID = r.ResourceType, r.ID
		}
		n.entries = append(n.entries, ne)
	}
	return n
}

// sinceBelow reports whether events-since-subscription-start, a string
// as the IG carries it, is missing or below n.
func sinceBelow(since string, n int) bool {
	v, err := strconv.Atoi(since)
	return err != nil || v < n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validateNotifications runs the independent validator over bodies when
// RELAIS_VALIDATE=1 (it needs Node.js).
func validateNotifications(t *testing.T, bodies ...[]byte) {
	t.Helper()
	if os.Getenv("RELAIS_VALIDATE") != "1" {
		return
	}
	dir := t.TempDir()
	for i, b := range bodies {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%02d.json", i)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fhirtest.RunValidator(t, dir)
}

// nurseSubscription is the nurse's topic-based Subscription to the Tasks
// she owns (IG "Subscriptions": criteria the topic's canonical URL,
// _criteria's backport-filter-criteria, backport-payload-content on
// _payload), signed with secret.
func nurseSubscription(endpoint, content, secret string) string {
	return `{"resourceType":"Subscription","status":"requested","reason":"Tasks addressed to me",` +
		`"meta":{"profile":["` + igBase + `backport-subscription"]},` +
		`"extension":[{"url":"https://relais-health.github.io/fhir/StructureDefinition/subscription-secret","valueString":"` + secret + `"}],` +
		`"criteria":"https://relais-health.github.io/fhir/SubscriptionTopic/Task",` +
		`"_criteria":{"extension":[{"url":"` + igBase + `backport-filter-criteria","valueString":"Task?owner=PractitionerRole/nurse"}]},` +
		`"channel":{"type":"rest-hook","endpoint":"` + endpoint + `","payload":"application/fhir+json",` +
		`"_payload":{"extension":[{"url":"` + igBase + `backport-payload-content","valueCode":"` + content + `"}]}}}`
}

func signed(secret string, r received) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(r.body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(r.header.Get("X-Relais-Signature")), []byte(want))
}

// TestNurseReceivesHerTasksAsTheIGDescribes: the nurse's software
// subscribes to her Tasks with full-resource content; the hospital
// creates a Task for her, she accepts it, the hospital deletes it. Each
// notification is the IG's history Bundle, signed, numbered in order, and
// each entry shows the interaction as a history Bundle does: a creation
// is POST [type] answered 201 Created, an update PUT [type]/[id] answered
// 200 OK, a deletion DELETE answered 204 without a resource (R4
// http.html#history; IG notifications.html: "a POST or PUT operation on
// the resource").
func TestNurseReceivesHerTasksAsTheIGDescribes(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	v := newVendor(t)
	nurse := e.as("PractitionerRole/nurse")
	const secret = "vendor-shared-secret-42"
	r := e.do("POST", "/fhir/Subscription", nurseSubscription(v.URL, "full-resource", secret), "Authorization", nurse)
	if r.status != 201 {
		t.Fatalf("create Subscription: %d %s", r.status, r.body)
	}
	sub := "Subscription/" + strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	waitUntil(t, "the handshake", func() bool { return len(v.all()) == 1 })

	r = e.do("POST", "/fhir/Task", strings.Replace(taskJSON("requested", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/nurse"), `"id":"t1",`, "", 1))
	if r.status != 201 {
		t.Fatalf("POST Task: %d %s", r.status, r.body)
	}
	task := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/"), "/_history")[0]
	waitUntil(t, "the creation's notification", func() bool { return len(v.all()) == 2 })
	cur := e.do("GET", "/fhir/"+task, "", "Authorization", nurse)
	if r := e.do("PUT", "/fhir/"+task, strings.Replace(string(cur.body), `"status":"requested"`, `"status":"accepted"`, 1), "Authorization", nurse); r.status != 200 {
		t.Fatalf("the nurse accepts: %d %s", r.status, r.body)
	}
	waitUntil(t, "the update's notification", func() bool { return len(v.all()) == 3 })
	if r := e.do("DELETE", "/fhir/"+task, ""); r.status != 204 && r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	waitUntil(t, "the deletion's notification", func() bool { return len(v.all()) == 4 })

	got := v.all()
	var bodies [][]byte
	for i, g := range got {
		bodies = append(bodies, g.body)
		if !signed(secret, g) {
			t.Errorf("notification %d: X-Relais-Signature does not match the body", i)
		}
		if ct := g.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
			t.Errorf("notification %d: Content-Type %q", i, ct)
		}
	}
	hs := readNotice(t, got[0].body)
	if hs.typ != "handshake" || hs.status != "requested" || hs.subscription != sub || len(hs.events) != 0 || len(hs.entries) != 0 ||
		hs.topic != "https://relais-health.github.io/fhir/SubscriptionTopic/Task" {
		t.Errorf("handshake: %+v", hs)
	}
	fullURL := testBaseURL + "/fhir/" + task
	id := strings.TrimPrefix(task, "Task/")
	for i, want := range []noticeEntry{
		{fullURL: fullURL, method: "POST", url: "Task", status: "201 Created", etag: `W/"1"`, resourceType: "Task", resourceID: id},
		{fullURL: fullURL, method: "PUT", url: task, status: "200 OK", etag: `W/"2"`, resourceType: "Task", resourceID: id},
		{fullURL: fullURL, method: "DELETE", url: task, status: "204 No Content", etag: `W/"3"`},
	} {
		n := readNotice(t, got[i+1].body)
		number := fmt.Sprint(i + 1)
		if n.typ != "event-notification" || n.status != "active" || n.subscription != sub || sinceBelow(n.since, i+1) {
			t.Errorf("event %s: status %+v", number, n)
		}
		if len(n.events) != 1 || n.events[0].number != number || n.events[0].focus != task {
			t.Errorf("event %s: notification-event %+v, want number %s focus %s", number, n.events, number, task)
		}
		if len(n.entries) != 1 {
			t.Errorf("event %s: %d entries after the status, want 1", number, len(n.entries))
			continue
		}
		// A status may carry its reason phrase or not (R4 Bundle.entry.response.status).
		g := n.entries[0]
		if code := strings.Fields(want.status)[0]; g.status == code {
			g.status = want.status
		}
		if g != want {
			t.Errorf("event %s entry:\n got %+v\nwant %+v", number, g, want)
		}
	}
	validateNotifications(t, bodies...)
}

// TestClientCannotSkipTheHandshake: a client submits a Subscription
// requested or off; only the server moves it to active, and then to
// error (R4 Subscription.status, "A client can only submit subscription
// resources in the requested or off state"). A Subscription written in
// error, new or with another endpoint, is therefore stored requested and
// sent its handshake before any notification, as one written active is:
// no endpoint gets events without having answered one (IG "Handshake").
func TestClientCannotSkipTheHandshake(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	nurse := e.as("PractitionerRole/nurse")
	first, second := newVendor(t), newVendor(t)
	body := strings.Replace(nurseSubscription(first.URL, "id-only", "s"), `"status":"requested"`, `"status":"error"`, 1)
	r := e.do("POST", "/fhir/Subscription", body, "Authorization", nurse, "Prefer", "return=representation")
	if r.status != 201 || !strings.Contains(string(r.body), `"status":"requested"`) {
		t.Fatalf("created in error: %d %s, want stored requested", r.status, r.body)
	}
	id := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	waitUntil(t, "the handshake", func() bool { return len(first.all()) == 1 })
	if n := readNotice(t, first.all()[0].body); n.typ != "handshake" {
		t.Fatalf("first request is a %s, want the handshake", n.typ)
	}
	waitUntil(t, "active", func() bool {
		return strings.Contains(string(e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", nurse).body), `"status":"active"`)
	})

	// The owner points it elsewhere and writes it in error.
	cur := string(e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", nurse).body)
	moved := strings.Replace(strings.Replace(cur, first.URL, second.URL, 1), `"status":"active"`, `"status":"error"`, 1)
	if r := e.do("PUT", "/fhir/Subscription/"+id, moved, "Authorization", nurse, "Prefer", "return=representation"); r.status != 200 || !strings.Contains(string(r.body), `"status":"requested"`) {
		t.Fatalf("moved in error: %d %s, want stored requested", r.status, r.body)
	}
	waitUntil(t, "active again", func() bool {
		return strings.Contains(string(e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", nurse).body), `"status":"active"`)
	})
	if r := e.do("PUT", "/fhir/Task/moved", strings.Replace(taskJSON("requested", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/nurse"), `"id":"t1"`, `"id":"moved"`, 1)); r.status != 201 {
		t.Fatalf("PUT Task: %d %s", r.status, r.body)
	}
	waitUntil(t, "the notification at the new endpoint", func() bool { return len(second.all()) == 2 })
	if n := readNotice(t, second.all()[0].body); n.typ != "handshake" {
		t.Errorf("the new endpoint's first request is a %s, want the handshake", n.typ)
	}
}

// TestOthersSubscriptionAnswersAsAnAbsentOne: to the GP, the nurse's
// Subscription is one that does not exist, through every interaction on
// it and its operations: the same status and body. And X-Consent-Decision
// counts nothing: were decision IDs a sequence, how far one moved since
// the caller's previous request would tell how many decisions her
// request made, which differs when it is about something she may not
// see (an update or deletion of another's Subscription decides on what
// is stored; of an absent one, on nothing).
func TestOthersSubscriptionAnswersAsAnAbsentOne(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	v := newVendor(t)
	nurse, gp := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/gp")
	r := e.do("POST", "/fhir/Subscription", nurseSubscription(v.URL, "id-only", "s"), "Authorization", nurse)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	theirs := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	waitUntil(t, "the handshake", func() bool { return len(v.all()) == 1 })
	absent := theirs[:len(theirs)-1] + "0"
	if absent == theirs {
		absent = theirs[:len(theirs)-1] + "1"
	}
	errID := regexp.MustCompile(`error id [0-9a-f]+`)
	var ids []string // X-Consent-Decision of each request, in order
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/fhir/Subscription/ID", ""},
		{"GET", "/fhir/Subscription/ID/$status", ""},
		{"GET", "/fhir/Subscription/ID/$events", ""},
		{"GET", "/fhir/Subscription/ID/_history", ""},
		{"PUT", "/fhir/Subscription/ID", nurseSubscription("https://gp.example/hook", "id-only", "s")},
		{"DELETE", "/fhir/Subscription/ID", ""},
	} {
		var got [2]resp
		for i, id := range []string{theirs, absent} {
			body := strings.Replace(c.body, `"resourceType":"Subscription",`, `"resourceType":"Subscription","id":"`+id+`",`, 1)
			got[i] = e.do(c.method, strings.Replace(c.path, "ID", id, 1), body, "Authorization", gp)
			ids = append(ids, got[i].header.Get("X-Consent-Decision"))
		}
		if got[0].status != got[1].status || errID.ReplaceAllString(string(got[0].body), "") != errID.ReplaceAllString(string(got[1].body), "") {
			t.Errorf("%s %s: another's answers %d %s, an absent one %d %s", c.method, c.path, got[0].status, got[0].body, got[1].status, got[1].body)
		}
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("request %d: X-Consent-Decision %q missing or repeated", i, id)
		}
		seen[id] = true
	}
	for i := 1; i < len(ids); i++ {
		_, a, _ := strings.Cut(ids[i-1], "-")
		_, b, _ := strings.Cut(ids[i], "-")
		x, err1 := strconv.ParseUint(a, 36, 64)
		y, err2 := strconv.ParseUint(b, 36, 64)
		if err1 == nil && err2 == nil && y > x && y-x < 16 {
			t.Fatalf("decision IDs %s then %s count the decisions made between them", ids[i-1], ids[i])
		}
	}
}

// TestSystemCallerChangingASubscriptionKeepsItsOwner: a Subscription is
// owned by the caller who created it; the hospital's integration setting
// the nurse's Subscription off and on again (a system caller may change
// any) leaves it hers: she still reads it, and its events are still
// decided for her, so that her endpoint is sent nothing about a patient
// she may not see, as it would be were the events decided for the
// integration.
func TestSystemCallerChangingASubscriptionKeepsItsOwner(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	v := newVendor(t)
	nurse := e.as("PractitionerRole/nurse")
	sub := strings.Replace(nurseSubscription(v.URL, "full-resource", "s"), "Task?owner=PractitionerRole/nurse", "Task?status=requested", 1)
	r := e.do("POST", "/fhir/Subscription", sub, "Authorization", nurse)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	waitUntil(t, "the handshake", func() bool { return len(v.all()) == 1 })

	// The integration, with a registered client of its own, turns it off and on.
	tok, err := e.key.Mint(auth.MintOptions{Scope: "system/*.cruds", ClientID: e.register(t, "system/*.cruds", "", clientKeys()[0])})
	if err != nil {
		t.Fatal(err)
	}
	client := "Bearer " + tok
	for _, status := range []string{"off", "requested"} {
		cur := e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", client)
		body := regexp.MustCompile(`"status":"[a-z]+"`).ReplaceAllString(string(cur.body), `"status":"`+status+`"`)
		if r := e.do("PUT", "/fhir/Subscription/"+id, body, "Authorization", client); r.status != 200 {
			t.Fatalf("the integration sets it %s: %d %s", status, r.status, r.body)
		}
	}
	waitUntil(t, "the second handshake", func() bool { return len(v.all()) == 2 })
	if r := e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", nurse); r.status != 200 {
		t.Fatalf("the nurse reads her Subscription: %d %s", r.status, r.body)
	}
	waitUntil(t, "active", func() bool {
		return strings.Contains(string(e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", nurse).body), `"status":"active"`)
	})
	// A Task about p2, whom she does not treat, then one about p1.
	for _, task := range []struct{ id, patient string }{{"other", "Patient/p2"}, {"hers", "Patient/p1"}} {
		body := strings.Replace(taskJSON("requested", task.patient, "PractitionerRole/gp", "PractitionerRole/gp"), `"id":"t1"`, `"id":"`+task.id+`"`, 1)
		if r := e.do("PUT", "/fhir/Task/"+task.id, body); r.status != 201 {
			t.Fatalf("PUT Task: %d %s", r.status, r.body)
		}
	}
	waitUntil(t, "the notification of her patient's Task", func() bool { return len(v.all()) >= 3 })
	for _, g := range v.all()[2:] {
		n := readNotice(t, g.body)
		for _, ev := range n.events {
			if ev.focus != "Task/hers" {
				t.Errorf("event %s about %s sent to the nurse", ev.number, ev.focus)
			}
		}
	}
}

// TestVendorDiscoversTopicsFromMetadata: the vendor finds, as the IG's R4
// server CapabilityStatement (backport-subscription-server-r4) and its
// topic discovery say, the topics on the Subscription resource's
// capabilitystatement-subscriptiontopic-canonical extensions, the
// backport-subscription profile among its supported profiles, and the
// $status operation.
func TestVendorDiscoversTopicsFromMetadata(t *testing.T) {
	t.Parallel()
	e := newEnvPush(t)
	var cs struct {
		Instantiates []string
		Rest         []struct {
			Resource []struct {
				Type      string
				Extension []struct {
					URL            string `json:"url"`
					ValueCanonical string `json:"valueCanonical"`
				}
				SupportedProfile []string `json:"supportedProfile"`
				Operation        []struct{ Name, Definition string }
			}
		}
	}
	r := e.do("GET", "/fhir/metadata", "")
	if err := json.Unmarshal(r.body, &cs); err != nil || len(cs.Rest) != 1 {
		t.Fatalf("metadata: %d %s", r.status, r.body)
	}
	if !contains(cs.Instantiates, "http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4") {
		t.Errorf("instantiates %q", cs.Instantiates)
	}
	for _, res := range cs.Rest[0].Resource {
		if res.Type != "Subscription" {
			continue
		}
		var topics []string
		for _, x := range res.Extension {
			if x.URL == igBase+"capabilitystatement-subscriptiontopic-canonical" {
				topics = append(topics, x.ValueCanonical)
			}
		}
		want := []string{"CarePlan", "Consent", "ServiceRequest", "Task"}
		for i := range want {
			want[i] = "https://relais-health.github.io/fhir/SubscriptionTopic/" + want[i]
		}
		if strings.Join(topics, " ") != strings.Join(want, " ") {
			t.Errorf("topics advertised %q, want %q", topics, want)
		}
		if !contains(res.SupportedProfile, igBase+"backport-subscription") {
			t.Errorf("supportedProfile %q lacks backport-subscription", res.SupportedProfile)
		}
		ops := ""
		for _, op := range res.Operation {
			ops += op.Name + "=" + op.Definition + " "
		}
		if !strings.Contains(ops, "status=http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status") {
			t.Errorf("operations %s", ops)
		}
		return
	}
	t.Fatal("no Subscription resource in the CapabilityStatement")
}

// TestEventsParametersAreStrings: $events's eventsSinceNumber and
// eventsUntilNumber are strings (IG OperationDefinition
// backport-subscription-events); a Parameters body giving one as another
// type is a 400 naming it, never a replay of every event as if it had
// not been given.
func TestEventsParametersAreStrings(t *testing.T) {
	t.Parallel()
	e := withConsentData(t, newEnvPush(t))
	v := newVendor(t)
	nurse := e.as("PractitionerRole/nurse")
	r := e.do("POST", "/fhir/Subscription", nurseSubscription(v.URL, "id-only", "s"), "Authorization", nurse)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := strings.Split(strings.TrimPrefix(r.header.Get("Location"), e.url+"/fhir/Subscription/"), "/")[0]
	waitUntil(t, "the handshake", func() bool { return len(v.all()) == 1 })
	for _, param := range []string{
		`{"name":"eventsSinceNumber","valueInteger":2}`,
		`{"name":"eventsUntilNumber","valueUnsignedInt":2}`,
		`{"name":"eventsSinceNumber"}`,
	} {
		r := e.do("POST", "/fhir/Subscription/"+id+"/$events", `{"resourceType":"Parameters","parameter":[`+param+`]}`, "Authorization", nurse)
		if r.status != 400 || !strings.Contains(string(r.body), "must be a non-negative integer") {
			t.Errorf("%s: %d %s, want 400", param, r.status, r.body)
		}
	}
	r = e.do("POST", "/fhir/Subscription/"+id+"/$events", `{"resourceType":"Parameters","parameter":[{"name":"eventsSinceNumber","valueString":"1"}]}`, "Authorization", nurse)
	if r.status != 200 {
		t.Errorf("valueString: %d %s", r.status, r.body)
	}
}
