package consent

import (
	"slices"
	"strings"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/terminology"
)

const categorySystem = category.System

// Policy is the base policy: what the law allows when no Consent applies,
// and what an explicit permit passes by default.
type Policy struct {
	// HealthSystems code health professions in PractitionerRole.code.
	HealthSystems []string
	// NonHealthSystems code social and care-support roles; a requester
	// holding one needs an explicit permit even if it also holds a health
	// profession.
	NonHealthSystems []string
	// CareTeam are the categories health professionals of the care team
	// receive without a Consent.
	CareTeam []category.Code
	// Permit are the categories an explicit permit passes without naming them.
	Permit []category.Code
	// Candidate are the categories the owner of one of the patient's open
	// Tasks receives without a Consent, to decide whether to accept: who
	// and where the patient is (ADM) and what is asked (ORD), nothing
	// clinical (DESIGN.md, "Pathways"), and only for the Patient and the
	// Tasks she is asked (Engine.seen); the Tasks' requester receives them
	// for the Patient.
	Candidate []category.Code
	// Requester are the categories the requester of one of the patient's
	// Tasks receives, without a Consent, of what names it (scope.seen):
	// the Tasks and requests it issued, the plan it wrote, its stay. What
	// it wrote states its own clinical reasons (a discharge plan names
	// its pathway), so CLIN besides ADM and ORD; never a sensitive label.
	Requester []category.Code
	// CarePurposes are the purposes of use under which the care team shares
	// by law; any other purpose needs an explicit permit.
	CarePurposes []string
	// BreakGlassPurposes open a break-the-glass grant when a reason is given.
	BreakGlassPurposes []string
	// CrossBorderSystems are identifier-system prefixes of recipients in
	// another jurisdiction, who always need an explicit permit.
	CrossBorderSystems []string
	// Unrestricted are resource types that hold no patient data (the
	// directory, the pathways, terminology and forms); the search filter
	// passes them when they name no patient.
	Unrestricted []string
	// Addressed are the types of orders addressed to a recipient: an
	// actor outside the care team receives, under a permit, only those
	// addressed to or from her (scope.addressedTo), unless the permit
	// names the resource itself.
	Addressed []string
	// Owned are resource types that pass only for their owner (Request.Owner,
	// the resource's OwnerSystem tag) or a system caller: a Subscription
	// names a recipient's endpoint and what it watches.
	Owned []string
}

// OwnerSystem is the meta.tag system naming the owner of a resource of an
// Owned type; the server sets it from the token on every write. On a Task
// it names the professional who issued it through the API (a system
// caller's, routing's included, carries none): the owner of an open Task
// is a routing candidate only when it was issued by a system caller, the
// patient's general practitioner or a member of her care team (Circle),
// so that nobody opens a patient's data to someone else by addressing her
// a Task.
const OwnerSystem = "https://relais-health.github.io/fhir/CodeSystem/owner"

// FrenchLaw is the default base policy (CSP L.1110-4, L.1110-12).
func FrenchLaw() Policy {
	return Policy{
		HealthSystems:      []string{terminology.TREG15},
		NonHealthSystems:   []string{terminology.TRER85, terminology.TRER94},
		CareTeam:           []category.Code{category.ADM, category.CLIN, category.MED, category.ORD, category.FUNC},
		Permit:             []category.Code{category.ADM, category.ORD, category.FUNC, category.SOC},
		Candidate:          []category.Code{category.ADM, category.ORD},
		Requester:          []category.Code{category.ADM, category.ORD, category.CLIN},
		CarePurposes:       []string{PurposeTreat, PurposeEmergency, PurposeBreakGlass, "COC", "CAREMGT"},
		BreakGlassPurposes: []string{PurposeEmergency, PurposeBreakGlass},
		CrossBorderSystems: []string{"https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/"},
		Unrestricted: []string{"Practitioner", "PractitionerRole", "Organization", "Location",
			"HealthcareService", "Endpoint", "CodeSystem", "ValueSet",
			"PlanDefinition", "ActivityDefinition", "Questionnaire"},
		Addressed: []string{"Task", "ServiceRequest"},
		Owned:     []string{"Subscription"},
	}
}

// standing is the requester's position under the base policy.
type standing struct {
	policy string // PolicyCareTeam, or why the base policy does not share
	health bool   // a health professional (break-the-glass allowed)
}

// askedOnPermit reports whether the base policy lets this requester be
// asked to act for a patient only under her explicit permit: a social
// role or one across the border, whatever the care team (candidateStill,
// Standing.AskedOnPermit).
func (st standing) askedOnPermit() bool {
	return st.policy == PolicyNonHealth || st.policy == PolicyCrossBorder
}

// classify places the requester: unknown actors, cross-border recipients,
// non-health roles and health professionals outside the care team all need
// an explicit permit. A consent administrator is no recipient at all: she
// records patients' choices and reads their Consents and identities (the
// API opens those types to her), never their data, whatever a Consent
// says, so that neither a permit without actor nor one she could write
// for herself opens a record to the consent office.
func (p *Policy) classify(a *Actor, inTeam bool) standing {
	roles := p.codes(a)
	office := slices.Contains(roles, RoleSystem+"|"+RoleConsentAdministrator)
	health := a.Known && a.Active && p.holds(roles, p.HealthSystems) && !p.holds(roles, p.NonHealthSystems) && !office
	st := standing{health: health}
	switch {
	case office:
		st.policy = PolicyConsentOffice
	case !a.Known || !a.Active:
		st.policy = PolicyUnclassified
	case p.crossBorder(a.Identifiers):
		st.policy = PolicyCrossBorder
	case p.holds(roles, p.NonHealthSystems):
		st.policy = PolicyNonHealth
	case !health:
		st.policy = PolicyUnclassified
	case !inTeam:
		st.policy = PolicyOutsideTeam
	default:
		st.policy = PolicyCareTeam
	}
	return st
}

// codes are the role codes a is classified and matched by: its roles'
// own (PractitionerRole.code and specialty), else, when none of them is
// in a health, a non-health or Relais's own role system (a consent
// administrator or a discharge coordinator stays only that), those of its
// Practitioner's qualifications too. The ANS Annuaire Santé (AsPractitionerProfile,
// qualification slices exercicePro and savoirFaire) states the profession
// (TRE_G15) there and codes PractitionerRole.code with the situation in
// the structure (TRE_R21 fonction, TRE_R22, TRE_R23), no profession; the
// directory reads roles the same way (directory.RolesOf).
func (p *Policy) codes(a *Actor) []string {
	if len(a.Qualifications) == 0 || p.holds(a.Roles, p.HealthSystems) || p.holds(a.Roles, p.NonHealthSystems) || p.holds(a.Roles, []string{RoleSystem}) {
		return a.Roles
	}
	return append(slices.Clip(a.Roles), a.Qualifications...)
}

// holds reports whether some role token is coded in one of systems, a
// system named by any of its forms (terminology.Canonical).
func (p *Policy) holds(roles, systems []string) bool {
	return slices.ContainsFunc(roles, func(r string) bool {
		sys, _, _ := strings.Cut(r, "|")
		return slices.Contains(systems, terminology.Canonical(sys))
	})
}

func (p *Policy) crossBorder(ids []string) bool {
	return slices.ContainsFunc(ids, func(id string) bool {
		return slices.ContainsFunc(p.CrossBorderSystems, func(pre string) bool { return strings.HasPrefix(id, pre) })
	})
}

func mask(cs []category.Code) uint8 {
	var m uint8
	for _, c := range cs {
		m |= catMask(c)
	}
	return m &^ bitOther
}

// obligationTable precomputes the category lists of every mask, so that
// decisions do not allocate them.
func obligationTable() [64][]category.Code {
	var t [64][]category.Code
	for m := range t {
		for i, c := range category.All {
			if m&(1<<i) != 0 {
				t[m] = append(t[m], c)
			}
		}
	}
	return t
}
