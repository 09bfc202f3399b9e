package consent

import (
	"context"
	"fmt"
	"slices"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
)

// RoleSystem is the code system of the roles Relais itself defines for
// PractitionerRole.code: consent administration and discharge
// coordination are functions of a hospital's staff that no national
// terminology codes.
const RoleSystem = "https://relais-health.github.io/fhir/CodeSystem/role"

// Roles of RoleSystem.
const (
	// RoleConsentAdministrator records patients' objections and permits
	// for them (the consent office).
	RoleConsentAdministrator = "consent-administrator"
	// RoleDischargeCoordinator plans a patient's discharge (routing).
	RoleDischargeCoordinator = "discharge-coordinator"
)

// Standing is what the base policy makes of a requester, whatever the
// patient: the write policy (gateway/access) decides from it which types
// the requester may author.
type Standing struct {
	Known, Active bool
	// Health: a health professional (a health profession, no social role).
	Health bool
	// Social: a social or care-support role (needs explicit permits).
	Social bool
	// AskedOnPermit: a recipient the base policy lets be asked to act
	// for a patient only under her explicit permit (a social role, one
	// across the border: DESIGN.md, "Consent model"), who sees nothing of
	// what she is asked until one is recorded (candidateStill). Routing
	// holds such a recipient's Task until then.
	AskedOnPermit bool
	// ConsentAdministrator, DischargeCoordinator: a RoleSystem role.
	ConsentAdministrator, DischargeCoordinator bool
	// Refs are the requester and what it acts for (its Practitioner,
	// Organization, roles, the HealthcareServices it provides): a Task
	// owned by any of them is the requester's.
	Refs []string
	// Roles are its role codes ("system|code"), what a Consent actor
	// naming a role or a Group matches (NamesActor).
	Roles []string
}

// Standing resolves actor ("PractitionerRole/r") in the directory.
func (e *Engine) Standing(ctx context.Context, actor string) (Standing, error) {
	a, err := e.cfg.Directory.Actor(ctx, actor)
	if err != nil {
		return Standing{}, fmt.Errorf("resolve actor: %w", err)
	}
	st := Standing{Known: a.Known, Active: a.Active, Refs: append([]string{actor}, a.Belongs...)}
	if !a.Known || !a.Active {
		return st, nil
	}
	st.Roles = e.pol.codes(&a)
	st.Social = e.pol.holds(st.Roles, e.pol.NonHealthSystems)
	st.AskedOnPermit = e.pol.classify(&a, false).askedOnPermit()
	st.Health = e.pol.holds(st.Roles, e.pol.HealthSystems) && !st.Social
	st.ConsentAdministrator = slices.Contains(st.Roles, RoleSystem+"|"+RoleConsentAdministrator)
	st.DischargeCoordinator = slices.Contains(st.Roles, RoleSystem+"|"+RoleDischargeCoordinator)
	return st, nil
}

// NamesActor reports whether a provision of c, nested ones included, has
// an actor the requester of refs and roles (Standing) could be: one naming
// her or what she acts for, or one matched by role (a Group, or no
// reference) whose roles she holds or that names none. It is how a
// Consent's author is kept from widening her own access.
func NamesActor(c *cpb.Consent, refs, roles []string) bool {
	w := &who{refs: refs, roles: roles}
	var walk func(p *cpb.Consent_Provision) bool
	walk = func(p *cpb.Consent_Provision) bool {
		if p == nil {
			return false
		}
		for _, a := range actorRules(p.GetActor()) {
			if a.match(w) != no {
				return true
			}
		}
		return slices.ContainsFunc(p.GetProvision(), walk)
	}
	return walk(c.GetProvision())
}
