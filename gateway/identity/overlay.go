package identity

import (
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/store"
)

// Overlay is a Reader plus what resolutions planned on it have claimed
// and written but not committed yet: the HL7 v2 queue plans a batch of
// messages against one snapshot, and a message must find the Patient an
// earlier message of the batch creates. It is not safe for concurrent use.
type Overlay struct {
	Reader
	claims   map[string]string       // Type 0 system 0 value -> id
	patients map[string]*ppb.Patient // id -> as planned
}

// ClaimOwner implements Reader: planned claims first.
func (o *Overlay) ClaimOwner(typ, system, value string) string {
	if id, ok := o.claims[typ+"\x00"+system+"\x00"+value]; ok {
		return id
	}
	return o.Reader.ClaimOwner(typ, system, value)
}

// Note records resolved entries as planned.
func (o *Overlay) Note(entries []store.TxEntry) {
	if o.claims == nil {
		o.claims, o.patients = map[string]string{}, map[string]*ppb.Patient{}
	}
	for _, e := range entries {
		for _, c := range e.Claims {
			o.claims[c.Type+"\x00"+c.System+"\x00"+c.Value] = e.ID
		}
		if p, ok := e.Resource.(*ppb.Patient); ok {
			o.patients[e.ID] = p
		}
	}
}

// planned returns a copy of the Patient id as planned, or nil.
func (o *Overlay) planned(id string) *ppb.Patient {
	if p := o.patients[id]; p != nil {
		return proto.Clone(p).(*ppb.Patient)
	}
	return nil
}

// Replaced returns "Patient/id" of the Patient res says replaces it
// (Patient.link type replaced-by), or "".
func Replaced(res proto.Message) string {
	p, ok := res.(*ppb.Patient)
	if !ok {
		return ""
	}
	for _, l := range p.GetLink() {
		if l.GetType().GetValue().String() == "REPLACED_BY" {
			return refString(l.GetOther())
		}
	}
	return ""
}
