package hl7v2

import (
	"errors"
	"strings"
	"testing"

	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// TestMerge: an A40 (PAM-FR) and an A34 state the merge: the survivor
// replaces the prior Patient, which is inactive and replaced by it.
func TestMerge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, prior string }{
		{fixtures + "/pam-fr-a40.hl7", "654321"},
		{sharedCorpus + "/simhosp-ADT-A34-0270.hl7", "618454581"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := convert(t, tc.path, testOptions())
			var survivor, prior *ppb.Patient
			for _, p := range resources[*ppb.Patient](c) {
				switch {
				case "Patient/"+p.GetId().GetValue() == c.Header.Patient:
					survivor = p
				default:
					prior = p
				}
			}
			if survivor == nil || prior == nil {
				t.Fatalf("survivor %v, prior %v", survivor != nil, prior != nil)
			}
			if len(prior.Identifier) != 1 || prior.Identifier[0].GetValue().GetValue() != tc.prior {
				t.Errorf("prior identifiers %v, want MRG-1's %s", prior.Identifier, tc.prior)
			}
			if prior.GetActive() == nil || prior.GetActive().GetValue() {
				t.Error("prior Patient not inactive")
			}
			if got := linkOf(prior, "REPLACED_BY"); got != survivor.GetId().GetValue() {
				t.Errorf("prior replaced-by %q, want %s", got, survivor.GetId().GetValue())
			}
			if got := linkOf(survivor, "REPLACES"); got != prior.GetId().GetValue() {
				t.Errorf("survivor replaces %q, want %s", got, prior.GetId().GetValue())
			}
		})
	}
}

func linkOf(p *ppb.Patient, typ string) string {
	for _, l := range p.GetLink() {
		if l.GetType().GetValue().String() == typ {
			return l.GetOther().GetPatientId().GetValue()
		}
	}
	return ""
}

// TestMergeRefused: a merge without a prior identifier is AE; a merge of
// the patient into itself is AR.
func TestMergeRefused(t *testing.T) {
	t.Parallel()
	const head = "MSH|^~\\&|A|H^1.2.250.1.999.1.1^ISO|R|R|20240105110000||ADT^A40^ADT_A39|M1|P|2.5\rPID|1||1^^^H&1.2.250.1.999.1.1&ISO^PI\r"
	for _, tc := range []struct {
		name, mrg string
		code      er7.AckCode
	}{
		{"no prior", "MRG|\r", er7.AE},
		{"into itself", "MRG|1^^^H&1.2.250.1.999.1.1&ISO^PI\r", er7.AR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Convert([]byte(head+tc.mrg), testOptions())
			var e *er7.Error
			if !errors.As(err, &e) || !strings.HasPrefix(e.Loc.String(), "MRG") {
				t.Fatalf("err %v, want an MRG error", err)
			}
			if got := er7.CodeFor(false, err); got != tc.code {
				t.Errorf("ACK %s, want %s", got, tc.code)
			}
		})
	}
}
