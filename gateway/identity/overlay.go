package identity

import (
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
)

// Overlay is a Reader plus what resolutions planned on it have claimed
// and written but not committed yet: the HL7 v2 queue plans a batch of
// messages against one snapshot, and a message must find the Patient an
// earlier message of the batch creates, and the stay it left. It is not
// safe for concurrent use.
type Overlay struct {
	Reader
	claims  map[string]string        // Type 0 system 0 value -> id
	planned map[string]proto.Message // "Type/id" -> as planned (Patients, Encounters)
	// what Note recorded, without what Next carried over
	ownClaims  map[string]string
	ownPlanned map[string]proto.Message
}

// kept are the types whose planned versions an Overlay keeps.
var kept = map[string]bool{"Patient": true, "Encounter": true}

// Next returns an overlay for the next batch, planned while this one's is
// still being written: it holds what o noted itself, its resources copied
// (the writer of o's batch may stamp the ones it holds).
func (o *Overlay) Next() *Overlay {
	n := &Overlay{claims: make(map[string]string, len(o.ownClaims)), planned: make(map[string]proto.Message, len(o.ownPlanned))}
	for k, id := range o.ownClaims {
		n.claims[k] = id
	}
	for ref, m := range o.ownPlanned {
		n.planned[ref] = proto.Clone(m)
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
		o.claims, o.planned = map[string]string{}, map[string]proto.Message{}
	}
	if o.ownClaims == nil {
		o.ownClaims, o.ownPlanned = map[string]string{}, map[string]proto.Message{}
	}
	for _, e := range entries {
		for _, c := range e.Claims {
			k := c.Type + "\x00" + c.System + "\x00" + c.Value
			o.claims[k], o.ownClaims[k] = e.ID, e.ID
		}
		if kept[e.Type] && e.Resource != nil {
			ref := e.Type + "/" + e.ID
			o.planned[ref], o.ownPlanned[ref] = e.Resource, e.Resource
		}
	}
}

// Current reads typ/id as r holds it: as planned when r is an Overlay that
// planned it, else as stored; nil when absent or deleted.
func (v *Resolver) Current(r Reader, typ, id string) (proto.Message, error) {
	if o, ok := r.(*Overlay); ok {
		if m := o.planned[typ+"/"+id]; m != nil {
			return proto.Clone(m), nil
		}
	}
	rec, err := r.Read(typ, id)
	switch outcome.KindOf(err) {
	case outcome.NotFound, outcome.Gone:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := v.decode(rec)
	if err != nil {
		return nil, outcome.Wrap(outcome.Internal, "stored "+typ+" unreadable", err)
	}
	return m, nil
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
