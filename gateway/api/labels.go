package api

import (
	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/sensitivity"
)

// labelEntries labels what each entry writes from its content, as the
// mappings label their outputs (sensitivity.Label): an Encounter's reason
// is clinical data, an HIV diagnosis is HIV whatever labels its writer
// sent. A resource an entry lists as content (an Encounter's diagnoses) is
// looked up among the entries, by fullUrl or Type/id, else as stored. It
// runs before the write decision, which then decides on the labels.
func (a *API) labelEntries(entries []store.TxEntry) error {
	var err error
	resolve := func(ref *dtpb.Reference) proto.Message {
		s := resource.RefString(ref)
		for _, e := range entries {
			if e.Resource != nil && e.Method != "DELETE" && (s == e.FullURL || s == e.Type+"/"+e.ID) {
				return e.Resource
			}
		}
		typ, id, _, ok := resource.RefTarget(ref)
		if !ok {
			return nil
		}
		rec, rerr := a.store.Read(typ, id)
		switch outcome.KindOf(rerr) {
		case outcome.NotFound, outcome.Gone:
			return nil
		}
		if rerr != nil {
			err = rerr
			return nil
		}
		m, derr := a.codec.DecodeStored(rec.JSON)
		if derr != nil {
			err = outcome.Wrap(outcome.Internal, "stored resource unreadable", derr)
			return nil
		}
		return m
	}
	for _, e := range entries {
		if e.Resource != nil && e.Method != "DELETE" {
			sensitivity.Label(e.Resource, resolve)
		}
	}
	return err
}
