package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/store"
)

func (e *env) del(typ, id string) {
	e.t.Helper()
	if _, err := e.st.Transaction(context.Background(), []store.TxEntry{{Method: "DELETE", Type: typ, ID: id}}); err != nil {
		e.t.Fatalf("DELETE %s/%s: %v", typ, id, err)
	}
}

// TestDeletionRaisesEvent: deleting a resource whose last version matched
// raises an event, notified as a DELETE entry without the resource (even
// for full-resource content); deleting one that did not match raises none.
func TestDeletionRaisesEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rc := newRecipient(t, nil)
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, ContentFull, "")
	e.waitFor("the handshake", func() bool { s, _ := e.subStatus("s1"); return s == "active" })
	e.task("t1", "PractitionerRole/nurse")
	e.task("other", "PractitionerRole/gp")
	e.del("Task", "t1")
	e.del("Task", "other")
	e.waitFor("two deliveries", func() bool { return e.counts("s1").Delivered == 2 })
	if c := e.counts("s1"); c.Last != 2 {
		t.Fatalf("counts %+v: the unmatched deletion raised an event", c)
	}
	got := rc.all()
	last := got[len(got)-1]
	var b struct {
		Entry []struct {
			Resource json.RawMessage
			Request  struct{ Method, URL string }
		}
	}
	if err := json.Unmarshal(last.body, &b); err != nil || len(b.Entry) != 2 {
		t.Fatalf("notification %s", last.body)
	}
	if en := b.Entry[1]; en.Request.Method != "DELETE" || en.Request.URL != "Task/t1" || len(en.Resource) != 0 {
		t.Fatalf("deletion entry %+v", en)
	}
	if last.number != 2 || last.focus != "Task/t1" {
		t.Fatalf("deletion event %d focus %q", last.number, last.focus)
	}
	tries, _ := e.st.Attempts("s1", 2)
	if len(tries) != 1 || tries[0].Decision == "" {
		t.Fatalf("the deletion's attempt %+v: want one, with its decision", tries)
	}
	if os.Getenv("RELAIS_VALIDATE") == "1" {
		dir := t.TempDir()
		for i, r := range got {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%d.json", i)), r.body, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		fhirtest.RunValidator(t, dir)
	}
}

// TestStoppedSubscriptionCancels: the pending events of a Subscription
// set off, or deleted, are cancelled (counted, never sent), and no event
// is raised for it after.
func TestStoppedSubscriptionCancels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RetryBase, c.RetryMax = time.Hour, time.Hour })
	var events atomic.Int32
	rc := newRecipient(t, func(int, received) int { events.Add(1); return 503 })
	for _, id := range []string{"off", "gone"} {
		e.subscribe(id, "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", rc.URL, "", "")
	}
	e.waitFor("the handshakes", func() bool {
		a, _ := e.subStatus("off")
		b, _ := e.subStatus("gone")
		return a == "active" && b == "active"
	})
	for i := range 3 {
		e.task(fmt.Sprintf("t%d", i), "PractitionerRole/nurse")
	}
	e.waitFor("the first attempts", func() bool { return events.Load() == 2 })
	rec, err := e.st.Read("Subscription", "off")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := testCodec.DecodeStored(rec.JSON)
	js, _ := testCodec.Encode(m)
	var sub map[string]any
	_ = json.Unmarshal(js, &sub)
	sub["status"] = "off"
	js, _ = json.Marshal(sub)
	e.put(string(js))
	e.del("Subscription", "gone")
	for _, id := range []string{"off", "gone"} {
		if c := e.counts(id); c.Cancelled != 3 || c.Pending != 0 {
			t.Errorf("%s: counts %+v, want 3 cancelled", id, c)
		}
	}
	body, err := e.svc.Status("off")
	if err != nil || !strings.Contains(string(body), `{"name":"cancelled","valueString":"3"}`) {
		t.Errorf("$status does not count the cancelled events: %s %v", body, err)
	}
	e.task("t9", "PractitionerRole/nurse")
	time.Sleep(50 * time.Millisecond)
	if c := e.counts("off"); c.Last != 3 {
		t.Errorf("an off Subscription got an event: %+v", c)
	}
	if n := events.Load(); n != 2 {
		t.Errorf("%d notifications sent, want only the 2 first attempts", n)
	}
}
