package fhirjson

import (
	"reflect"
	"strconv"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Fast paths for the data types that make up most elements: they read the
// generated structs directly instead of going through protoreflect, which
// allocates for every field it hands out. Each handles only the plain case
// (no element ids or extensions) and returns handled == false otherwise, so
// the generic path prints it.

type plain interface {
	GetId() *dtpb.String
	GetExtension() []*dtpb.Extension
}

func isPlain(p plain) bool { return p.GetId() == nil && len(p.GetExtension()) == 0 }

// noMeta is isPlain on the fields of a concrete type, without the
// interface calls.
func noMeta(id *dtpb.String, ext []*dtpb.Extension) bool { return id == nil && len(ext) == 0 }

// fastValue prints x if it is one of the fast types in its plain form.
func (w *writer) fastValue(x any) (handled bool, err error) {
	switch x := x.(type) {
	case *dtpb.String:
		return w.fastStr(noMeta(x.Id, x.Extension), x.Value), nil
	case *dtpb.Uri:
		return w.fastStr(noMeta(x.Id, x.Extension), x.Value), nil
	case *dtpb.Code:
		return w.fastStr(noMeta(x.Id, x.Extension), x.Value), nil
	case *dtpb.Id:
		return w.fastStr(noMeta(x.Id, x.Extension), x.Value), nil
	case *dtpb.Markdown:
		return w.fastStr(noMeta(x.Id, x.Extension), x.Value), nil
	case *dtpb.Xhtml:
		if x.Id != nil {
			return false, nil
		}
		w.str(x.Value)
		return true, nil
	case *dtpb.Url:
		return w.fastStr(noMeta(x.Id, x.Extension), x.Value), nil
	case *dtpb.Base64Binary:
		if !noMeta(x.Id, x.Extension) {
			return false, nil
		}
		w.base64(x.Value)
		return true, nil
	case *dtpb.Boolean:
		if !noMeta(x.Id, x.Extension) {
			return false, nil
		}
		w.buf = strconv.AppendBool(w.buf, x.Value)
		return true, nil
	case *dtpb.Integer:
		if !noMeta(x.Id, x.Extension) {
			return false, nil
		}
		w.buf = strconv.AppendInt(w.buf, int64(x.Value), 10)
		return true, nil
	case *dtpb.PositiveInt:
		if !noMeta(x.Id, x.Extension) {
			return false, nil
		}
		w.buf = strconv.AppendUint(w.buf, uint64(x.Value), 10)
		return true, nil
	case *dtpb.Decimal:
		if !noMeta(x.Id, x.Extension) || !validNumber(x.Value) {
			return false, nil
		}
		w.buf = append(w.buf, x.Value...)
		return true, nil
	case *dtpb.Coding:
		return w.coding(x)
	case *dtpb.CodeableConcept:
		return w.codeableConcept(x)
	case *dtpb.Period:
		return w.period(x)
	case *dtpb.Reference:
		return w.fastReference(x)
	case *dtpb.Meta:
		return w.meta(x)
	case *dtpb.Identifier:
		return w.identifier(x)
	case *dtpb.Quantity:
		return w.quantity(x, x.Code, x.Comparator, x.System, x.Unit, x.Value)
	case *dtpb.SimpleQuantity:
		return w.quantity(x, x.Code, nil, x.System, x.Unit, x.Value)
	case *dtpb.ContactPoint:
		return w.contactPoint(x)
	case *dtpb.HumanName:
		return w.humanName(x)
	case *dtpb.Address:
		return w.address(x)
	case *dtpb.Narrative:
		return w.narrative(x)
	case *bcrpb.Bundle_Entry:
		return w.entry(x)
	case *bcrpb.Bundle_Entry_Request:
		return w.request(x)
	case *dtpb.DateTime:
		return w.dateTime(x), nil
	case *dtpb.Date:
		return w.date(x), nil
	case *dtpb.Instant:
		return w.instantValue(x), nil
	}
	return false, nil
}

func (w *writer) meta(x *dtpb.Meta) (bool, error) {
	if !noMeta(x.Id, x.Extension) || x.VersionId != nil || x.Source != nil || x.Profile != nil || x.Tag != nil {
		return false, nil
	}
	o := w.open()
	if x.LastUpdated != nil {
		if err := o.sub("lastUpdated", x.LastUpdated); err != nil {
			return false, err
		}
	}
	if len(x.Security) > 0 {
		o.key("security")
		if err := w.codings(x.Security); err != nil {
			return false, err
		}
	}
	o.close()
	return true, nil
}

func (w *writer) codings(cs []*dtpb.Coding) error {
	w.buf = append(w.buf, '[')
	for i, c := range cs {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		ok, err := w.coding(c)
		if err != nil {
			return err
		}
		if !ok {
			if _, err := w.msg(c); err != nil {
				return err
			}
		}
	}
	w.buf = append(w.buf, ']')
	return nil
}

func (w *writer) identifier(x *dtpb.Identifier) (bool, error) {
	if !noMeta(x.Id, x.Extension) || !plainUri(x.System) || !plainString(x.Value) {
		return false, nil
	}
	o := w.open()
	for _, f := range [...]struct {
		key string
		m   protoreflect.ProtoMessage
		set bool
	}{
		{"assigner", x.Assigner, x.Assigner != nil},
		{"period", x.Period, x.Period != nil},
	} {
		if f.set {
			if err := o.sub(f.key, f.m); err != nil {
				return false, err
			}
		}
	}
	if x.System != nil {
		o.key("system")
		w.str(x.System.Value)
	}
	if x.Type != nil {
		if err := o.sub("type", x.Type); err != nil {
			return false, err
		}
	}
	if x.Use != nil {
		if err := o.sub("use", x.Use); err != nil {
			return false, err
		}
	}
	if x.Value != nil {
		o.key("value")
		w.str(x.Value.Value)
	}
	o.close()
	return true, nil
}

func (w *writer) narrative(x *dtpb.Narrative) (bool, error) {
	if !noMeta(x.Id, x.Extension) || x.Div == nil || x.Div.Id != nil {
		return false, nil
	}
	o := w.open()
	o.key("div")
	w.str(x.Div.Value)
	if x.Status != nil {
		if err := o.sub("status", x.Status); err != nil {
			return false, err
		}
	}
	o.close()
	return true, nil
}

func (w *writer) entry(x *bcrpb.Bundle_Entry) (bool, error) {
	if x.Id != nil || x.Extension != nil || x.ModifierExtension != nil || x.FullUrl != nil || x.Link != nil || x.Search != nil || x.Response != nil {
		return false, nil
	}
	o := w.open()
	if x.Request != nil {
		if err := o.sub("request", x.Request); err != nil {
			return false, err
		}
	}
	if x.Resource != nil {
		o.key("resource")
		if err := w.containedV(w.p.entryPlan, reflect.ValueOf(x.Resource)); err != nil {
			return false, err
		}
	}
	o.close()
	return true, nil
}

func (w *writer) request(x *bcrpb.Bundle_Entry_Request) (bool, error) {
	if x.Id != nil || x.Extension != nil || x.ModifierExtension != nil || x.IfNoneMatch != nil || x.IfModifiedSince != nil || x.IfMatch != nil || x.IfNoneExist != nil || !plainUri(x.Url) {
		return false, nil
	}
	o := w.open()
	if x.Method != nil {
		if err := o.sub("method", x.Method); err != nil {
			return false, err
		}
	}
	if x.Url != nil {
		o.key("url")
		w.str(x.Url.Value)
	}
	o.close()
	return true, nil
}

func (w *writer) fastStr(plain bool, s string) bool {
	if !plain {
		return false
	}
	w.str(s)
	return true
}

// obj writes the keys of an object in the order given (callers give them
// sorted, as jsonformat prints them).
type obj struct {
	w     *writer
	first bool
}

func (w *writer) open() obj { w.buf = append(w.buf, '{'); return obj{w, true} }

func (o *obj) key(k string) {
	if !o.first {
		o.w.buf = append(o.w.buf, ',')
	}
	o.first = false
	o.w.buf = append(o.w.buf, '"')
	o.w.buf = append(o.w.buf, k...) // keys need no escaping
	o.w.buf = append(o.w.buf, '"', ':')
}

func (o *obj) close() { o.w.buf = append(o.w.buf, '}') }

// sub prints a nested message through the general path.
func (o *obj) sub(k string, m proto.Message) error {
	mark, first := len(o.w.buf), o.first
	o.key(k)
	ok, err := o.w.msg(m)
	if err != nil {
		return err
	}
	if !ok {
		o.w.buf, o.first = o.w.buf[:mark], first
	}
	return nil
}

// plainString, plainUri and plainCode report whether a string element is
// absent or has neither id nor extensions.
func plainString(x *dtpb.String) bool { return x == nil || noMeta(x.Id, x.Extension) }
func plainUri(x *dtpb.Uri) bool       { return x == nil || noMeta(x.Id, x.Extension) }
func plainCode(x *dtpb.Code) bool     { return x == nil || noMeta(x.Id, x.Extension) }

func (w *writer) coding(x *dtpb.Coding) (bool, error) {
	if !noMeta(x.Id, x.Extension) || !plainCode(x.Code) || !plainString(x.Display) || !plainUri(x.System) || !plainString(x.Version) || x.UserSelected != nil {
		return false, nil
	}
	o := w.open()
	if x.Code != nil {
		o.key("code")
		w.str(x.Code.Value)
	}
	if x.Display != nil {
		o.key("display")
		w.str(x.Display.Value)
	}
	if x.System != nil {
		o.key("system")
		w.str(x.System.Value)
	}
	if x.Version != nil {
		o.key("version")
		w.str(x.Version.Value)
	}
	o.close()
	return true, nil
}

func (w *writer) codeableConcept(x *dtpb.CodeableConcept) (bool, error) {
	if !noMeta(x.Id, x.Extension) || !plainString(x.Text) {
		return false, nil
	}
	o := w.open()
	if len(x.Coding) > 0 {
		o.key("coding")
		if err := w.codings(x.Coding); err != nil {
			return false, err
		}
	}
	if x.Text != nil {
		o.key("text")
		w.str(x.Text.Value)
	}
	o.close()
	return true, nil
}

func (w *writer) period(x *dtpb.Period) (bool, error) {
	if !noMeta(x.Id, x.Extension) {
		return false, nil
	}
	o := w.open()
	if x.End != nil {
		if err := o.sub("end", x.End); err != nil {
			return false, err
		}
	}
	if x.Start != nil {
		if err := o.sub("start", x.Start); err != nil {
			return false, err
		}
	}
	o.close()
	return true, nil
}

// fastReference handles plain references whose target is a relative URI,
// a fragment or a typed id (through the general reference path for the
// literal).
func (w *writer) fastReference(x *dtpb.Reference) (bool, error) {
	if !noMeta(x.Id, x.Extension) || x.Identifier != nil || x.Type != nil || !plainString(x.Display) {
		return false, nil
	}
	lit, ok := "", true
	switch r := x.Reference.(type) {
	case nil:
		ok = false
	case *dtpb.Reference_Uri:
		if !noMeta(r.Uri.Id, r.Uri.Extension) {
			return false, nil
		}
		lit = r.Uri.Value
	case *dtpb.Reference_Fragment:
		if !noMeta(r.Fragment.Id, r.Fragment.Extension) {
			return false, nil
		}
		lit = "#" + r.Fragment.Value
	default:
		// A typed id (patient_id, ...): the most frequent types without
		// reflection, else its field number gives the type.
		id, prefix := w.p.typedRef(r)
		if prefix == "" {
			m := x.ProtoReflect()
			f := m.WhichOneof(w.p.refOneof)
			prefix = w.p.refPrefixes[f.Number()]
			id, _ = m.Get(f).Message().Interface().(*dtpb.ReferenceId)
		}
		if prefix == "" || id == nil || id.Id != nil || id.Extension != nil {
			return false, nil
		}
		o := w.open()
		if x.Display != nil {
			o.key("display")
			w.str(x.Display.Value)
		}
		o.key("reference")
		w.refLiteral(prefix, id.Value, id.GetHistory().GetValue())
		o.close()
		return true, nil
	}
	o := w.open()
	if x.Display != nil {
		o.key("display")
		w.str(x.Display.Value)
	}
	if ok {
		o.key("reference")
		w.str(lit)
	}
	o.close()
	return true, nil
}

// dateTime, date and instantValue print DateTime, Date and Instant values
// without reflection, as instant does; handled is false when they cannot.
func (w *writer) dateTime(x *dtpb.DateTime) (handled bool) {
	if !noMeta(x.Id, x.Extension) {
		return false
	}
	utc := x.Timezone == "Z"
	var layout string
	switch x.Precision {
	case dtpb.DateTime_YEAR:
		layout = "2006"
	case dtpb.DateTime_MONTH:
		layout = "2006-01"
	case dtpb.DateTime_DAY:
		layout = "2006-01-02"
	case dtpb.DateTime_SECOND:
		layout = pick(utc, "2006-01-02T15:04:05Z", "2006-01-02T15:04:05-07:00")
	case dtpb.DateTime_MILLISECOND:
		layout = pick(utc, "2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05.000-07:00")
	case dtpb.DateTime_MICROSECOND:
		layout = pick(utc, "2006-01-02T15:04:05.000000Z", "2006-01-02T15:04:05.000000-07:00")
	default:
		return false
	}
	return w.timeValue(x.ValueUs, x.Timezone, layout)
}

func (w *writer) date(x *dtpb.Date) (handled bool) {
	if !noMeta(x.Id, x.Extension) {
		return false
	}
	var layout string
	switch x.Precision {
	case dtpb.Date_YEAR:
		layout = "2006"
	case dtpb.Date_MONTH:
		layout = "2006-01"
	case dtpb.Date_DAY:
		layout = "2006-01-02"
	default:
		return false
	}
	return w.timeValue(x.ValueUs, x.Timezone, layout)
}

func (w *writer) instantValue(x *dtpb.Instant) (handled bool) {
	if !noMeta(x.Id, x.Extension) {
		return false
	}
	utc := x.Timezone == "Z"
	var layout string
	switch x.Precision {
	case dtpb.Instant_SECOND:
		layout = pick(utc, "2006-01-02T15:04:05Z", "2006-01-02T15:04:05-07:00")
	case dtpb.Instant_MILLISECOND:
		layout = pick(utc, "2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05.000-07:00")
	case dtpb.Instant_MICROSECOND:
		layout = pick(utc, "2006-01-02T15:04:05.000000Z", "2006-01-02T15:04:05.000000-07:00")
	default:
		return false
	}
	return w.timeValue(x.ValueUs, x.Timezone, layout)
}

func (w *writer) timeValue(us int64, tz, layout string) (handled bool) {
	loc, ok := zone(tz)
	if !ok {
		return false
	}
	w.buf = append(w.buf, '"')
	w.buf = unixMicro(us, loc).AppendFormat(w.buf, layout)
	w.buf = append(w.buf, '"')
	return true
}

// optStr prints a string element under k when it is set (callers checked it
// is plain).
func (o *obj) optStr(k string, p interface {
	plain
	GetValue() string
}, set bool) {
	if set {
		o.key(k)
		o.w.str(p.GetValue())
	}
}

// optSub prints a nested message under k when it is set.
func (o *obj) optSub(k string, m proto.Message, set bool) error {
	if !set {
		return nil
	}
	return o.sub(k, m)
}

func plainStrs(ss []*dtpb.String) bool {
	for _, s := range ss {
		if s == nil || !noMeta(s.Id, s.Extension) {
			return false
		}
	}
	return true
}

// strs prints a list of plain strings under k when it is not empty.
func (o *obj) strs(k string, ss []*dtpb.String) {
	if len(ss) == 0 {
		return
	}
	o.key(k)
	o.w.buf = append(o.w.buf, '[')
	for i, s := range ss {
		if i > 0 {
			o.w.buf = append(o.w.buf, ',')
		}
		o.w.str(s.Value)
	}
	o.w.buf = append(o.w.buf, ']')
}

// quantity prints Quantity and SimpleQuantity (comparator nil).
func (w *writer) quantity(x plain, code *dtpb.Code, comparator *dtpb.Quantity_ComparatorCode, system *dtpb.Uri, unit *dtpb.String, value *dtpb.Decimal) (bool, error) {
	if !isPlain(x) || !plainCode(code) || !plainUri(system) || !plainString(unit) {
		return false, nil
	}
	o := w.open()
	o.optStr("code", code, code != nil)
	if err := o.optSub("comparator", comparator, comparator != nil); err != nil {
		return false, err
	}
	o.optStr("system", system, system != nil)
	o.optStr("unit", unit, unit != nil)
	if err := o.optSub("value", value, value != nil); err != nil {
		return false, err
	}
	o.close()
	return true, nil
}

func (w *writer) contactPoint(x *dtpb.ContactPoint) (bool, error) {
	if !noMeta(x.Id, x.Extension) || !plainString(x.Value) {
		return false, nil
	}
	o := w.open()
	if err := o.optSub("period", x.Period, x.Period != nil); err != nil {
		return false, err
	}
	if err := o.optSub("rank", x.Rank, x.Rank != nil); err != nil {
		return false, err
	}
	if err := o.optSub("system", x.System, x.System != nil); err != nil {
		return false, err
	}
	if err := o.optSub("use", x.Use, x.Use != nil); err != nil {
		return false, err
	}
	o.optStr("value", x.Value, x.Value != nil)
	o.close()
	return true, nil
}

func (w *writer) humanName(x *dtpb.HumanName) (bool, error) {
	if !noMeta(x.Id, x.Extension) || !plainString(x.Family) || !plainString(x.Text) || !plainStrs(x.Given) || !plainStrs(x.Prefix) || !plainStrs(x.Suffix) {
		return false, nil
	}
	o := w.open()
	o.optStr("family", x.Family, x.Family != nil)
	o.strs("given", x.Given)
	if err := o.optSub("period", x.Period, x.Period != nil); err != nil {
		return false, err
	}
	o.strs("prefix", x.Prefix)
	o.strs("suffix", x.Suffix)
	o.optStr("text", x.Text, x.Text != nil)
	if err := o.optSub("use", x.Use, x.Use != nil); err != nil {
		return false, err
	}
	o.close()
	return true, nil
}

func (w *writer) address(x *dtpb.Address) (bool, error) {
	if !noMeta(x.Id, x.Extension) || !plainString(x.City) || !plainString(x.Country) || !plainString(x.District) || !plainStrs(x.Line) ||
		!plainString(x.PostalCode) || !plainString(x.State) || !plainString(x.Text) {
		return false, nil
	}
	o := w.open()
	o.optStr("city", x.City, x.City != nil)
	o.optStr("country", x.Country, x.Country != nil)
	o.optStr("district", x.District, x.District != nil)
	o.strs("line", x.Line)
	if err := o.optSub("period", x.Period, x.Period != nil); err != nil {
		return false, err
	}
	o.optStr("postalCode", x.PostalCode, x.PostalCode != nil)
	o.optStr("state", x.State, x.State != nil)
	o.optStr("text", x.Text, x.Text != nil)
	if err := o.optSub("type", x.Type, x.Type != nil); err != nil {
		return false, err
	}
	if err := o.optSub("use", x.Use, x.Use != nil); err != nil {
		return false, err
	}
	o.close()
	return true, nil
}

// The typed reference fields fastReference reads without reflection, in
// the order of Printer.fastRefs.
const (
	refPatient = iota
	refPractitioner
	refPractitionerRole
	refOrganization
	refEncounter
	refDevice
	refBinary
	refOperationOutcome
	refGoal
	refObservation
	refCondition
	refMedication
	numFastRefs
)

var fastRefNames = [numFastRefs]string{
	"patient_id", "practitioner_id", "practitioner_role_id", "organization_id", "encounter_id", "device_id",
	"binary_id", "operation_outcome_id", "goal_id", "observation_id", "condition_id", "medication_id",
}

// typedRef returns the ReferenceId of one of the fastRefs fields and its
// "Type/" prefix, or prefix "" for any other field.
func (p *Printer) typedRef(r any) (*dtpb.ReferenceId, string) {
	var id *dtpb.ReferenceId
	var i int
	switch r := r.(type) {
	case *dtpb.Reference_PatientId:
		id, i = r.PatientId, refPatient
	case *dtpb.Reference_PractitionerId:
		id, i = r.PractitionerId, refPractitioner
	case *dtpb.Reference_PractitionerRoleId:
		id, i = r.PractitionerRoleId, refPractitionerRole
	case *dtpb.Reference_OrganizationId:
		id, i = r.OrganizationId, refOrganization
	case *dtpb.Reference_EncounterId:
		id, i = r.EncounterId, refEncounter
	case *dtpb.Reference_DeviceId:
		id, i = r.DeviceId, refDevice
	case *dtpb.Reference_BinaryId:
		id, i = r.BinaryId, refBinary
	case *dtpb.Reference_OperationOutcomeId:
		id, i = r.OperationOutcomeId, refOperationOutcome
	case *dtpb.Reference_GoalId:
		id, i = r.GoalId, refGoal
	case *dtpb.Reference_ObservationId:
		id, i = r.ObservationId, refObservation
	case *dtpb.Reference_ConditionId:
		id, i = r.ConditionId, refCondition
	case *dtpb.Reference_MedicationId:
		id, i = r.MedicationId, refMedication
	default:
		return nil, ""
	}
	return id, p.fastRefs[i]
}
