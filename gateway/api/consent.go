package api

import (
	"net/http"
	"strings"

	"google.golang.org/protobuf/proto"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	pdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/plan_definition_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/access"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/pathways"
)

// Consent enforcement on every disclosure. Each request that returns
// resources builds one consent.Filter from the caller's token and headers,
// puts every resource it would return through it (before paging, so pages
// are full and totals count only what the caller may see), and records the
// decisions before answering: if the record cannot be written, the request
// fails.

// Request headers that choose the purpose of use.
const (
	headerPurpose    = "X-Purpose-Of-Use"
	headerBreakGlass = "X-Break-Glass-Reason"
	headerDecision   = "X-Consent-Decision"
)

// guard returns the consent filter of the request, built once from the
// caller's token and headers (pipeline.go records its decisions). The
// actor is the token's fhirUser; what a caller reads under a system scope
// it sees by configuration (and is recorded as such): every type with a
// system scope that reads all types, else the types the scope that grants
// their read is a system one for. A system scope on one type does not
// open the others. A consent administrator reads Consents and Patients
// (to find the patient whose choices she records); a patient, or someone
// acting for her, reads her own record (consent.Request.Self).
func (a *API) guard(r *http.Request) (*consent.Filter, error) {
	c := callOf(r)
	if c == nil {
		return nil, outcome.New(outcome.Unauthenticated, "no principal")
	}
	if c.f != nil || c.fErr != nil {
		return c.f, c.fErr
	}
	c.f, c.fErr = a.newFilter(r, c)
	return c.f, c.fErr
}

func (a *API) newFilter(r *http.Request, c *call) (*consent.Filter, error) {
	p := c.p
	purpose := strings.TrimSpace(r.Header.Get(headerPurpose))
	if purpose == "" {
		purpose = consent.PurposeTreat
	}
	reason := strings.TrimSpace(r.Header.Get(headerBreakGlass))
	if (purpose == consent.PurposeEmergency || purpose == consent.PurposeBreakGlass) && reason == "" {
		return nil, outcome.New(outcome.Invalid, "break-the-glass needs a reason",
			outcome.Issue{Severity: outcome.SevError, Text: headerBreakGlass + " is required with purpose ETREAT or BTG"})
	}
	req := consent.Request{
		Actor: p.FHIRUser, Action: consent.ActionAccess, Purpose: purpose,
		System: grantsAsSystem(p, "*", auth.Read), BreakGlassReason: reason, Owner: ownerName(p),
		Token: p.TokenID, Client: p.ClientID, Peers: a.peers(r, p.ClientID),
	}
	// The caller is resolved here, before any search runs: the filter is
	// called inside the search's snapshot, where opening another read
	// would risk the freeze store.Snapshot describes.
	admin := false
	if p.FHIRUser != "" && !req.System {
		who, err := a.callerOf(r)
		if err != nil {
			return nil, err
		}
		admin = who.Class == access.ConsentAdministrator
		if selfUser(p) {
			req.Self = who.Patient
			if req.Self == "" {
				req.Self = "Patient/-" // a RelatedPerson acting for nobody: nothing is hers
			}
		}
	}
	req.SystemTypes = func(typ string) bool {
		return grantsAsSystem(p, typ, auth.Read) || admin && (typ == "Consent" || typ == "Patient")
	}
	return a.consent.NewFilter(r.Context(), req), nil
}

// allowRecord decides on one stored version from its own content: vread and
// history serve versions whose labels may differ from the current index.
// A deletion carries no data; only system callers see it.
func (a *API) allowRecord(f *consent.Filter, rec *store.Record) (bool, error) {
	if rec.JSON == nil {
		// A deletion is seen by who could see the version before it (R4
		// http.html: history shows deletions; a read answers 410), and by
		// nobody else: to them it is no more than an absence. Not inside
		// a store snapshot: this reads the store.
		var last *store.Record
		if rec.Version >= 2 {
			last, _ = a.store.VRead(rec.Type, rec.ID, rec.Version-1)
		}
		if last == nil || last.JSON == nil {
			return f.AllowFacts(rec.Type, consent.Indexed{}), nil
		}
		rec = last
	}
	m, err := a.codec.DecodeStored(rec.JSON)
	if err != nil {
		return false, outcome.Wrap(outcome.Internal, "stored resource unreadable", err)
	}
	return f.AllowFacts(rec.Type, consent.FactsOf(m)), nil
}

// validateWrite applies the business rules a resource must meet before it
// is stored: Consents and pathway PlanDefinitions are checked for meaning
// (422 when broken).
func validateWrite(res proto.Message) error {
	switch r := res.(type) {
	case *cpb.Consent:
		return consent.Validate(r)
	case *pdpb.PlanDefinition:
		return pathways.Validate(r)
	}
	return nil
}
