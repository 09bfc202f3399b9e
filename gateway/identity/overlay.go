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
	// what Note recorded, without what Next carried over
	ownClaims   map[string]string
	ownPatients map[string]*ppb.Patient
}

// Next returns an overlay for the next batch, planned while this one's is
// still being written: it holds what o noted itself, its Patients copied
// (the writer of o's batch may stamp the ones it holds).
func (o *Overlay) Next() *Overlay {
	n := &Overlay{claims: make(map[string]string, len(o.ownClaims)), patients: make(map[string]*ppb.Patient, len(o.ownPatients))}
	for k, id := range o.ownClaims {
		n.claims[k] = id
	}
	for id, p := range o.ownPatients {
		n.patients[id] = proto.Clone(p).(*ppb.Patient)
	}
	return n
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
	if o.ownClaims == nil {
		o.ownClaims, o.ownPatients = map[string]string{}, map[string]*ppb.Patient{}
	}
	for _, e := range entries {
		for _, c := range e.Claims {
			k := c.Type + "\x00" + c.System + "\x00" + c.Value
			o.claims[k], o.ownClaims[k] = e.ID, e.ID
		}
		if p, ok := e.Resource.(*ppb.Patient); ok {
			o.patients[e.ID], o.ownPatients[e.ID] = p, p
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
