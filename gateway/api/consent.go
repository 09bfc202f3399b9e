package api

import (
	"net/http"
	"strings"

	"google.golang.org/protobuf/proto"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
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

// guard builds the consent filter of a request. The actor is the token's
// fhirUser; what a caller reads under a system scope it sees by
// configuration (and is recorded as such): every type with a system scope
// that reads all types, else the types the scope that grants their read is
// a system one for. A system scope on one type does not open the others.
func (a *API) guard(r *http.Request) (*consent.Filter, error) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return nil, outcome.New(outcome.Unauthenticated, "no principal")
	}
	purpose := strings.TrimSpace(r.Header.Get(headerPurpose))
	if purpose == "" {
		purpose = consent.PurposeTreat
	}
	reason := strings.TrimSpace(r.Header.Get(headerBreakGlass))
	if (purpose == consent.PurposeEmergency || purpose == consent.PurposeBreakGlass) && reason == "" {
		return nil, outcome.New(outcome.Invalid, "break-the-glass needs a reason",
			outcome.Issue{Severity: outcome.SevError, Text: headerBreakGlass + " is required with purpose ETREAT or BTG"})
	}
	return a.consent.NewFilter(r.Context(), consent.Request{
		Actor: p.FHIRUser, Action: consent.ActionAccess, Purpose: purpose,
		System: grantsAsSystem(p, "*", auth.Read), SystemTypes: func(typ string) bool { return grantsAsSystem(p, typ, auth.Read) },
		BreakGlassReason: reason,
	}), nil
}

// record writes the filter's decisions and names the first in a header.
func (a *API) record(w http.ResponseWriter, r *http.Request, f *consent.Filter) error {
	if err := f.Err(); err != nil {
		return err
	}
	recs, err := f.Record(r.Context())
	if err != nil {
		return outcome.Wrap(outcome.Internal, "consent decision not recorded", err)
	}
	if len(recs) > 0 {
		w.Header().Set(headerDecision, recs[0].ID)
	}
	return nil
}

// allowRecord decides on one stored version from its own content: vread and
// history serve versions whose labels may differ from the current index.
// A deletion carries no data; only system callers see it.
func (a *API) allowRecord(f *consent.Filter, rec *store.Record) (bool, error) {
	if rec.JSON == nil {
		return f.AllowFacts(rec.Type, consent.Indexed{}), nil
	}
	m, err := a.codec.Decode(rec.JSON)
	if err != nil {
		return false, outcome.Wrap(outcome.Internal, "stored resource unreadable", err)
	}
	return f.AllowFacts(rec.Type, consent.FactsOf(m)), nil
}

// validateWrite applies the business rules a resource must meet before it
// is stored: Consents are checked for meaning (422 when broken).
func validateWrite(res proto.Message) error {
	if c, ok := res.(*cpb.Consent); ok {
		return consent.Validate(c)
	}
	return nil
}
