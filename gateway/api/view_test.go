package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// viewObs is an Observation with elements in the summary (status, code,
// subject, valueQuantity, component.code), others not (text, category,
// interpretation, referenceRange, component.interpretation).
func viewObs(id string) string {
	return `{"resourceType":"Observation","id":"` + id + `",` +
		`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">BP 120/80</div>"},` +
		`"status":"final","category":[{"text":"vital-signs"}],"code":{"text":"BP"},"subject":{"reference":"Patient/p1"},` +
		`"valueQuantity":{"value":120,"unit":"mmHg"},"interpretation":[{"text":"high"}],"referenceRange":[{"text":"normal"}],` +
		`"component":[{"code":{"text":"systolic"},"valueQuantity":{"value":120},"interpretation":[{"text":"high"}]}]}`
}

// viewPatient is a Patient with a photo, outside the summary.
const viewPatient = `{"resourceType":"Patient","id":"p1","active":true,"name":[{"family":"Martin"}],"photo":[{"contentType":"image/png","data":"aGVsbG8="}]}`

// keysOf are the top-level names of a JSON object, sorted.
func keysOf(t *testing.T, js []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatalf("not a JSON object: %s", js)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// subsetted reports whether a resource carries meta.tag SUBSETTED.
func subsetted(t *testing.T, js []byte) bool {
	t.Helper()
	var r struct {
		Meta struct {
			Tag []struct{ System, Code string }
		}
	}
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatalf("not a resource: %s", js)
	}
	for _, tag := range r.Meta.Tag {
		if tag.System == "http://terminology.hl7.org/CodeSystem/v3-ObservationValue" && tag.Code == "SUBSETTED" {
			return true
		}
	}
	return false
}

// entries are a searchset's entries: the resource, its search mode.
type viewEntry struct {
	Resource json.RawMessage
	Search   struct{ Mode string }
}

func searchset(t *testing.T, r resp) (total float64, entries []viewEntry, links map[string]string) {
	t.Helper()
	var b struct {
		Total float64
		Entry []viewEntry
		Link  []struct{ Relation, URL string }
	}
	if r.status != 200 || json.Unmarshal(r.body, &b) != nil {
		t.Fatalf("search = %d %s", r.status, r.body)
	}
	links = map[string]string{}
	for _, l := range b.Link {
		links[l.Relation] = l.URL
	}
	return b.Total, b.Entry, links
}

var (
	allKeys  = []string{"category", "code", "component", "id", "interpretation", "meta", "referenceRange", "resourceType", "status", "subject", "text", "valueQuantity"}
	summKeys = []string{"code", "component", "id", "meta", "resourceType", "status", "subject", "valueQuantity"}
)

// TestReadView: a read and a vread answer the view _summary or _elements
// asks for (R4 http.html#parameters, search.html#summary and #elements),
// tagged SUBSETTED, with the ETag of the version; the mandatory elements
// (status, code) stay whatever is asked.
func TestReadView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if r := e.do("PUT", "/fhir/Observation/o1", viewObs("o1")); r.status != 201 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	whole := e.do("GET", "/fhir/Observation/o1", "")
	views := map[string][]byte{}
	tests := []struct {
		query  string
		keys   []string
		tagged bool
	}{
		{"", allKeys, false},
		{"_summary=false", allKeys, false},
		{"_summary=true", summKeys, true},
		{"_summary=text", []string{"code", "id", "meta", "resourceType", "status", "text"}, true},
		{"_summary=data", slices.DeleteFunc(slices.Clone(allKeys), func(k string) bool { return k == "text" }), true},
		{"_elements=id,status,code", []string{"code", "id", "meta", "resourceType", "status"}, true},
		{"_elements=value", []string{"code", "id", "meta", "resourceType", "status", "valueQuantity"}, true},
		{"_elements=valueQuantity,interpretation", []string{"code", "id", "interpretation", "meta", "resourceType", "status", "valueQuantity"}, true},
		// lenient: an unknown element is left out, the others applied
		{"_elements=status,colour", []string{"code", "id", "meta", "resourceType", "status"}, true},
		{"_elements=colour", allKeys, false},
	}
	for i, tt := range tests {
		for _, path := range []string{"/fhir/Observation/o1", "/fhir/Observation/o1/_history/1"} {
			r := e.do("GET", path+"?"+tt.query, "")
			if r.status != 200 {
				t.Errorf("GET %s?%s = %d %s", path, tt.query, r.status, r.body)
				continue
			}
			if got := keysOf(t, r.body); !slices.Equal(got, tt.keys) || subsetted(t, r.body) != tt.tagged {
				t.Errorf("GET %s?%s: elements %v, tagged %v; want %v, %v\n%s", path, tt.query, got, subsetted(t, r.body), tt.keys, tt.tagged, r.body)
			}
			if r.header.Get("ETag") != whole.header.Get("ETag") {
				t.Errorf("GET %s?%s: ETag %s, want the version's %s", path, tt.query, r.header.Get("ETag"), whole.header.Get("ETag"))
			}
			views[fmt.Sprintf("read-%d-%d", i, len(path))] = r.body
		}
	}
	// The summary of a backbone element is its summary elements.
	r := e.do("GET", "/fhir/Observation/o1?_summary=true", "")
	if strings.Contains(string(r.body), "high") || !strings.Contains(string(r.body), `"component":[{"code":{"text":"systolic"},"valueQuantity":{"value":120}}]`) {
		t.Errorf("_summary=true: component not cut to its summary: %s", r.body)
	}
	// Through a batch, as on its own.
	r = e.do("POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation/o1?_elements=status"}}]}`)
	var b struct {
		Entry []struct{ Resource json.RawMessage }
	}
	if r.status != 200 || json.Unmarshal(r.body, &b) != nil || len(b.Entry) != 1 || !subsetted(t, b.Entry[0].Resource) ||
		!slices.Equal(keysOf(t, b.Entry[0].Resource), []string{"code", "id", "meta", "resourceType", "status"}) {
		t.Errorf("batch GET Observation/o1?_elements=status = %d %s", r.status, r.body)
	}
	// What cannot be read is a 400, lenient or strict; an unknown
	// element is one under Prefer: handling=strict.
	for _, tt := range []struct {
		query  string
		strict bool
	}{
		{"_summary=count", false}, {"_summary=maybe", false}, {"_summary=true&_elements=status", false},
		{"_summary=true&_summary=text", false}, {"_elements=", false}, {"_elements=status,colour", true},
	} {
		var h []string
		if tt.strict {
			h = []string{"Prefer", "handling=strict"}
		}
		for _, path := range []string{"/fhir/Observation/o1", "/fhir/Observation/o1/_history/1"} {
			if r := e.do("GET", path+"?"+tt.query, "", h...); r.status != 400 || !strings.Contains(string(r.body), "OperationOutcome") {
				t.Errorf("GET %s?%s (strict %v) = %d %s, want 400", path, tt.query, tt.strict, r.status, r.body)
			}
		}
	}
	validate(t, views)
}

// TestSearchView: a search answers each match in the view asked for, its
// later pages too (the links repeat the view), and each included
// resource in the summary asked for, never in the _elements of the
// searched type ("the list of elements does not apply to included
// resources", R4 search.html#elements); the view changes neither the
// matches nor the total.
func TestSearchView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if r := e.do("PUT", "/fhir/Patient/p1", viewPatient); r.status != 201 {
		t.Fatalf("PUT Patient = %d %s", r.status, r.body)
	}
	for _, id := range []string{"o1", "o2", "o3"} {
		if r := e.do("PUT", "/fhir/Observation/"+id, viewObs(id)); r.status != 201 {
			t.Fatalf("PUT = %d %s", r.status, r.body)
		}
	}
	views := map[string][]byte{}
	keep := func(js []byte) { views[fmt.Sprintf("entry-%d", len(views))] = js }
	tests := []struct {
		view, link  string
		match       []string
		patientKeys []string // the included Patient
		patientCut  bool
		warning     bool
	}{
		{"_summary=true", "_summary=true", summKeys, []string{"active", "id", "meta", "name", "resourceType"}, true, false},
		// the Patient has no text: nothing to cut, nor to tag
		{"_summary=data", "_summary=data", slices.DeleteFunc(slices.Clone(allKeys), func(k string) bool { return k == "text" }),
			[]string{"active", "id", "meta", "name", "photo", "resourceType"}, false, false},
		// the Patient is never cut by the Observation's _elements
		{"_elements=status,value,colour", "_elements=status,value", []string{"code", "id", "meta", "resourceType", "status", "valueQuantity"},
			[]string{"active", "id", "meta", "name", "photo", "resourceType"}, false, true},
	}
	base := "/fhir/Observation?subject=Patient/p1&_sort=_id&_count=2&_include=Observation:subject&"
	for _, tt := range tests {
		total, entries, links := searchset(t, e.do("GET", base+tt.view, ""))
		if total != 3 {
			t.Errorf("%s: total %v, want 3", tt.view, total)
		}
		var matches, patients, outcomes int
		check := func(page string, entries []viewEntry) {
			for _, en := range entries {
				switch en.Search.Mode {
				case "match":
					matches++
					if got := keysOf(t, en.Resource); !slices.Equal(got, tt.match) || !subsetted(t, en.Resource) {
						t.Errorf("%s, %s: match %v, want %v tagged SUBSETTED: %s", tt.view, page, got, tt.match, en.Resource)
					}
					keep(en.Resource)
				case "include":
					patients++
					if got := keysOf(t, en.Resource); !slices.Equal(got, tt.patientKeys) || subsetted(t, en.Resource) != tt.patientCut {
						t.Errorf("%s, %s: included %v (tagged %v), want %v (tagged %v)", tt.view, page, got, subsetted(t, en.Resource), tt.patientKeys, tt.patientCut)
					}
					keep(en.Resource)
				case "outcome":
					outcomes++
				}
			}
		}
		check("page 1", entries)
		if want := "?subject=Patient/p1&_sort=_id&_count=2&_include=Observation:subject&" + tt.link; !strings.HasSuffix(links["self"], want) {
			t.Errorf("%s: self link %s, want it to end in %s", tt.view, links["self"], want)
		}
		next, err := url.Parse(links["next"])
		if err != nil || !strings.HasSuffix(links["next"], "&"+tt.link) {
			t.Fatalf("%s: next link %q does not repeat %s", tt.view, links["next"], tt.link)
		}
		_, entries, links = searchset(t, e.do("GET", next.RequestURI(), ""))
		check("page 2", entries)
		if !strings.HasSuffix(links["previous"], "&"+tt.link) {
			t.Errorf("%s: previous link %q does not repeat %s", tt.view, links["previous"], tt.link)
		}
		if matches != 3 || patients != 2 || (outcomes == 2) != tt.warning {
			t.Errorf("%s: %d matches, %d included, %d outcomes; want 3, 2 and a warning %v", tt.view, matches, patients, outcomes, tt.warning)
		}
	}
	// By POST, as by GET.
	r := e.do("POST", "/fhir/Observation/_search", "_id=o1&_summary=text", "Content-Type", "application/x-www-form-urlencoded")
	if _, entries, _ := searchset(t, r); len(entries) != 1 || !slices.Equal(keysOf(t, entries[0].Resource), []string{"code", "id", "meta", "resourceType", "status", "text"}) {
		t.Errorf("POST _search _summary=text: %s", r.body)
	}
	// _summary=text with an include is refused (R4 search.html#summary:
	// they cannot be mixed); _elements with another summary too.
	for _, q := range []string{"_summary=text&_include=Observation:subject", "_summary=text&_revinclude=Provenance:target", "_summary=data&_elements=status"} {
		if r := e.do("GET", "/fhir/Observation?"+q, ""); r.status != 400 {
			t.Errorf("Observation?%s = %d %s, want 400", q, r.status, r.body)
		}
	}
	// Strict, an unknown element is a 400, as an unknown parameter is.
	if r := e.do("GET", "/fhir/Observation?_elements=status,colour", "", "Prefer", "handling=strict"); r.status != 400 || !strings.Contains(string(r.body), "colour") {
		t.Errorf("strict _elements=status,colour = %d %s, want 400 naming colour", r.status, r.body)
	}
	validate(t, views)
}

// TestViewConsent: a view is cut from what consent lets the caller see,
// after it decided: with every view the GP finds the same resources, and
// the same total, as without one, and never more of a resource than its
// whole; a resource she may not see is not found in any view.
func TestViewConsent(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	gp := e.as("PractitionerRole/gp")
	_, want := ids(t, e.do("GET", "/fhir/Observation?_sort=_id&_include=Observation:subject", "", "Authorization", gp).body)
	if strings.Join(want, " ") != "Observation/o-clin Observation/o-func Patient/p1" {
		t.Fatalf("the GP sees %v", want)
	}
	for _, view := range []string{"_summary=true", "_summary=text", "_summary=data", "_elements=status", "_elements=subject,colour"} {
		q := "/fhir/Observation?_sort=_id&" + view
		if !strings.HasPrefix(view, "_summary=text") {
			q += "&_include=Observation:subject"
		}
		r := e.do("GET", q, "", "Authorization", gp)
		total, got := ids(t, r.body)
		if total != 2 || !slices.Equal(got, want) && !(view == "_summary=text" && slices.Equal(got, want[:2])) {
			t.Errorf("GP, %s: total %d, %v; want 2, %v", view, total, got, want)
		}
		if strings.Contains(string(r.body), "PSY") || strings.Contains(string(r.body), "o-other") {
			t.Errorf("GP, %s: the answer names what she may not see: %s", view, r.body)
		}
		if c, _ := ids(t, e.do("GET", "/fhir/Observation?_count=0&"+view, "", "Authorization", gp).body); c != 2 {
			t.Errorf("GP, _count=0&%s: %d, want 2", view, c)
		}
		for _, id := range []string{"o-psy", "o-other"} {
			if r := e.do("GET", "/fhir/Observation/"+id+"?"+view, "", "Authorization", gp); r.status != 404 {
				t.Errorf("GP reads %s?%s = %d, want 404", id, view, r.status)
			}
		}
	}
}

// TestCapabilityView: the CapabilityStatement says which views reads and
// searches give, where the searchParam lists hold the filters alone.
func TestCapabilityView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	var cs struct {
		Rest []struct{ Documentation string }
	}
	if err := json.Unmarshal(e.do("GET", "/fhir/metadata", "").body, &cs); err != nil || len(cs.Rest) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	for _, want := range []string{"_summary (true, text, data, false", "_elements", "SUBSETTED"} {
		if !strings.Contains(cs.Rest[0].Documentation, want) {
			t.Errorf("rest.documentation %q does not say %q", cs.Rest[0].Documentation, want)
		}
	}
}

// TestAuditLogWhole: the audit log shows its entries whole, each a leaf
// of its Merkle tree that only the whole of it proves: its search reports
// a view ignored, or refuses it when strict, and never tags an entry.
func TestAuditLogWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.do("PUT", "/fhir/Observation/o1", viewObs("o1"))
	e.do("GET", "/fhir/Observation/o1", "")
	for _, q := range []string{"_summary=true", "_elements=id,type"} {
		r := e.do("GET", "/fhir/AuditEvent?"+q, "")
		_, entries, links := searchset(t, r)
		if !strings.Contains(string(r.body), "ignored") || strings.Contains(links["self"], q) {
			t.Errorf("AuditEvent?%s: no warning, or a self link stating it: %s", q, r.body)
		}
		matches := 0
		for _, en := range entries {
			if en.Search.Mode == "match" {
				matches++
				if subsetted(t, en.Resource) {
					t.Errorf("AuditEvent?%s: an entry tagged SUBSETTED: %s", q, en.Resource)
				}
			}
		}
		if matches == 0 {
			t.Errorf("AuditEvent?%s: no entry: %s", q, r.body)
		}
		if r := e.do("GET", "/fhir/AuditEvent?"+q, "", "Prefer", "handling=strict"); r.status != 400 {
			t.Errorf("strict AuditEvent?%s = %d, want 400", q, r.status)
		}
	}
}

// TestSubsettedNotWritten: a view written back (an update, a create, a
// patch that tags, a transaction entry) is refused with 422 and the
// resource stays whole: R4 tags a view SUBSETTED so that it never
// overwrites the complete resource (search.html#summary).
func TestSubsettedNotWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if r := e.do("PUT", "/fhir/Observation/o1", viewObs("o1")); r.status != 201 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	part := e.do("GET", "/fhir/Observation/o1?_summary=true", "").body
	tag := `{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}`
	for _, w := range []struct{ method, path, body, contentType string }{
		{"PUT", "/fhir/Observation/o1", string(part), ""},
		{"PUT", "/fhir/Observation/absent", strings.Replace(string(part), `"id":"o1"`, `"id":"absent"`, 1), ""},
		{"POST", "/fhir/Observation", strings.Replace(string(part), `"id":"o1",`, "", 1), ""},
		{"PATCH", "/fhir/Observation/o1", `[{"op":"add","path":"/meta/tag","value":[` + tag + `]}]`, "application/json-patch+json"},
		{"POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + string(part) + `,"request":{"method":"PUT","url":"Observation/o1"}}]}`, ""},
	} {
		var h []string
		if w.contentType != "" {
			h = []string{"Content-Type", w.contentType}
		}
		if r := e.do(w.method, w.path, w.body, h...); r.status != 422 || !strings.Contains(string(r.body), "SUBSETTED") {
			t.Errorf("%s %s of a view = %d %s, want 422", w.method, w.path, r.status, r.body)
		}
	}
	r := e.do("GET", "/fhir/Observation/o1", "")
	if r.header.Get("ETag") != `W/"1"` || !strings.Contains(string(r.body), "interpretation") {
		t.Errorf("after the refused writes, o1 = %s %s, want version 1 whole", r.header.Get("ETag"), r.body)
	}
	if r := e.do("GET", "/fhir/Observation/absent", ""); r.status != 404 {
		t.Errorf("a refused update created Observation/absent: %d", r.status)
	}
	if total, _, _ := searchset(t, e.do("GET", "/fhir/Observation?_summary=count", "")); total != 1 {
		t.Errorf("%v Observations after the refused writes, want 1", total)
	}
}
