// Package pathways holds the discharge pathways of ../shared/DESIGN.md as
// FHIR R4 PlanDefinitions (https://hl7.org/fhir/R4/plandefinition.html):
// maternity, stroke or TIA, heart failure, COPD, orthopaedic surgery, older
// person, other surgery. They are defaults: Load stores each one that is
// not stored yet when the server starts, so that a system caller can
// replace one (a new version of PlanDefinition/<id>) and keep it across
// restarts. They are read at /fhir/PlanDefinition like any resource.
//
// What a pathway states, beyond the R4 elements (title, description,
// useContext for age and focus, one action per recipient with its role,
// participant and time window from discharge in timingRange), is carried
// by extensions of https://relais-health.github.io/fhir/StructureDefinition/:
//
//   - pathway-priority (valueInteger): when a stay fits several pathways,
//     the lowest number is chosen first (maternity 1 … other surgery 9);
//   - pathway-eligibility (repeated; a stay is eligible when one of them
//     holds, and one holds when all its criteria do): diagnosis (an ICD-10
//     code or code prefix of the stay's diagnoses, valueCoding), procedure
//     (valueCoding), minAge (valueInteger, years at discharge), maxGIR
//     (valueInteger: AGGIR 1 is the most dependent), delivery and surgery
//     (valueBoolean: the stay includes a delivery, a procedure);
//   - on each action, pathway-recipient-kind (valueCode health or social:
//     a social recipient needs the patient's explicit permit and receives
//     no diagnosis) and pathway-data-category (repeated, valueCoding of the
//     data-category code system: what the recipient needs).
//
// Roles are codes of https://relais-health.github.io/fhir/CodeSystem/pathway-role
// (gp, nurse, physiotherapist, midwife, pharmacist, cardiologist, …): the
// directory says which professions and specialties (TRE_G15, TRE_R38) and
// social roles (TRE_R85, TRE_R94) fill each.
//
// Caveats: the windows are the DESIGN.md defaults (GP within 7 days, nurse
// within 48 hours after orthopaedic surgery, midwife within 48 hours after
// a delivery, cardiologist within 2 months…), a starting point for each
// hospital to replace, not clinical guidance.
package pathways

import (
	"context"
	"embed"
	"fmt"
	pdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/plan_definition_go_proto"
	"io/fs"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

//go:embed defaults/*.json
var defaults embed.FS

// Canonical URLs and code systems of the pathways.
const (
	Base            = "https://relais-health.github.io/fhir"
	RoleSystem      = Base + "/CodeSystem/pathway-role"
	ExtEligibility  = Base + "/StructureDefinition/pathway-eligibility"
	ExtPriority     = Base + "/StructureDefinition/pathway-priority"
	ExtKind         = Base + "/StructureDefinition/pathway-recipient-kind"
	ExtDataCategory = Base + "/StructureDefinition/pathway-data-category"
	// ExtAnswerWithin (valueDuration, UCUM min, h or d) on an action is
	// how long its recipient has to answer her Task before the next
	// candidate is asked; without it, the server's --task-timeout.
	ExtAnswerWithin = Base + "/StructureDefinition/pathway-answer-within"
)

// Defaults returns the default PlanDefinitions, in file name order.
func Defaults(c *codec.Codec) ([]proto.Message, error) {
	names, err := fs.Glob(defaults, "defaults/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]proto.Message, 0, len(names))
	for _, n := range names {
		b, err := defaults.ReadFile(n)
		if err != nil {
			return nil, err
		}
		m, err := c.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("pathway %s: %w", n, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Load stores the default pathways that are not stored yet, in one
// transaction, and upgrades an earlier default (its first stored version,
// of another PlanDefinition.version under the same url) to the one this
// release ships; one the hospital replaced or removed is left as it is: a
// hospital that removed a pathway does not get it back at the next start.
func Load(ctx context.Context, st *store.Store, c *codec.Codec) error {
	ms, err := Defaults(c)
	if err != nil {
		return err
	}
	var entries []store.TxEntry
	for _, m := range ms {
		typ, id := resource.Type(m), resource.ID(m)
		rec, err := st.Read(typ, id)
		switch {
		case err == nil && rec.Version == 1:
			old, derr := c.DecodeStored(rec.JSON)
			if derr != nil {
				return derr
			}
			was, now := old.(*pdpb.PlanDefinition), m.(*pdpb.PlanDefinition)
			if was.GetUrl().GetValue() == now.GetUrl().GetValue() && was.GetVersion().GetValue() != now.GetVersion().GetValue() {
				entries = append(entries, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: m, IfMatch: 1})
			}
			continue
		case err == nil || outcome.KindOf(err) == outcome.Gone:
			continue // stored, replaced or removed by the hospital
		case outcome.KindOf(err) != outcome.NotFound:
			return err
		}
		entries = append(entries, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: m, IfAbsent: true})
	}
	if len(entries) == 0 {
		return nil
	}
	_, err = st.Transaction(ctx, entries)
	return err
}
