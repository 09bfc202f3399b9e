package consent

import (
	"context"
	"fmt"
	"slices"
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
	// ConsentAdministrator, DischargeCoordinator: a RoleSystem role.
	ConsentAdministrator, DischargeCoordinator bool
	// Refs are the requester and what it acts for (its Practitioner,
	// Organization, roles): a Task owned by any of them is the requester's.
	Refs []string
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
	st.Social = e.pol.holds(a.Roles, e.pol.NonHealthSystems)
	st.Health = e.pol.holds(a.Roles, e.pol.HealthSystems) && !st.Social
	st.ConsentAdministrator = slices.Contains(a.Roles, RoleSystem+"|"+RoleConsentAdministrator)
	st.DischargeCoordinator = slices.Contains(a.Roles, RoleSystem+"|"+RoleDischargeCoordinator)
	return st, nil
}
