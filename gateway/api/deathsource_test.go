package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestDeathFollowsSourceReliability is the hospital integrator whose
// identity source (the admissions system, PID-32 VALI with the patient's
// qualified INS) and emergency department system (PID-32 PROV, the same
// patient number) both send HL7 v2.5 A31s about one patient. PID-29 and
// PID-30 (v2.5 section 3.4.2.29-30) record a death, and PID-30 N corrects
// one recorded in error: both are changes of her identity record, so one
// rule decides both (Patient merge rules): a source at least as reliable
// as the best that wrote her record records and corrects a death; a less
// reliable one does neither, and its report is listed for the identity
// administrator instead of being lost.
func TestDeathFollowsSourceReliability(t *testing.T) {
	t.Parallel()
	const ct = "x-application/hl7-v2+er7"
	type msg struct {
		source, status string // MSH-3, PID-32
		death, dead    string // PID-29, PID-30
	}
	e := newEnv(t, 0)
	n := 0
	send := func(t *testing.T, ipp string, m msg) {
		t.Helper()
		n++
		pid := make([]string, 33)
		pid[0], pid[1] = "PID", "1"
		pid[3] = ipp + `^^^CHU&1.2.250.1.999.7&ISO^PI`
		if m.status == "VALI" {
			pid[3] += `~2480675131001` + strings.TrimPrefix(ipp, "IPP-") + `0^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS`
		}
		pid[5], pid[7], pid[8] = "LEFEBVRE^JEANNE^^^^^L", "19480307", "F"
		pid[29], pid[30], pid[32] = m.death, m.dead, m.status
		at := fmt.Sprintf("202603%02d090000", n)
		body := strings.Join([]string{
			`MSH|^~\&|` + m.source + `|CHU|RELAIS|RELAIS|` + at + `||ADT^A31^ADT_A05|` + fmt.Sprintf("%s-%d", m.source, n) + `|P|2.5`,
			`EVN|A31|` + at, strings.Join(pid, "|"), `PV1|1|N`}, "\r") + "\r"
		if r := e.do("POST", "/ingest/hl7v2", body, "Content-Type", ct); r.status != 200 || !strings.HasPrefix(msa(t, r), "AA ") {
			t.Fatalf("%s A31: %d %s", m.source, r.status, r.body)
		}
	}
	deceased := func(t *testing.T, ipp string) (bool, string) {
		t.Helper()
		r := e.do("GET", "/fhir/Patient?identifier=urn:oid:1.2.250.1.999.7|"+ipp, "")
		var b struct {
			Entry []struct {
				Resource struct {
					ID               string
					DeceasedDateTime string
					DeceasedBoolean  *bool
				}
			}
		}
		if err := json.Unmarshal(r.body, &b); err != nil || len(b.Entry) != 1 {
			t.Fatalf("Patient?identifier=%s: %d %s", ipp, r.status, r.body)
		}
		p := b.Entry[0].Resource
		return p.DeceasedDateTime != "" || (p.DeceasedBoolean != nil && *p.DeceasedBoolean), p.ID
	}
	gamDeath := msg{"GAM", "VALI", "202603070615", "Y"}
	gamAlive := msg{"GAM", "VALI", "", "N"}
	urgDeath := msg{"URG", "PROV", "202603070615", "Y"}
	urgAlive := msg{"URG", "PROV", "", "N"}
	gam := msg{"GAM", "VALI", "", ""}
	urg := msg{"URG", "PROV", "", ""}

	t.Run("a less reliable source neither records nor corrects", func(t *testing.T) {
		send(t, "IPP-1", gam)
		send(t, "IPP-1", urgDeath)
		if dead, id := deceased(t, "IPP-1"); dead {
			t.Errorf("the emergency system (PROV) recorded a death on Patient/%s, whose identity the admissions system qualified", id)
		} else {
			r := e.do("GET", "/admin/identity/review", "")
			if !strings.Contains(string(r.body), `"death-not-applied"`) || !strings.Contains(string(r.body), "Patient/"+id) {
				t.Errorf("the death it reported is not listed for review: %s", r.body)
			}
		}
		send(t, "IPP-1", gamDeath)
		if dead, _ := deceased(t, "IPP-1"); !dead {
			t.Fatal("the identity source's death is not recorded")
		}
		send(t, "IPP-1", urgAlive)
		if dead, _ := deceased(t, "IPP-1"); !dead {
			t.Error("the emergency system (PROV) corrected the death the identity source recorded")
		}
		send(t, "IPP-1", gamAlive)
		if dead, _ := deceased(t, "IPP-1"); dead {
			t.Error("the identity source's correction (PID-30 N) is not applied")
		}
	})
	t.Run("a source at least as reliable records and corrects", func(t *testing.T) {
		send(t, "IPP-2", urg)
		send(t, "IPP-2", urgDeath)
		if dead, _ := deceased(t, "IPP-2"); !dead {
			t.Fatal("the source that wrote the record does not record a death")
		}
		send(t, "IPP-2", urgAlive)
		if dead, _ := deceased(t, "IPP-2"); dead {
			t.Error("the source that wrote the record does not correct its death")
		}
		send(t, "IPP-2", gamDeath)
		if dead, _ := deceased(t, "IPP-2"); !dead {
			t.Fatal("a more reliable source does not record a death")
		}
		send(t, "IPP-2", gamAlive)
		if dead, _ := deceased(t, "IPP-2"); dead {
			t.Error("a more reliable source does not correct a death")
		}
	})
}
