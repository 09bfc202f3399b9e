package hl7v2

import (
	"slices"
	"strings"
	"testing"

	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	rolepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	taskpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// TestReferral: an I12, its I13 and its I14 reach one ServiceRequest and
// one Task; the I14 revokes and cancels them; the Task is created only
// when absent but by the I14; the referring provider, named by RPPS in
// PRD-7, is the Practitioner the PV1 names by IDNPS.
func TestReferral(t *testing.T) {
	t.Parallel()
	var srID, taskID string
	for _, tc := range []struct {
		file, srStatus, taskStatus, priority string
		ifAbsent                             bool
	}{
		{"testdata/ref-i12.hl7", "ACTIVE", "REQUESTED", "ROUTINE", true},
		{"testdata/ref-i13.hl7", "ACTIVE", "REQUESTED", "STAT", true},
		{"testdata/ref-i14.hl7", "REVOKED", "CANCELLED", "STAT", false},
	} {
		c := convert(t, tc.file, testOptions())
		sr, task := one[*srpb.ServiceRequest](t, c), one[*taskpb.Task](t, c)
		if srID == "" {
			srID, taskID = sr.Id.Value, task.Id.Value
		}
		if sr.Id.Value != srID || task.Id.Value != taskID {
			t.Errorf("%s: ServiceRequest %s, Task %s, want the I12's %s, %s", tc.file, sr.Id.Value, task.Id.Value, srID, taskID)
		}
		if got := sr.Status.Value.String(); got != tc.srStatus {
			t.Errorf("%s: ServiceRequest status %s, want %s", tc.file, got, tc.srStatus)
		}
		if got := task.Status.Value.String(); got != tc.taskStatus {
			t.Errorf("%s: Task status %s, want %s", tc.file, got, tc.taskStatus)
		}
		if got := sr.GetPriority().GetValue().String(); got != tc.priority {
			t.Errorf("%s: priority %s, want %s", tc.file, got, tc.priority)
		}
		if got := slices.Contains(c.Header.IfAbsent, "Task/"+task.Id.Value); got != tc.ifAbsent {
			t.Errorf("%s: Task created only when absent: %v, want %v", tc.file, got, tc.ifAbsent)
		}
		if resource.RefString(task.Focus) != "ServiceRequest/"+sr.Id.Value || resource.RefString(task.Owner) != resource.RefString(sr.Performer[0]) ||
			resource.RefString(task.GetForValue()) != c.Header.Patient || task.Intent.Value.String() != "ORDER" {
			t.Errorf("%s: Task focus %v owner %v for %v intent %v", tc.file, task.Focus, task.Owner, task.GetForValue(), task.Intent)
		}
		if len(sr.ReasonReference) != 1 || len(sr.Identifier) != 1 || sr.Identifier[0].Value.Value != "ADR-2024-0007" {
			t.Errorf("%s: reasons %v, identifiers %v", tc.file, sr.ReasonReference, sr.Identifier)
		}
		for _, cats := range [][]category.Code{category.Of(sr), category.Of(task)} {
			if len(cats) != 1 || cats[0] != category.ORD {
				t.Errorf("%s: labelled %v, want ORD", tc.file, cats)
			}
		}
		roles := map[string]*rolepb.PractitionerRole{}
		for _, r := range resources[*rolepb.PractitionerRole](c) {
			roles["PractitionerRole/"+r.Id.Value] = r
		}
		requester := roles[resource.RefString(sr.Requester)]
		if requester == nil {
			t.Fatalf("%s: requester %v is not a PractitionerRole of the message", tc.file, sr.Requester)
		}
		attending := one[*encpb.Encounter](t, c).Participant[0].Individual // PV1-7, by IDNPS
		if resource.RefString(requester.Practitioner) != resource.RefString(attending) {
			t.Errorf("%s: referring provider %v, want the attending doctor %v", tc.file, requester.Practitioner, attending)
		}
	}
}

// TestReferralGP: a PRD of the primary care provider (PP, HL7 table 0286)
// gives the patient's general practitioner as the person, as a PD1-4
// does, not the role the PRD makes in its organisation.
func TestReferralGP(t *testing.T) {
	t.Parallel()
	msg := strings.Replace(string(read(t, "testdata/ref-i12.hl7")), "\rPRD|RT",
		"\rPRD|PP^Primary Care Provider^HL70286|TRAITANT^ANNE||||810000000555^IDNPS|||CABINET^^^^^FINESS&1.2.250.1.71.4.2.2&ISO^FINEG^^^590000001\rPRD|RT", 1)
	c, err := Convert([]byte(msg), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	gps := one[*patpb.Patient](t, c).GetGeneralPractitioner()
	if len(gps) != 1 || gps[0].GetPractitionerId() == nil {
		t.Fatalf("the PP provider as general practitioner: %v, want her Practitioner", gps)
	}
}
