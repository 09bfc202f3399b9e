package console

import (
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
)

// Text of FHIR datatypes, for display.

func humanName(names []*dtpb.HumanName) string {
	n := mainName(names)
	if n == nil {
		return ""
	}
	if t := n.GetText().GetValue(); t != "" {
		return t
	}
	var parts []string
	for _, p := range n.GetPrefix() {
		parts = append(parts, p.GetValue())
	}
	for _, g := range n.GetGiven() {
		parts = append(parts, g.GetValue())
	}
	if f := n.GetFamily().GetValue(); f != "" {
		parts = append(parts, f)
	}
	return strings.Join(parts, " ")
}

// mainName is the name a person is known by: her official one, else
// the first; nil when she has none.
func mainName(names []*dtpb.HumanName) *dtpb.HumanName {
	if len(names) == 0 {
		return nil
	}
	for _, x := range names {
		if x.GetUse().GetValue().String() == "OFFICIAL" {
			return x
		}
	}
	return names[0]
}

// nameParts are the family and given names of the name a person is known
// by, for ordering people.
func nameParts(names []*dtpb.HumanName) (family, given string) {
	n := mainName(names)
	var gs []string
	for _, g := range n.GetGiven() {
		gs = append(gs, g.GetValue())
	}
	return n.GetFamily().GetValue(), strings.Join(gs, " ")
}

func conceptText(cc *dtpb.CodeableConcept) string {
	if t := cc.GetText().GetValue(); t != "" {
		return t
	}
	for _, c := range cc.GetCoding() {
		if d := c.GetDisplay().GetValue(); d != "" {
			return d
		}
	}
	for _, c := range cc.GetCoding() {
		if d := c.GetCode().GetValue(); d != "" {
			return d
		}
	}
	return ""
}

func conceptsText(ccs []*dtpb.CodeableConcept) string {
	var out []string
	for _, cc := range ccs {
		if t := conceptText(cc); t != "" {
			out = append(out, t)
		}
	}
	return strings.Join(out, ", ")
}

func dateText(d *dtpb.Date) string {
	if d == nil {
		return ""
	}
	t := time.UnixMicro(d.GetValueUs()).In(resource.Location(d.GetTimezone()))
	switch d.GetPrecision() {
	case dtpb.Date_YEAR:
		return t.Format("2006")
	case dtpb.Date_MONTH:
		return t.Format("2006-01")
	}
	return t.Format("2006-01-02")
}

func dateTimeOf(d *dtpb.DateTime) time.Time {
	if d == nil {
		return time.Time{}
	}
	return time.UnixMicro(d.GetValueUs()).In(resource.Location(d.GetTimezone()))
}

// lastUpdated and versionID read a resource's meta.
func lastUpdated(m proto.Message) time.Time {
	i := resource.PeekMeta(m).GetLastUpdated()
	if i == nil {
		return time.Time{}
	}
	return time.UnixMicro(i.GetValueUs()).UTC()
}

func versionID(m proto.Message) string { return resource.PeekMeta(m).GetVersionId().GetValue() }

// code is an enum's FHIR code ("ON_HOLD" -> "on-hold").
func code(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
