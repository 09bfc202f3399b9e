package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/mappings/terminology"
)

// pushReceiver is a Subscription endpoint that records the event numbers
// and focus of each notification, in the order received, answering a
// little slowly so that a backlog builds up.
type pushReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	order  []uint64          // event numbers as received, duplicates included
	focus  map[uint64]string // event number -> focus
	events atomic.Int64
}

func newPushReceiver(t *testing.T) *pushReceiver {
	pr := &pushReceiver{focus: map[uint64]string{}}
	pr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			Entry []struct {
				Resource struct {
					Parameter []struct {
						Name string
						Part []struct {
							Name           string
							ValueString    string                     `json:"valueString"`
							ValueReference struct{ Reference string } `json:"valueReference"`
						}
					}
				}
			}
		}
		if err := json.Unmarshal(body, &b); err != nil || len(b.Entry) == 0 {
			t.Errorf("not a notification: %s", body)
		}
		time.Sleep(time.Millisecond)
		pr.mu.Lock()
		for _, p := range b.Entry[0].Resource.Parameter {
			if p.Name != "notification-event" {
				continue
			}
			var n uint64
			var focus string
			for _, part := range p.Part {
				switch part.Name {
				case "event-number":
					n, _ = strconv.ParseUint(part.ValueString, 10, 64)
				case "focus":
					focus = part.ValueReference.Reference
				}
			}
			pr.order = append(pr.order, n)
			pr.focus[n] = focus
			pr.events.Add(1)
		}
		pr.mu.Unlock()
	}))
	t.Cleanup(pr.Close)
	return pr
}

// TestCrashDeliversCommittedEvents: the server process is killed
// (SIGKILL) while Tasks that match a GP's Subscription are written and
// notified; transactions that roll back are written meanwhile. After a
// restart on the same data directory every event committed is delivered
// (by number, duplicates allowed), in order, each acknowledged write has
// its event, and no write that rolled back has one.
func TestCrashDeliversCommittedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	base := "http://" + addr
	rc := newPushReceiver(t)
	starts := 0
	start := func() *exec.Cmd {
		starts++
		return startServer(t, dir, starts, "serve --dev --addr "+addr+" --data "+data+
			" --allow-endpoint-network 127.0.0.0/8 --route-interval -1s --log-level warn", base)
	}
	child := start()
	key, err := auth.LoadOrCreateDevKey(filepath.Join(dir, auth.DevKeyDir))
	if err != nil {
		t.Fatal(err)
	}
	mint := func(o auth.MintOptions) string {
		tok, err := key.Mint(o)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	system := mint(auth.MintOptions{Scope: "system/*.cruds", TTL: time.Hour})
	gp := mint(auth.MintOptions{Scope: "user/*.cruds", FHIRUser: "PractitionerRole/gp", TTL: time.Hour})
	client := &http.Client{Timeout: 20 * time.Second}
	do := func(method, path, tok, body string) (int, []byte, error) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", tok)
		req.Header.Set("Content-Type", "application/fhir+json")
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	must := func(method, path, tok, body string, want ...int) []byte {
		t.Helper()
		code, b, err := do(method, path, tok, body)
		if err != nil || !bytes.Contains([]byte(fmt.Sprint(want)), []byte(strconv.Itoa(code))) {
			t.Fatalf("%s %s: %d %v %s", method, path, code, err, b)
		}
		return b
	}
	must("PUT", "/fhir/PractitionerRole/gp", system, fmt.Sprintf(`{"resourceType":"PractitionerRole","id":"gp","active":true,"code":[{"coding":[{"system":"%s","code":"10"}]}]}`, terminology.TREG15), 200, 201)
	must("PUT", "/fhir/PractitionerRole/nurse", system, `{"resourceType":"PractitionerRole","id":"nurse","active":true}`, 200, 201)
	must("PUT", "/fhir/Patient/p1", system, `{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`, 200, 201)
	var created struct{ ID string }
	_ = json.Unmarshal(must("POST", "/fhir/Subscription", gp, `{"resourceType":"Subscription","status":"requested","reason":"my patients' Tasks",`+
		`"criteria":"Task?owner=PractitionerRole/nurse","channel":{"type":"rest-hook","endpoint":"`+rc.URL+`","payload":"application/fhir+json"}}`, 201), &created)
	sub := created.ID
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(must("GET", "/fhir/Subscription/"+sub, gp, "", 200), []byte(`"status":"active"`)) {
		if time.Now().After(deadline) {
			t.Fatal("the Subscription never became active")
		}
		time.Sleep(20 * time.Millisecond)
	}

	task := func(id string) string {
		return `{"resourceType":"Task","id":"` + id + `","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"owner":{"reference":"PractitionerRole/nurse"}}`
	}
	const killAfter = 150
	var acked sync.Map // Task id -> true: the write was answered 2xx
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 4 {
				if i%5 == 0 {
					// A transaction that rolls back: its Task matches, its
					// second entry fails its If-Match.
					bundle := `{"resourceType":"Bundle","type":"transaction","entry":[` +
						`{"resource":` + task(fmt.Sprintf("rb%d", i)) + `,"request":{"method":"PUT","url":"Task/rb` + strconv.Itoa(i) + `"}},` +
						`{"resource":{"resourceType":"PractitionerRole","id":"nurse","active":true},"request":{"method":"PUT","url":"PractitionerRole/nurse","ifMatch":"W/\"999\""}}]}`
					code, _, err := do("POST", "/fhir", system, bundle)
					if err != nil {
						return
					}
					if code < 400 {
						t.Errorf("the rolled-back transaction answered %d", code)
					}
					continue
				}
				id := fmt.Sprintf("t%d", i)
				code, _, err := do("PUT", "/fhir/Task/"+id, system, task(id))
				if err != nil {
					return // the server is gone
				}
				if code != 201 {
					t.Errorf("PUT Task/%s: %d", id, code)
					return
				}
				acked.Store(id, true)
				if n.Add(1) == killAfter {
					_ = child.Process.Kill()
				}
			}
		}()
	}
	wg.Wait()
	_ = child.Wait()
	atKill := rc.events.Load()

	child = start()
	var last uint64
	deadline = time.Now().Add(30 * time.Second)
	for {
		var st struct {
			Entry []struct {
				Resource struct {
					Parameter []struct {
						Name        string
						ValueString string `json:"valueString"`
						Part        []struct {
							Name        string
							ValueString string `json:"valueString"`
						}
					}
				}
			}
		}
		_ = json.Unmarshal(must("GET", "/fhir/Subscription/"+sub+"/$status", gp, "", 200), &st)
		pending := "?"
		for _, p := range st.Entry[0].Resource.Parameter {
			if p.Name == "events-since-subscription-start" {
				last, _ = strconv.ParseUint(p.ValueString, 10, 64)
			}
			for _, part := range p.Part {
				if p.Name == "relais-event-counts" && part.Name == "pending" {
					pending = part.ValueString
				}
			}
		}
		if pending == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still pending 30 s after the restart (%s of %d)", pending, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = child.Process.Signal(syscall.SIGTERM)
	if err := child.Wait(); err != nil {
		t.Fatalf("restarted server: %v", err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	var firsts []uint64
	seen := map[uint64]bool{}
	for _, num := range rc.order {
		if !seen[num] {
			seen[num] = true
			firsts = append(firsts, num)
		}
	}
	for i, num := range firsts {
		if num != uint64(i+1) {
			t.Fatalf("first deliveries out of order at %d: event %d (received %v)", i, num, firsts)
		}
	}
	if uint64(len(firsts)) != last {
		t.Fatalf("%d events delivered, the outbox holds %d", len(firsts), last)
	}
	tasks := map[string]bool{}
	for _, f := range rc.focus {
		if strings.HasPrefix(f, "Task/rb") {
			t.Errorf("an event for a write that rolled back: %s", f)
		}
		tasks[strings.TrimPrefix(f, "Task/")] = true
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if !tasks[k.(string)] {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Errorf("%d acknowledged Task writes have no event", missing)
	}
	if atKill >= int64(last) {
		t.Errorf("everything was delivered before the kill (%d of %d): the test did not exercise recovery", atKill, last)
	}
	t.Logf("%d Task writes acknowledged, %d events; %d notifications received before the kill, %d in all (%d duplicates)",
		n.Load(), last, atKill, len(rc.order), len(rc.order)-len(firsts))
}
