package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/routing"
)

// A patient's discharge plan as routing wrote it (README, "Pathways"): the
// CarePlan instantiating the pathway, each ServiceRequest, and the chain
// of Tasks that asked one recipient after another, with the routing
// explanation each Task carries in its notes. A coordinator re-assigns a
// Task or cancels it under the API's Task rules (R4 Task state machine,
// https://hl7.org/fhir/R4/task.html#statemachine): the console only asks.

type planData struct {
	Plans                                       []carePlanView
	Requests                                    []requestView
	Directory                                   []party
	Waiting, NoCandidate, TimedOut, Undelivered int
}

type carePlanView struct {
	ID, Title, Status, Pathway, Period string
	Progress                           []string
}

type requestView struct {
	ID, What, Role, Status, Window string
	Anchor                         string // the ServiceRequest's id, for the page's ids
	Tasks                          []taskView
}

type taskView struct {
	ID, Version, Status, Owner, Requester, Deadline, Authored string
	Reason, Business                                          string
	Notes                                                     []string
	Waiting, NoCandidate, TimedOut, Undelivered, Open         bool
}

func (c *Console) plan(w http.ResponseWriter, r *http.Request, s *session) error {
	k := c.callerOf(r, s)
	dir := directoryOf(k)
	p, err := c.loadPatient(k, r, dir)
	if err != nil {
		return err
	}
	v := c.newView(r, s, "title.plan")
	v.Patient, v.Tab = p, "plan"
	q := url.Values{"patient": {"Patient/" + p.ID}, "_count": {"500"}}
	plans, err := k.search(query("/fhir/CarePlan", q))
	if err != nil {
		return err
	}
	requests, err := k.search(query("/fhir/ServiceRequest", q))
	if err != nil {
		return err
	}
	tasks, err := k.search(query("/fhir/Task", q))
	if err != nil {
		return err
	}
	d := &planData{Directory: dir.list}
	for _, m := range plans {
		if cp, ok := m.(*cppb.CarePlan); ok {
			d.Plans = append(d.Plans, carePlanOf(v.lang, dir, cp))
		}
	}
	byFocus := map[string][]taskView{}
	for _, m := range tasks {
		t, ok := m.(*tpb.Task)
		if !ok {
			continue
		}
		tv := taskOf(v.lang, t, dir)
		d.count(tv)
		focus := resource.RefString(t.GetFocus())
		byFocus[focus] = append(byFocus[focus], tv)
	}
	for _, m := range requests {
		sr, ok := m.(*srpb.ServiceRequest)
		if !ok {
			continue
		}
		ref := "ServiceRequest/" + resource.ID(sr)
		rv := requestOf(v.lang, sr)
		rv.Tasks = byFocus[ref]
		delete(byFocus, ref)
		d.Requests = append(d.Requests, rv)
	}
	// Tasks about no ServiceRequest the caller sees (a referral's, or a
	// request she may not read) still show.
	for focus, ts := range byFocus {
		d.Requests = append(d.Requests, requestView{ID: focus, Tasks: ts})
	}
	sort.Slice(d.Requests, func(i, j int) bool { return d.Requests[i].ID < d.Requests[j].ID })
	for i, rv := range d.Requests {
		d.Requests[i].Anchor = strconv.Itoa(i + 1)
		// The chain in order: a next candidate's Task is authored after
		// the one it follows and its id ends in -2, -3...
		sort.SliceStable(rv.Tasks, func(i, j int) bool { return chainLess(rv.Tasks[i], rv.Tasks[j]) })
	}
	v.Data = d
	c.render(w, http.StatusOK, "plan", v)
	return nil
}

func (d *planData) count(t taskView) {
	switch {
	case t.Waiting:
		d.Waiting++
	case t.NoCandidate:
		d.NoCandidate++
	case t.TimedOut:
		d.TimedOut++
	}
	if t.Undelivered {
		d.Undelivered++
	}
}

func chainLess(a, b taskView) bool {
	if a.Authored != b.Authored {
		return a.Authored < b.Authored
	}
	return a.ID < b.ID
}

func carePlanOf(l lang, dir *directory, cp *cppb.CarePlan) carePlanView {
	v := carePlanView{ID: resource.ID(cp), Title: cp.GetTitle().GetValue(), Status: code(cp.GetStatus().GetValue().String()),
		Period: periodText(l, cp.GetPeriod())}
	if v.Title == "" {
		v.Title = cp.GetDescription().GetValue()
	}
	if strings.HasPrefix(v.ID, "route-") {
		v.Title = l.t("title.plan") // routing's: "Discharge plan"
	}
	for _, ic := range cp.GetInstantiatesCanonical() {
		u := ic.GetValue()
		u, _, _ = strings.Cut(u, "|") // canonical|version
		v.Pathway = u[strings.LastIndex(u, "/")+1:]
	}
	for _, a := range cp.GetActivity() {
		for _, n := range a.GetProgress() {
			v.Progress = append(v.Progress, explanation(l, dir, n.GetExtension(), n.GetText().GetValue()))
		}
	}
	return v
}

func requestOf(l lang, sr *srpb.ServiceRequest) requestView {
	v := requestView{ID: "ServiceRequest/" + resource.ID(sr), What: conceptText(sr.GetCode()),
		Role: conceptText(sr.GetPerformerType()), Status: code(sr.GetStatus().GetValue().String()),
		Window: periodText(l, sr.GetOccurrence().GetPeriod())}
	// a routing request's role, a pathway role, in words of l
	for _, cd := range sr.GetPerformerType().GetCoding() {
		if cd.GetSystem().GetValue() == pathways.RoleSystem {
			v.Role = l.role(cd.GetCode().GetValue())
			break
		}
	}
	return v
}

func taskOf(l lang, t *tpb.Task, dir *directory) taskView {
	v := taskView{ID: resource.ID(t), Version: versionID(t), Status: code(t.GetStatus().GetValue().String()),
		Owner: dir.label(resource.RefString(t.GetOwner())), Requester: dir.name(resource.RefString(t.GetRequester())),
		Reason: reasonText(l, dir, t.GetStatusReason()), Business: reasonText(l, dir, t.GetBusinessStatus())}
	if end := t.GetRestriction().GetPeriod().GetEnd(); end != nil {
		v.Deadline = l.when(dateTimeOf(end))
	}
	if a := t.GetAuthoredOn(); a != nil {
		v.Authored = dateTimeOf(a).UTC().Format("2006-01-02T15:04:05")
	}
	for _, n := range t.GetNote() {
		v.Notes = append(v.Notes, explanation(l, dir, n.GetExtension(), n.GetText().GetValue()))
	}
	v.Waiting = v.Status == "on-hold"
	v.NoCandidate = strings.EqualFold(t.GetBusinessStatus().GetText().GetValue(), "no candidate")
	v.TimedOut = v.Status == "cancelled" && (routing.ReasonCode(t.GetStatusReason()) == routing.NoAnswerCode ||
		strings.HasPrefix(t.GetStatusReason().GetText().GetValue(), routing.NoAnswer))
	for _, cd := range t.GetBusinessStatus().GetCoding() {
		switch cd.GetCode().GetValue() {
		case "undelivered":
			v.Undelivered = true
		case "no-candidate":
			v.NoCandidate = true
		}
	}
	switch v.Status {
	case "completed", "cancelled", "failed", "entered-in-error":
	default:
		v.Open = true
	}
	return v
}

func periodText(l lang, p *dtpb.Period) string {
	if p == nil {
		return ""
	}
	var s, e string
	if p.GetStart() != nil {
		s = l.day(dateTimeOf(p.GetStart()))
	}
	if p.GetEnd() != nil {
		e = l.day(dateTimeOf(p.GetEnd()))
	}
	if s == "" && e == "" {
		return ""
	}
	return s + " → " + e
}

// assignTask gives a Task to another owner: the requester's change (R4
// Task.owner; the API's Task rules). A received or rejected Task asked of
// someone else is requested again, which the state machine allows only
// with the re-assignment.
func (c *Console) assignTask(w http.ResponseWriter, r *http.Request, s *session) error {
	id, tid, ok := taskPath(r)
	if !ok {
		return errNotFound
	}
	owner := r.PostFormValue("owner")
	typ, oid, found := strings.Cut(owner, "/")
	if !found || oid == "" || !(typ == "PractitionerRole" || typ == "Organization" || typ == "HealthcareService" || typ == "Practitioner") {
		return &pageError{status: http.StatusBadRequest, key: "err.owner"}
	}
	k := c.callerOf(r, s)
	m, _, err := k.read("/fhir/Task/" + tid)
	if err != nil {
		return err
	}
	t, isTask := m.(*tpb.Task)
	if !isTask {
		return errNotFound
	}
	ops := []string{`{"op":"replace","path":"/owner","value":{"reference":` + jsonString(owner) + `}}`}
	switch st := code(t.GetStatus().GetValue().String()); st {
	case "received", "rejected":
		ops = append(ops, `{"op":"replace","path":"/status","value":"requested"}`)
	}
	if err := c.patchTask(k, r, tid, versionID(t), ops); err != nil {
		return err
	}
	c.done(w, r, s, Prefix+"/patients/"+id+"/plan", "done.assigned")
	return nil
}

// cancelTask cancels a Task (its requester's move) with the reason given.
func (c *Console) cancelTask(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.takeOff(w, r, s, false)
}

// rerouteTask cancels a routing Task with the re-route reason: the API
// asks the next candidate in the same write (routing.ReRoute).
func (c *Console) rerouteTask(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.takeOff(w, r, s, true)
}

// takeOff cancels a Task, to re-route it or not.
func (c *Console) takeOff(w http.ResponseWriter, r *http.Request, s *session, reroute bool) error {
	id, tid, ok := taskPath(r)
	if !ok {
		return errNotFound
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		reason = langOf(r).t("plan.cancel.default")
	}
	coding := ""
	if reroute {
		coding = `"coding":[{"system":` + jsonString(routing.RoutingStatus) + `,"code":` + jsonString(routing.ReRoute) + `}],`
	}
	ops := []string{`{"op":"replace","path":"/status","value":"cancelled"}`,
		`{"op":"add","path":"/statusReason","value":{` + coding + `"text":` + jsonString(reason) + `}}`}
	if err := c.patchTask(c.callerOf(r, s), r, tid, r.PostFormValue("version"), ops); err != nil {
		return err
	}
	c.done(w, r, s, Prefix+"/patients/"+id+"/plan", map[bool]string{false: "done.cancelled", true: "done.rerouted"}[reroute])
	return nil
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func taskPath(r *http.Request) (id, tid string, ok bool) {
	id, ok1 := pathID(r, "id")
	tid, ok2 := pathID(r, "tid")
	return id, tid, ok1 && ok2
}

// patchTask applies a JSON Patch (RFC 6902) to version of Task tid.
func (c *Console) patchTask(k caller, r *http.Request, tid, version string, ops []string) error {
	h := http.Header{"Content-Type": {"application/json-patch+json"}, "Prefer": {"return=minimal"}}
	if _, err := strconv.ParseUint(version, 10, 64); err == nil {
		h.Set("If-Match", `W/"`+version+`"`)
	}
	_, err := k.do("PATCH", "/fhir/Task/"+tid, []byte("["+strings.Join(ops, ",")+"]"), h)
	return err
}
