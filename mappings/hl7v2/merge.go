package hl7v2

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// mapMRG maps what an A34 (merge patient information, patient identifier
// only; HL7 v2.5 section 3.3.34) says and no more: PID is the surviving
// patient, which is updated as by an A08, and MRG-1 (prior patient
// identifier list) is kept on it as identifiers of use "old", so that the
// prior number still finds the patient. The merge itself (moving what
// the prior patient's record holds onto the surviving one and retiring
// it) is not applied: a warning says so. This function is the whole of
// it, so that a real merge can replace it.
func (c *conv) mapMRG(s *er7.Segment) {
	if c.event != "A34" {
		c.warnSegment(s)
		return
	}
	for r := range s.Field(1).Repetitions() {
		id, _ := c.cx(r)
		if id == nil || hasIdentifier(c.patient.Identifier, id) {
			continue
		}
		id.Use = &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_OLD}
		c.patient.Identifier = append(c.patient.Identifier, id)
	}
	c.warn(s, 1, "patient merge not applied: the prior identifiers are kept on the surviving patient only")
	c.unmapped(s, 1)
}

func hasIdentifier(list []*dtpb.Identifier, id *dtpb.Identifier) bool {
	for _, x := range list {
		if x.GetSystem().GetValue() == id.GetSystem().GetValue() && x.GetValue().GetValue() == id.GetValue().GetValue() {
			return true
		}
	}
	return false
}
