package access

import (
	"slices"

	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ccpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/consent"
)

// Write is one change a caller asks for.
type Write struct {
	Type string
	Op   string        // OpCreate, OpUpdate or OpDelete
	Old  proto.Message // the current version; nil on create
	New  proto.Message // nil on delete
	// System: the caller's scope grants this in the system context. Only
	// the Task state machine binds it.
	System bool
}

// Change is step 2: the rules of one change, once the API has checked that
// the caller may see Old and the patient New is about.
func Change(c *Caller, w *Write) error {
	if w.Type == "Task" {
		return taskChange(c, w)
	}
	if w.System {
		return nil
	}
	switch w.Type {
	case "Observation", "QuestionnaireResponse":
		if c.Class == Social && w.New != nil {
			for _, cat := range category.Effective(w.New) {
				if cat != category.SOC && cat != category.FUNC {
					return forbidden("a social role writes only social-situation (SOC) and autonomy (FUNC) data: label the resource with one of them")
				}
			}
		}
	case "Consent":
		if c.Class == Patient || c.Class == Representative {
			for _, m := range []proto.Message{w.Old, w.New} {
				if m != nil && consentPatient(m) != c.Patient {
					return forbidden("a patient writes only her own Consents (Consent.patient)")
				}
			}
		} else if cs, ok := w.New.(*ccpb.Consent); ok && consent.NamesActor(cs, c.Refs, c.Roles) {
			// Whatever its type, a provision about its own author would
			// let her decide her own access: another administrator, or
			// the patient, writes it.
			return forbidden("a Consent may not name its author (her role, practitioner or organisation, or a role or Group she falls under) as an actor")
		}
	}
	return nil
}

// consentPatient is Consent.patient as "Patient/id".
func consentPatient(m proto.Message) string {
	if c, ok := m.(*ccpb.Consent); ok {
		return resource.RefString(c.GetPatient())
	}
	return ""
}

// OwnerOf is m's owner tag (consent.OwnerSystem), "" without one.
func OwnerOf(m proto.Message) string {
	for _, c := range resource.Meta(m).GetTag() {
		if c.GetSystem().GetValue() == consent.OwnerSystem {
			return c.GetCode().GetValue()
		}
	}
	return ""
}

// StampOwner sets m's owner tag (consent.OwnerSystem) to owner, replacing
// any the body carried: ownership is the server's to say. An empty owner
// removes the tag.
func StampOwner(m proto.Message, owner string) {
	meta := resource.Meta(m)
	meta.Tag = slices.DeleteFunc(meta.Tag, func(c *dtpb.Coding) bool {
		return c.GetSystem().GetValue() == consent.OwnerSystem
	})
	if owner == "" {
		return
	}
	meta.Tag = append(meta.Tag, &dtpb.Coding{
		System: &dtpb.Uri{Value: consent.OwnerSystem},
		Code:   &dtpb.Code{Value: owner},
	})
}

func forbidden(text string) error {
	return outcome.New(outcome.Forbidden, "the write policy does not allow this change",
		outcome.Issue{Severity: outcome.SevError, Text: text})
}

func unprocessable(text string) error {
	return outcome.New(outcome.Unprocessable, "the change breaks a rule of the resource",
		outcome.Issue{Severity: outcome.SevError, Text: text})
}
