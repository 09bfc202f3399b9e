package routing

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	pdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/plan_definition_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/directory"
)

// A recipient who leaves the directory (R4 PractitionerRole.active and
// HealthcareService.active: "whether this ... record is in active use";
// PractitionerRole.period, the period during which she acts in the role;
// her Practitioner or her Organization no longer active: the rules by
// which the directory stops proposing her, directory.Index.Left) is not
// waited for. The routing Tasks she had not accepted yet (requested,
// received, or on-hold waiting for the patient's permit) are cancelled
// with a status reason saying she left, and the next candidate of each
// request asked, in one transaction, as after a time-out (askNextFor).
// The Tasks she accepted (accepted, ready, in progress, or put on hold
// herself) stay hers, since she may be carrying them out; they, and the
// GP's Task, which is never handed over, carry the businessStatus
// RoutingStatus|RecipientLeft, so that the discharging organisation finds
// them (GET /fhir/Task?business-status=…|recipient-left) and follows up.
//
// Departures learns of a departure from the store's change log (a write
// of a role or service, of the Practitioner who holds a role or of the
// Organization it is for, from the API, a batch or a directory import,
// even one run while the server was stopped), read from its own cursor,
// and from the clock (a role whose period ends with no write to tell).

// RecipientLeft is the code, in RoutingStatus, of the businessStatus of a
// routing Task whose owner left the directory while it was hers to carry
// out: the discharging organisation follows it up.
const RecipientLeft = "recipient-left"

// LeftDirectory starts the status reason of a routing Task cancelled
// because its owner left the directory before accepting it.
const LeftDirectory = "its recipient left the directory"

// DepartureCursor is Departures' name in the store's change log
// (store.Cursor).
const DepartureCursor = "routing-directory"

// Departures hands over the routing Tasks of every recipient who left the
// directory since its last call: those written out of it (read from the
// change log from DepartureCursor on) and those whose period ended (since
// the Planner's last call; its first, since ever). It returns how many
// Tasks it handed over or listed for follow-up; on an error it stops, to
// start again from the same place.
func (pl *Planner) Departures(ctx context.Context) (int, error) {
	after, err := pl.cfg.Store.Cursor(DepartureCursor)
	if err != nil {
		return 0, err
	}
	refs, upTo, err := pl.writtenOut(after)
	if err != nil {
		return 0, err
	}
	now := pl.cfg.Now()
	x, err := pl.cfg.Directory.Index(ctx)
	if err != nil {
		return 0, err
	}
	var since time.Time
	if us := pl.swept.Load(); us != 0 {
		since = time.UnixMicro(us)
	}
	for _, ref := range x.Ended(since, now) {
		if _, ok := refs[ref]; !ok {
			refs[ref] = false
		}
	}
	order := make([]string, 0, len(refs))
	for ref := range refs {
		order = append(order, ref)
	}
	sort.Strings(order)
	n, retry := 0, false
	for _, ref := range order {
		why := x.Left(ref, now)
		if refs[ref] {
			why = directory.Reason{Ref: ref, Why: "removed from it", Code: RemovedCode}
		}
		if why.Why == "" {
			// written and in the directory: back, if she had left
			k, moved, err := pl.returned(ctx, ref)
			if n += k; err != nil {
				return n, err
			}
			retry = retry || moved
			continue
		}
		k, moved, err := pl.depart(ctx, ref, why)
		if n += k; err != nil {
			return n, err
		}
		retry = retry || moved
	}
	if retry {
		return n, nil // a Task changed while it was listed: read again at the next pass
	}
	if upTo > after {
		if err := pl.cfg.Store.SetCursor(ctx, DepartureCursor, upTo); err != nil {
			return n, err
		}
	}
	pl.swept.Store(now.UnixMicro())
	return n, nil
}

// writtenOut lists the roles and services the directory's changes after
// the change log's sequence after may have taken out of it: each role or
// service written (true when it was deleted), the roles a Practitioner
// written holds and the roles and services of an Organization written;
// and the sequence they were read up to.
func (pl *Planner) writtenOut(after uint64) (map[string]bool, uint64, error) {
	refs := map[string]bool{}
	var holders []string // Practitioners and Organizations written
	var upTo uint64
	err := pl.cfg.Store.View(func(r *store.Snapshot) error {
		upTo = r.TypesGeneration(directory.IndexedTypes...)
		for _, typ := range directory.IndexedTypes {
			for from := after; from < upTo; {
				cs, err := r.ChangesAfter(typ, from, 256)
				if err != nil {
					return err
				}
				for _, c := range cs {
					if c.Seq > upTo {
						break
					}
					ref := typ + "/" + c.ID
					switch typ {
					case "PractitionerRole", "HealthcareService":
						_, err := r.Read(typ, c.ID)
						refs[ref] = err != nil // deleted (or gone since)
					default:
						holders = append(holders, ref)
					}
				}
				if len(cs) < 256 {
					break
				}
				from = cs[len(cs)-1].Seq
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	for _, h := range slices.Compact(slices.Sorted(slices.Values(holders))) {
		typ, _, _ := strings.Cut(h, "/")
		queries := [][2]string{{"PractitionerRole", "practitioner"}}
		if typ == "Organization" {
			queries = [][2]string{{"PractitionerRole", "organization"}, {"HealthcareService", "organization"}}
		}
		for _, qp := range queries {
			q, err := search.Parse(qp[0], url.Values{qp[1]: {h}}, true)
			if err != nil {
				return nil, 0, err
			}
			hits, err := pl.cfg.Store.Search(q, nil)
			if err != nil {
				return nil, 0, err
			}
			for _, hit := range hits {
				if _, ok := refs[qp[0]+"/"+hit.ID]; !ok {
					refs[qp[0]+"/"+hit.ID] = false
				}
			}
		}
	}
	return refs, upTo, nil
}

// depart hands over the routing Tasks of ref, who left the directory
// (why): the next candidate is asked for each she had not accepted yet,
// and each she keeps is listed for follow-up. It returns how many Tasks
// it moved or listed, and whether one changed while it was listed.
func (pl *Planner) depart(ctx context.Context, ref string, why directory.Reason) (int, bool, error) {
	// coded RecipientLeft, its step the directory's reason about her
	reason := reasonOf(RecipientLeft, LeftDirectory+": "+why.Why, Step{Code: why.Code, Who: []string{ref}, Detail: why.Detail})
	n, err := pl.askNextFor(ctx, url.Values{"owner": {ref}, "status": {"requested,received,on-hold"}},
		func(old *tpb.Task, _ *pdpb.PlanDefinition_Action) *dtpb.CodeableConcept {
			if accepted(old) {
				return nil // put on hold by her, after she started
			}
			return proto.Clone(reason).(*dtpb.CodeableConcept)
		})
	if err != nil {
		return n, false, err
	}
	m, moved, err := pl.listLeft(ctx, ref)
	return n + m, moved, err
}

// listLeft gives each routing Task ref still holds (open: the ones she
// accepted, the GP's) the businessStatus RecipientLeft, pinned to the
// version read; one that has it already is left as it is. moved says
// that a Task changed between its read and its write.
func (pl *Planner) listLeft(ctx context.Context, ref string) (n int, moved bool, err error) {
	found, err := pl.routingTasks(url.Values{"owner": {ref}, "status": {"requested,received,accepted,ready,in-progress,on-hold"}})
	if err != nil {
		return n, moved, err
	}
	for _, rt := range found {
		h, rec := rt.hit, rt.rec
		t := proto.Clone(rt.task).(*tpb.Task)
		if hasCode(t.GetBusinessStatus(), RecipientLeft) {
			continue
		}
		if t.BusinessStatus == nil {
			t.BusinessStatus = &dtpb.CodeableConcept{Text: &dtpb.String{Value: LeftDirectory}}
		}
		t.BusinessStatus.Coding = append(t.BusinessStatus.Coding, &dtpb.Coding{System: &dtpb.Uri{Value: RoutingStatus},
			Code: &dtpb.Code{Value: RecipientLeft}, Display: &dtpb.String{Value: "Recipient left the directory"}})
		_, err = pl.cfg.Store.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Task", ID: h.ID, Resource: t, Pinned: true, Expect: rec.Version}})
		if errors.Is(err, store.ErrMoved) {
			moved = true // changed meanwhile: the next pass sees it, if it is still hers
			continue
		}
		if err != nil {
			return n, moved, err
		}
		n++
	}
	return n, moved, nil
}

// returned takes off the follow-up list the routing Tasks of ref, back in
// the directory (active again, her period extended), that her departure
// listed (listLeft): they are hers to carry out again. moved is as for
// listLeft.
func (pl *Planner) returned(ctx context.Context, ref string) (n int, moved bool, err error) {
	found, err := pl.routingTasks(url.Values{"owner": {ref}, "business-status": {RoutingStatus + "|" + RecipientLeft}})
	if err != nil {
		return n, moved, err
	}
	for _, rt := range found {
		t := proto.Clone(rt.task).(*tpb.Task)
		bs := t.GetBusinessStatus()
		bs.Coding = slices.DeleteFunc(bs.Coding, func(cd *dtpb.Coding) bool {
			return cd.GetSystem().GetValue() == RoutingStatus && cd.GetCode().GetValue() == RecipientLeft
		})
		if len(bs.Coding) == 0 && bs.GetText().GetValue() == LeftDirectory {
			t.BusinessStatus = nil // what listLeft gave it, whole
		}
		_, err = pl.cfg.Store.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Task", ID: rt.hit.ID, Resource: t, Pinned: true, Expect: rt.rec.Version}})
		if errors.Is(err, store.ErrMoved) {
			moved = true
			continue
		}
		if err != nil {
			return n, moved, err
		}
		n++
	}
	return n, moved, nil
}
