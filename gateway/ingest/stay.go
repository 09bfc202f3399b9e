package ingest

import (
	"slices"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/mappings/hl7v2"
	"github.com/relais-health/relais/mappings/sensitivity"
)

// A message about a stay says what it knows, not the whole stay. In HL7 v2
// a field that is not present leaves the receiver's value as it is; only
// the null `""` deletes it (HL7 v2.5 section 2.5.3): a transfer (A02)
// without PV2 does not cancel the expected discharge an A01 announced
// (which would withdraw the stay's draft plan and cancel its Tasks), and
// a leave of absence without DG1 does not drop the stay's diagnoses. A
// discharge letter (CDA) describes the stay from its header and leaves
// the movements the ADT feed sent. So the Encounter written keeps, from
// the stored stay, what the message leaves empty (carried below), except:
//
//   - what the message nulls (Header.Nulled, by the fields each element
//     comes from);
//   - what its event itself settles: the expected discharge after the
//     discharge (A03), its cancellation (A25), the admission cancelled
//     (A11) or the discharge cancelled (A13), and on a stay that is no
//     longer going on;
//   - the locations, where she has been, which are merged with those the
//     message names (keepLocations);
//   - the discharge (period end, discharge disposition), which follows
//     its own rule (discharge.go), and the status and class, which every
//     message states but one about a past movement (Header.Historic).
//
// Identifiers are the union of both, but for the movement a PAM France
// cancellation cancels. A responsible unit (ZBE-7) stored earlier stays
// the service provider of a message that only names its sending facility
// (MSH-4), unless the message cancels a movement (the unit may be that
// movement's).

// carried are the Encounter elements kept from the stored stay when the
// message leaves them empty, with the HL7 v2 fields they come from.
var carried = []struct {
	field  protoreflect.Name // the Encounter proto field
	fields []string          // the PV1, PV2, ZBE fields that state it
}{
	{"type", []string{"PV1-4"}},
	{"service_type", []string{"PV1-10"}},
	{"priority", []string{"PV1-4"}},
	{"participant", []string{"PV1-7", "PV1-8", "PV1-9", "PV1-17"}},
	{"reason_code", []string{"PV2-3"}},
	{"reason_reference", nil},
	{"diagnosis", nil},
	{"service_provider", []string{"ZBE-7"}},
	{"based_on", nil},
	{"episode_of_care", nil},
	{"account", nil},
	{"part_of", nil},
}

// settlesExpectedDischarge are the events after which a stay has no
// expected discharge to keep.
var settlesExpectedDischarge = map[string]bool{"A03": true, "A11": true, "A13": true, "A25": true}

// carryStay returns entries with each stay that is stored completed from
// it (see above); the same slice when nothing changes. h is the HL7 v2
// message's header (its Encounter already resolved), nil for another
// source, whose every Encounter entry is a stay.
func (in *Ingester) carryStay(r identity.Reader, h *hl7v2.Header, entries []store.TxEntry) []store.TxEntry {
	var out []store.TxEntry
	for i, en := range entries {
		if done := in.documentDischarge(r, h, en); done != nil {
			if out == nil {
				out = append([]store.TxEntry(nil), entries...)
			}
			out[i] = *done
			continue
		}
		if en.Type != "Encounter" || en.IfAbsent || en.Resource == nil {
			continue
		}
		if h != nil && "Encounter/"+en.ID != h.Encounter {
			continue
		}
		e, ok := en.Resource.(*encpb.Encounter)
		if !ok {
			continue
		}
		m, err := in.ident.Current(r, "Encounter", en.ID)
		if err != nil {
			continue // unreadable: the message as it is
		}
		stored, ok := m.(*encpb.Encounter)
		if !ok {
			continue // absent or deleted: nothing to keep
		}
		merged := completeStay(stored, e, h)
		if merged == nil {
			continue
		}
		// what was carried from the stored stay (a reason, diagnoses)
		// labels it as it labelled the stored one: its diagnoses are
		// among the message's outputs or stored
		sensitivity.Label(merged, func(ref *dtpb.Reference) proto.Message {
			typ, id, _, ok := resource.RefTarget(ref)
			if !ok {
				return nil
			}
			for _, o := range entries {
				if o.Type == typ && o.ID == id && o.Resource != nil {
					return o.Resource
				}
			}
			m, err := in.ident.Current(r, typ, id)
			if err != nil {
				return nil
			}
			return m
		})
		if out == nil {
			out = append([]store.TxEntry(nil), entries...)
		}
		out[i].Resource = merged
	}
	if out == nil {
		return entries
	}
	return out
}

// completeStay returns in completed from stored, or nil when nothing is to keep.
func completeStay(stored, in *encpb.Encounter, h *hl7v2.Header) *encpb.Encounter {
	nulled := func(fields []string) bool {
		if h == nil {
			return false
		}
		for _, f := range fields {
			if slices.Contains(h.Nulled, f) {
				return true
			}
		}
		return false
	}
	out := proto.Clone(in).(*encpb.Encounter)
	changed := keepDischarge(stored, out, h)
	if h != nil && h.Historic {
		// a past movement's class and status are not the stay's now
		if !proto.Equal(out.GetStatus(), stored.GetStatus()) || !proto.Equal(out.GetClassValue(), stored.GetClassValue()) {
			out.Status, out.ClassValue = stored.GetStatus(), stored.GetClassValue()
			changed = true
		}
	}
	o, s := out.ProtoReflect(), stored.ProtoReflect()
	desc := o.Descriptor().Fields()
	for _, c := range carried {
		fd := desc.ByName(c.field)
		if fd == nil || o.Has(fd) || !s.Has(fd) || nulled(c.fields) {
			continue
		}
		o.Set(fd, s.Get(fd))
		changed = true
	}
	if h != nil && h.FacilityProvider && h.CancelledMovement == "" && stored.GetServiceProvider() != nil && !nulled([]string{"ZBE-7"}) &&
		!proto.Equal(stored.GetServiceProvider(), out.GetServiceProvider()) {
		out.ServiceProvider = stored.GetServiceProvider()
		changed = true
	}
	if out.GetPeriod().GetStart() == nil && stored.GetPeriod().GetStart() != nil && !nulled([]string{"PV1-44"}) {
		if out.Period == nil {
			out.Period = &dtpb.Period{}
		}
		out.Period.Start = stored.GetPeriod().GetStart()
		changed = true
	}
	if keepLocations(stored, out, h, nulled) {
		changed = true
	}
	if keepLocationPeriods(stored, out, h != nil && h.TriggerEvent == "Z99") {
		changed = true
	}
	kept := stored.GetIdentifier()
	if h != nil && h.CancelledMovement != "" {
		kept = slices.DeleteFunc(slices.Clone(kept), func(id *dtpb.Identifier) bool {
			return id.GetSystem().GetValue()+"|"+id.GetValue().GetValue() == h.CancelledMovement
		})
		changed = changed || len(kept) != len(stored.GetIdentifier())
	}
	if ids := identity.UnionIdentifiers(out.Identifier, kept); len(ids) != len(out.Identifier) {
		out.Identifier = ids
		changed = true
	}
	if keepsExpectedDischarge(out, h) && !hasExtension(out.Extension, hl7v2.ExpectedDischargeURL) {
		for _, x := range stored.GetExtension() {
			if x.GetUrl().GetValue() == hl7v2.ExpectedDischargeURL {
				out.Extension = append(out.Extension, x)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return out
}

// keepDischarge gives out, what an HL7 v2 message h that keeps a
// discharge (hl7v2.KeepsDischarge) makes of the stay stored finished, the
// stored discharge (discharge.go): its status, end, discharge disposition,
// its locations completed, and no expected discharge (an A16 come after
// the A03). It reports whether it did.
func keepDischarge(stored, out *encpb.Encounter, h *hl7v2.Header) bool {
	if h == nil || h.MessageCode != "ADT" || !hl7v2.KeepsDischarge(h.TriggerEvent) ||
		stored.GetStatus().GetValue() != cpb.EncounterStatusCode_FINISHED ||
		out.GetStatus().GetValue() == cpb.EncounterStatusCode_FINISHED {
		return false
	}
	finishAs(out, stored)
	return true
}

// keepsExpectedDischarge reports whether a stored expected discharge
// still holds for the stay in, written by h's event (nil: not HL7 v2).
func keepsExpectedDischarge(in *encpb.Encounter, h *hl7v2.Header) bool {
	switch in.GetStatus().GetValue() {
	case cpb.EncounterStatusCode_FINISHED, cpb.EncounterStatusCode_CANCELLED, cpb.EncounterStatusCode_ENTERED_IN_ERROR:
		return false
	}
	if h == nil {
		return true
	}
	return !settlesExpectedDischarge[h.TriggerEvent] && !slices.Contains(h.Nulled, "PV2-9")
}

func hasExtension(xs []*dtpb.Extension, url string) bool {
	return slices.ContainsFunc(xs, func(x *dtpb.Extension) bool { return x.GetUrl().GetValue() == url })
}

// keepLocations gives out the locations of the stored stay its message
// does not name, and reports whether it did. FHIR R4 Encounter.location is
// the list of locations where the patient has been, each with its status
// and period, while a message names only where she is (PV1-3), where she
// comes from (PV1-6), and her temporary and pending locations (PV1-11,
// PV1-43, PV1-42: hl7v2.visitLocations). So:
//
//   - a message that names no location keeps the stored ones (HL7 v2.5
//     section 2.5.3), unless it nulls PV1-3;
//   - a location she was in and left (completed) stays, as history;
//   - the assigned location she was in, when the message assigns her
//     another (a transfer, A02, with or without PV1-6), is completed: it
//     ends when the new one began (keepLocationPeriods) — but for a
//     cancellation (ZBE-4 CANCEL: an A12 puts her back where she was),
//     whose cancelled location she never was in, which is dropped;
//   - a temporary location stays where she is until a message nulls
//     PV1-11 or names it as her prior temporary location (PV1-43); a
//     pending location (reserved) until PV1-42 is nulled or she moves in;
//   - once the stay is finished, every location is completed and a
//     pending one dropped (she never went there).
func keepLocations(stored, out *encpb.Encounter, h *hl7v2.Header, nulled func([]string) bool) bool {
	if len(stored.GetLocation()) == 0 {
		return false
	}
	if len(out.Location) == 0 {
		if nulled([]string{"PV1-3"}) {
			return false
		}
		out.Location = stored.GetLocation()
		completeLocations(out)
		return true
	}
	named := map[string]bool{}
	moved := false
	for _, l := range out.Location {
		named[resource.RefString(l.GetLocation())] = true
		if l.GetStatus().GetValue() == cpb.EncounterLocationStatusCode_ACTIVE && !hl7v2.TemporaryLocation(l) {
			moved = true
		}
	}
	cancels := h != nil && h.CancelledMovement != ""
	changed := false
	for _, l := range stored.GetLocation() {
		if named[resource.RefString(l.GetLocation())] {
			continue
		}
		left := false
		switch st := l.GetStatus().GetValue(); {
		case st == cpb.EncounterLocationStatusCode_COMPLETED:
		case st == cpb.EncounterLocationStatusCode_RESERVED:
			if nulled([]string{"PV1-42"}) {
				continue
			}
		case hl7v2.TemporaryLocation(l):
			left = nulled([]string{"PV1-11"})
		case moved && cancels:
			continue // the cancelled movement's: she was never there
		default:
			left = moved
		}
		if left {
			l = proto.Clone(l).(*encpb.Encounter_Location)
			l.Status = &encpb.Encounter_Location_StatusCode{Value: cpb.EncounterLocationStatusCode_COMPLETED}
		}
		out.Location = append(out.Location, l)
		changed = true
	}
	return completeLocations(out) || changed
}

// finishAs finishes the stay out with the discharge the finished stay from
// states: its end, its discharge disposition where out gives none, the
// locations completed and the one she was to go to dropped
// (completeLocations), and no expected discharge left (an A16's PV2-9).
func finishAs(out, from *encpb.Encounter) {
	out.Status = &encpb.Encounter_StatusCode{Value: cpb.EncounterStatusCode_FINISHED}
	if end := from.GetPeriod().GetEnd(); end != nil {
		if out.Period == nil {
			out.Period = &dtpb.Period{}
		}
		out.Period.End = end
	}
	if d := from.GetHospitalization().GetDischargeDisposition(); d != nil && out.GetHospitalization().GetDischargeDisposition() == nil {
		if out.Hospitalization == nil {
			out.Hospitalization = &encpb.Encounter_Hospitalization{}
		}
		out.Hospitalization.DischargeDisposition = d
	}
	completeLocations(out)
	out.Extension = slices.DeleteFunc(out.Extension, func(x *dtpb.Extension) bool {
		return x.GetUrl().GetValue() == hl7v2.ExpectedDischargeURL
	})
}

// completeLocations completes the locations of a finished stay and drops
// the one she was to go to; it reports whether it changed out.
func completeLocations(out *encpb.Encounter) bool {
	if out.GetStatus().GetValue() != cpb.EncounterStatusCode_FINISHED {
		return false
	}
	changed := false
	locs := make([]*encpb.Encounter_Location, 0, len(out.Location))
	for _, l := range out.Location {
		switch l.GetStatus().GetValue() {
		case cpb.EncounterLocationStatusCode_COMPLETED:
		case cpb.EncounterLocationStatusCode_RESERVED:
			changed = true
			continue
		default:
			l = proto.Clone(l).(*encpb.Encounter_Location)
			l.Status = &encpb.Encounter_Location_StatusCode{Value: cpb.EncounterLocationStatusCode_COMPLETED}
			changed = true
		}
		locs = append(locs, l)
	}
	out.Location = locs
	return changed
}

// keepLocationPeriods completes the periods of the locations a message
// states from the stored stay (FHIR R4 Encounter.location.period: when
// the patient was there): a message names her location (PV1-3) and the one
// she left (PV1-6) but says when only for the movement it carries (ZBE-2),
// so a location she was already in keeps the start stored for it; one she
// left (completed) ends when the current one began, or with the stay. It
// reports whether it changed out.
func keepLocationPeriods(stored, out *encpb.Encounter, correction bool) bool {
	since := map[string]*dtpb.DateTime{}
	stayed := map[string]*dtpb.DateTime{} // where she is, since when
	for _, l := range stored.GetLocation() {
		if st := l.GetPeriod().GetStart(); st != nil {
			since[resource.RefString(l.GetLocation())] = st
			if l.GetStatus().GetValue() == cpb.EncounterLocationStatusCode_ACTIVE {
				stayed[resource.RefString(l.GetLocation())] = st
			}
		}
	}
	changed := false
	for _, l := range out.GetLocation() {
		// A movement that leaves her where she is (a change of unit,
		// doctor or class: PAM France ZBE-9) dates itself, not her
		// arrival; only a correction (Z99) moves when she came.
		st := stayed[resource.RefString(l.GetLocation())]
		if !correction && st != nil && l.GetStatus().GetValue() == cpb.EncounterLocationStatusCode_ACTIVE &&
			l.GetPeriod().GetStart() != nil && st.GetValueUs() < l.GetPeriod().GetStart().GetValueUs() {
			l.Period.Start = st
			changed = true
		}
	}
	var moved *dtpb.DateTime // when she came to her current location
	for _, l := range out.GetLocation() {
		if l.GetStatus().GetValue() == cpb.EncounterLocationStatusCode_ACTIVE && l.GetPeriod().GetStart() != nil && !hl7v2.TemporaryLocation(l) {
			moved = l.GetPeriod().GetStart()
			break
		}
	}
	if moved == nil && out.GetStatus().GetValue() == cpb.EncounterStatusCode_FINISHED {
		moved = out.GetPeriod().GetEnd()
	}
	for _, l := range out.GetLocation() {
		if st := since[resource.RefString(l.GetLocation())]; st != nil && l.GetPeriod().GetStart() == nil {
			if l.Period == nil {
				l.Period = &dtpb.Period{}
			}
			l.Period.Start = st
			changed = true
		}
		if l.GetStatus().GetValue() == cpb.EncounterLocationStatusCode_COMPLETED && l.GetPeriod().GetStart() != nil &&
			l.GetPeriod().GetEnd() == nil && moved != nil && moved.GetValueUs() >= l.GetPeriod().GetStart().GetValueUs() {
			l.Period.End = moved
			changed = true
		}
	}
	return changed
}
