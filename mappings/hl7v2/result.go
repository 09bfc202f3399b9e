package hl7v2

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// Results (HL7 v2.5 chapter 7, ORU^R01; the OBSERVATION groups of other
// messages, such as REF^I12's): each OBR starts a DiagnosticReport, and
// the OBX segments that follow it, up to the next OBR, are its results.
// Both are labelled CLIN, their types' default category.

// reportStatuses maps OBR-25 (HL7 table 0123) to DiagnosticReport.status,
// after the v2-to-FHIR guide's concept map.
var reportStatuses = map[string]cpb.DiagnosticReportStatusCode_Value{
	"O": cpb.DiagnosticReportStatusCode_REGISTERED, "I": cpb.DiagnosticReportStatusCode_REGISTERED,
	"S": cpb.DiagnosticReportStatusCode_REGISTERED, "A": cpb.DiagnosticReportStatusCode_PARTIAL,
	"R": cpb.DiagnosticReportStatusCode_PARTIAL, "P": cpb.DiagnosticReportStatusCode_PRELIMINARY,
	"C": cpb.DiagnosticReportStatusCode_CORRECTED, "F": cpb.DiagnosticReportStatusCode_FINAL,
	"X": cpb.DiagnosticReportStatusCode_CANCELLED,
}

var obrMapped = []int{1, 2, 3, 4, 7, 8, 22, 24, 25}

// startReport maps an OBR to a DiagnosticReport, put at once; the OBX that
// follow add their results to it. Its id comes from the filler order
// number (OBR-3), else the placer's (OBR-2), else the code and time of the
// observation, so that a corrected result (OBR-25 C) sent again updates
// the same report.
func (c *conv) startReport(obr *er7.Segment) {
	dr := &drpb.DiagnosticReport{Subject: c.subject(), Encounter: c.encounterRef()}
	status, ok := reportStatuses[strings.ToUpper(text(obr.Field(25)))]
	if !ok {
		status = cpb.DiagnosticReportStatusCode_UNKNOWN
	}
	dr.Status = &drpb.DiagnosticReport_StatusCode{Value: status}
	dr.Code = c.concept(obr.Field(4))
	if dr.Code == nil {
		c.warn(obr, 4, "no universal service identifier: the report has no code")
		dr.Code = c.a.textConcept("unknown")
	}
	var key []string
	for _, f := range []struct {
		field int
		typ   string
	}{{3, "FILL"}, {2, "PLAC"}} {
		ei := obr.Field(f.field)
		a := hdOf(text(ei.Comp(2)), text(ei.Comp(3)), text(ei.Comp(4)))
		if id := c.identifier(text(ei.Comp(1)), a, f.typ); id != nil {
			dr.Identifier = append(dr.Identifier, id)
			if key == nil {
				key = []string{f.typ, authorityKey(a, c.scope), id.Value.Value}
			}
		}
	}
	if key == nil {
		key = []string{"code", codeKey(dr.Code), text(obr.Field(7).Comp(1)), text(obr.Field(1))}
	}
	dr.Id = c.a.id(c.b.ID(append([]string{"DiagnosticReport", c.patientID}, key...)...))
	c.reportTimes(obr, dr)
	if cat := c.tableConcept(obr.Field(24), "0074"); cat != nil {
		dr.Category = append(dr.Category, cat)
	}
	c.report, c.reportKey = dr, strings.Join(key, "\x1f")
	c.reportOrder, c.order = c.order, ""
	c.unmapped(obr, obrMapped...)
	if c.reportOrder == cancelled {
		// its order is cancelled (ORC-1 CA) and its documents deleted
		// (deletion.go): the report is withdrawn, not written
		c.deletes = append(c.deletes, "DiagnosticReport/"+dr.Id.Value)
		return
	}
	c.put(dr)
	c.ref.support = append(c.ref.support, resource.Ref("DiagnosticReport", dr.Id.Value)) // a referral's supporting information
}

// reportTimes: the observation date-time (OBR-7), with its end (OBR-8) as
// a period, and when the results were reported (OBR-22).
func (c *conv) reportTimes(obr *er7.Segment, dr *drpb.DiagnosticReport) {
	start, hasStart := c.dtm(obr, 7)
	end, hasEnd := c.dtm(obr, 8)
	switch {
	case hasStart && hasEnd:
		dr.Effective = &drpb.DiagnosticReport_EffectiveX{Choice: &drpb.DiagnosticReport_EffectiveX_Period{
			Period: &dtpb.Period{Start: c.dateTime(start), End: c.dateTime(end)}}}
	case hasStart:
		dr.Effective = &drpb.DiagnosticReport_EffectiveX{Choice: &drpb.DiagnosticReport_EffectiveX_DateTime{DateTime: c.dateTime(start)}}
	}
	if t, ok := c.dtm(obr, 22); ok {
		if dr.Issued = t.instant(); dr.Issued == nil {
			c.warn(obr, 22, "results report time without a time of day not mapped")
		}
	}
}

// addResult lists an Observation among the current report's results.
func (c *conv) addResult(o *obspb.Observation) {
	if c.report == nil || o == nil {
		return
	}
	c.report.Result = append(c.report.Result, resource.Ref("Observation", o.Id.Value))
	if o.Encounter == nil {
		o.Encounter = c.report.Encounter
	}
}

// mapNTE adds a note (NTE-3, repeating formatted text) to the Observation
// of the OBX it follows. Notes elsewhere are not mapped.
func (c *conv) mapNTE(s *er7.Segment) {
	if c.lastObs == nil {
		c.warnSegment(s)
		return
	}
	var lines []string
	for r := range s.Field(3).Repetitions() {
		lines = append(lines, r.String())
	}
	if t := strings.TrimSpace(strings.Join(lines, "\n")); t != "" {
		c.lastObs.Note = append(c.lastObs.Note, &dtpb.Annotation{Text: &dtpb.Markdown{Value: t}})
	}
	c.unmapped(s, 1, 2, 3)
}
