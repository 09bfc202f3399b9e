package api_test

import (
	"encoding/json"
	"testing"
)

// TestBatchResponseFullURLsDistinct: a batch-response never holds two
// entries with the same fullUrl and meta.versionId (R4 bdl-7): an entry
// that would repeat one goes without its fullUrl, and its
// response.location still names the resource and version.
func TestBatchResponseFullURLsDistinct(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	task := `{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`
	if r := e.do("PUT", "/fhir/Task/t1", task); r.status != 201 {
		t.Fatalf("PUT Task/t1 = %d %s", r.status, r.body)
	}
	put := writeEntry("PUT", "Task/t2", `{"resourceType":"Task","id":"t2","status":"requested","intent":"order"}`)
	batch := bundleJSON("batch", getEntry("Task/t1"), getEntry("Task/t1"), put, put, getEntry("Task/t1"))
	r := e.do("POST", "/fhir", batch, "Prefer", "return=representation")
	if r.status != 200 {
		t.Fatalf("batch = %d %s", r.status, r.body)
	}
	var b struct {
		Entry []struct {
			FullURL  string `json:"fullUrl"`
			Resource *struct {
				Meta struct{ VersionID string } `json:"meta"`
			} `json:"resource"`
			Response struct{ Status, Location string } `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Entry) != 5 {
		t.Fatalf("%d entries, want 5: %s", len(b.Entry), r.body)
	}
	seen := map[string]int{}
	for i, en := range b.Entry {
		if en.Resource == nil || en.Response.Location == "" {
			t.Errorf("entry %d has no resource or no response.location: %s", i, r.body)
			continue
		}
		if en.FullURL == "" {
			continue
		}
		key := en.FullURL + en.Resource.Meta.VersionID
		if j, ok := seen[key]; ok {
			t.Errorf("entries %d and %d share fullUrl %s and versionId %s", j, i, en.FullURL, en.Resource.Meta.VersionID)
		}
		seen[key] = i
	}
	if b.Entry[0].FullURL == "" || b.Entry[2].FullURL == "" {
		t.Errorf("the first entry of each resource lost its fullUrl: %s", r.body)
	}
}
