package api_test

// Minimum necessary for recipients outside the care team: DESIGN.md's
// data category ORD is "the order/task/activity addressed to a
// recipient", and a candidate "sees only the Task, its ServiceRequest and
// who and where the patient is". A home-help service the patient permits
// (the default categories ADM, ORD, FUNC, SOC, or ORD named) receives
// her own Task and request, not the cardiologist's, which says why the
// patient was in hospital; for her, another recipient's order is as if
// it did not exist, on every read path.

import (
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

func TestPermitShowsOnlyOwnOrders(t *testing.T) {
	t.Parallel()
	class := func(codes ...string) string {
		var cs []string
		for _, c := range codes {
			cs = append(cs, `{"system":"`+category.System+`","code":"`+c+`"}`)
		}
		return `,"class":[` + strings.Join(cs, ",") + `]`
	}
	for name, extra := range map[string]string{
		"the default permit":             "",
		"a permit naming ORD, FUNC, SOC": class("ORD", "FUNC", "SOC"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t)
			s.community()
			s.discharge(stay{patient: "p1", encounter: "e-p1", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
			p := s.route("e-p1")
			helper := "PractitionerRole/homehelp-nord"
			if r := s.do("POST", "/fhir/Consent", consentJSON("", "Patient/p1", "OPTIN", "Organization/nord", extra), "Authorization", s.as(scenOfficer)); r.status != 201 {
				t.Fatalf("the permit: %d %s", r.status, r.body)
			}
			tok := s.as(helper)
			mine := p.only(t, "home-help")
			if taskStatus(s.task(mine.GetId().GetValue())) != "requested" {
				t.Fatalf("the home help's Task was not released by the permit")
			}
			myTask, myRequest := "Task/"+mine.GetId().GetValue(), resource.RefString(mine.GetFocus())
			cardio := p.only(t, "cardiologist")
			theirTask, theirRequest := "Task/"+cardio.GetId().GetValue(), resource.RefString(cardio.GetFocus())

			// Her own order, she reads.
			for _, ref := range []string{myTask, myRequest} {
				if r := s.do("GET", "/fhir/"+ref, "", "Authorization", tok); r.status != 200 {
					t.Errorf("the home help reads her %s: %d", ref, r.status)
				}
			}
			// Another's is answered as one that does not exist.
			hiddenAs := map[string]string{
				"/fhir/" + theirTask:                          "/fhir/Task/no-such-task",
				"/fhir/" + theirRequest:                       "/fhir/ServiceRequest/no-such-request",
				"/fhir/" + theirTask + "/_history":            "/fhir/Task/no-such-task/_history",
				"/fhir/" + theirTask + "/_history/1":          "/fhir/Task/no-such-task/_history/1",
				"/fhir/" + theirRequest + "/_history/1":       "/fhir/ServiceRequest/no-such-request/_history/1",
				"/fhir/Task?_id=" + cardio.GetId().GetValue(): "/fhir/Task?_id=no-such-task",
			}
			for hidden, absent := range hiddenAs {
				h := s.do("GET", hidden, "", "Authorization", tok)
				a := s.do("GET", absent, "", "Authorization", tok)
				h.body = []byte(strings.ReplaceAll(string(h.body), strings.TrimPrefix(hidden, "/fhir/"), strings.TrimPrefix(absent, "/fhir/")))
				if !sameOracle(h, a) {
					t.Errorf("GET %s as the home help: %d %s\nwhere absent: %d %s", hidden, h.status, h.body, a.status, a.body)
				}
			}
			// Searches, includes, history and pages hold hers only.
			for path, want := range map[string][]string{
				"/fhir/Task?patient=Patient/p1":                                      {myTask},
				"/fhir/ServiceRequest?patient=Patient/p1":                            {myRequest},
				"/fhir/Task?patient=Patient/p1&_include=Task:focus":                  {myTask, myRequest},
				"/fhir/ServiceRequest?patient=Patient/p1&_revinclude=Task:focus":     {myRequest, myTask},
				"/fhir/Patient?_id=p1&_revinclude=Task:patient":                      {"Patient/p1", myTask},
				"/fhir/Task/_history":                                                {myTask},
				"/fhir/ServiceRequest/_history":                                      {myRequest},
				"/fhir/Task?patient=Patient/p1&_count=1":                             {myTask},
				"/fhir/Task?focus=" + theirRequest + "&_include=Task:focus":          nil,
				"/fhir/Task?owner=PractitionerRole/cardio-lille&_include=Task:focus": nil,
			} {
				r := s.do("GET", path, "", "Authorization", tok)
				if r.status != 200 {
					t.Errorf("GET %s as the home help: %d %s", path, r.status, r.body)
					continue
				}
				total, got := ids(t, r.body)
				got = uniq(got)
				if !slices.Equal(got, uniq(want)) {
					t.Errorf("GET %s as the home help: %v, want %v", path, got, want)
				}
				if strings.Contains(path, "_count=1") && (total != 1 || strings.Contains(string(r.body), `"next"`)) {
					t.Errorf("GET %s as the home help: total %d, %s", path, total, r.body)
				}
			}
			// A Task she writes herself, addressed to her and about the
			// cardiologist's request, does not make it hers: a Task
			// counts for its owner only from an issuer the patient's
			// circle trusts (a system caller, her GP, her care team).
			forged := `{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient/p1"},` +
				`"owner":{"reference":"` + helper + `"},"requester":{"reference":"` + helper + `"},"focus":{"reference":"` + theirRequest + `"}}`
			_ = s.do("POST", "/fhir/Task", forged, "Authorization", tok) // taken or refused, it makes nothing hers
			if r := s.do("GET", "/fhir/"+theirRequest, "", "Authorization", tok); r.status != 404 {
				t.Errorf("after addressing a Task to herself about %s, the home help reads it: %d", theirRequest, r.status)
			}
			// The care team still receives the whole plan's orders.
			if _, got := ids(t, s.do("GET", "/fhir/Task?patient=Patient/p1", "", "Authorization", s.as(scenGP)).body); !slices.Contains(got, theirTask) || !slices.Contains(got, myTask) {
				t.Errorf("the GP's Tasks of the patient: %v", got)
			}
		})
	}
}

// uniq sorts refs and drops repeats (history lists versions).
func uniq(refs []string) []string {
	out := slices.Clone(refs)
	slices.Sort(out)
	return slices.Compact(out)
}
