package delivery

import (
	"testing"
	"time"
)

// TestNotificationShowsTheRequests: a notification's event entry shows
// the request that made its version as a history Bundle does
// (store.Record.HistoryRequest), a PATCH included: R4 Bundle.entry.request
// .method is bound to http-verb, which has PATCH; an unmapped method would
// leave the required code empty.
func TestNotificationShowsTheRequests(t *testing.T) {
	t.Parallel()
	n := &notification{kind: typeEvent, sub: &subscription{id: "s1", content: ContentIDOnly}, events: []notified{
		{number: 1, typ: "Task", id: "t1", version: 1, method: "POST", created: true},
		{number: 2, typ: "Task", id: "t2", version: 1, method: "PUT", created: true},
		{number: 3, typ: "Task", id: "t1", version: 2, method: "PUT"},
		{number: 4, typ: "Task", id: "t1", version: 3, method: "PATCH"},
		{number: 5, typ: "Task", id: "t1", version: 4, method: "DELETE"},
	}}
	b := bundle(n, "https://relais.example", time.Unix(0, 0))
	want := []string{"POST Task 201 Created", "PUT Task/t2 201 Created", "PUT Task/t1 200 OK", "PATCH Task/t1 200 OK", "DELETE Task/t1 204 No Content"}
	if len(b.GetEntry()) != len(want)+1 {
		t.Fatalf("%d entries", len(b.GetEntry()))
	}
	for i, e := range b.GetEntry()[1:] {
		got := e.GetRequest().GetMethod().GetValue().String() + " " + e.GetRequest().GetUrl().GetValue() + " " + e.GetResponse().GetStatus().GetValue()
		if got != want[i] {
			t.Errorf("event %d shows %q, want %q", i+1, got, want[i])
		}
	}
}
