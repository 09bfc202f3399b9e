package consent

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// datePaths are the search parameters holding each type's clinically
// relevant date, in order of preference; _lastUpdated is the fallback.
var datePaths = map[string][]string{
	"Condition": {"onset-date", "recorded-date"}, "Observation": {"date"}, "Procedure": {"date"},
	"ServiceRequest": {"authored", "occurrence"}, "Encounter": {"date"}, "CarePlan": {"date"},
	"MedicationRequest": {"authoredon"}, "MedicationStatement": {"effective"},
	"AllergyIntolerance": {"date"}, "Task": {"authored-on", "period"}, "Immunization": {"date"},
	"DocumentReference": {"date", "period"}, "Composition": {"date"}, "Goal": {"start-date"},
	"QuestionnaireResponse": {"authored"}, "CareTeam": {"date"}, "Consent": {"date"},
	"Provenance": {"recorded"}, "AuditEvent": {"date"}, "DiagnosticReport": {"date", "issued"},
}

// Indexed is what the search filter knows of a resource: the patients it
// concerns and its facts, from the store's index values (no JSON parsed).
type Indexed struct {
	Patients []string // "Patient/id"; empty for data about no patient
	Facts    ResourceFacts
	Tags     []string // "system|code" of meta.tag (owners, Policy.Owned)
}

// FromIndex reads the facts of typ/id from its index values. Codes, the
// date and related references are only read when want asks for them.
func FromIndex(typ, id string, v store.IndexValues) Indexed {
	return fromIndex(typ, id, v, needCodes|needDate|needRelated|needRef|needLabels)
}

func fromIndex(typ, id string, v store.IndexValues, want needs) Indexed {
	x := Indexed{Patients: patientsOf(typ, id, v), Tags: v.Tokens("_tag")}
	readFacts(&x.Facts, typ, id, v, v.Tokens("_security"), want)
	return x
}

// readFacts fills f with the facts of typ/id that want asks for, reusing
// f's slices (the search filter keeps one ResourceFacts per request). sec
// are the resource's _security tokens. Ref is only set when a data
// criterion may read it.
func readFacts(f *ResourceFacts, typ, id string, v store.IndexValues, sec []string, want needs) {
	f.Type, f.Ref = typ, ""
	if want&(needRef|needRelated) != 0 {
		f.Ref = typ + "/" + id
	}
	f.Categories, f.Labels = f.Categories[:0], f.Labels[:0]
	for _, tok := range sec {
		sys, code, _ := strings.Cut(tok, "|")
		if sys == category.System {
			f.Categories = append(f.Categories, category.Code(code))
		} else {
			f.Labels = append(f.Labels, category.Sensitivity{System: sys, Code: code})
		}
	}
	f.Date = time.Time{}
	if want&needDate != 0 {
		f.Date = dateOf(typ, v)
	}
	f.Codes = nil
	if want&needCodes != 0 {
		f.Codes = v.Tokens("code")
	}
	f.Related = f.Related[:0]
	if want&needRelated != 0 {
		for _, p := range search.Params(typ) {
			if p.Kind == search.Reference {
				f.Related = append(f.Related, v.Refs(p.Name)...)
			}
		}
	}
}

// patientsOf finds the patients a resource is about.
func patientsOf(typ, id string, v store.IndexValues) []string {
	return patientsBy(patientParamOf(typ), typ, id, v)
}

// patientParam says where a type names its patient.
type patientParam uint8

const (
	byNone patientParam = iota
	byPatient
	bySubject
)

func patientParamOf(typ string) patientParam {
	if _, ok := search.Lookup(typ, "patient"); ok {
		return byPatient
	}
	if _, ok := search.Lookup(typ, "subject"); ok {
		return bySubject
	}
	return byNone
}

// patientsBy is patientsOf with the type's patientParam already looked up.
func patientsBy(pp patientParam, typ, id string, v store.IndexValues) []string {
	if typ == "Patient" {
		return []string{"Patient/" + id}
	}
	switch pp {
	case byPatient:
		return v.Refs("patient")
	case bySubject:
		var out []string
		for _, r := range v.Refs("subject") {
			if strings.HasPrefix(r, "Patient/") {
				out = append(out, r)
			}
		}
		return out
	}
	return nil
}

func dateOf(typ string, v store.IndexValues) time.Time {
	for _, p := range datePaths[typ] {
		if ds := v.Dates(p); len(ds) > 0 {
			return time.UnixMicro(ds[0][0]).UTC()
		}
	}
	if ds := v.Dates("_lastUpdated"); len(ds) > 0 {
		return time.UnixMicro(ds[0][0]).UTC()
	}
	return time.Time{}
}

// FactsOf reads the facts of a parsed resource, e.g. an older version served
// by vread or history, whose labels the current index may not show.
func FactsOf(m proto.Message) Indexed {
	return FromIndex(resource.Type(m), resource.ID(m), extracted(search.Extract(m)))
}

// extracted serves a resource's extracted values as index values.
type extracted []search.Value

func (x extracted) Tokens(param string) []string {
	var out []string
	for _, v := range x {
		if v.Param == param && v.Kind == search.Token && strings.Contains(v.Text, "|") {
			out = append(out, v.Text)
		}
	}
	return out
}

func (x extracted) Refs(param string) []string {
	var out []string
	for _, v := range x {
		if v.Param == param && v.Kind == search.Reference {
			out = append(out, v.Text)
		}
	}
	return out
}

func (x extracted) Dates(param string) [][2]int64 {
	var out [][2]int64
	for _, v := range x {
		if v.Param == param && v.Kind == search.Date {
			out = append(out, [2]int64{v.Start, v.End})
		}
	}
	return out
}
