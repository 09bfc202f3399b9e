package ingest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
)

// TestDeletedLetter: the hospital's document feed sends the discharge
// letter (heart failure, a diuretic at discharge), then deletes it: it was
// filed against the wrong patient (HL7 v2.5 section 9.2.1.2, canceled:
// "removed from a patient's record with no replacement"). The deletion
// comes as the ANS CI-SIS volet "Transmission de documents CDA en HL7
// v2" sends it (an MDM T04, or an ORU R01, with ORC-1 CA and OBX-11 D,
// carrying the deleted document), or as an MDM T11 naming the document by
// TXA-12; the letter came by MDM, ORU or posted as CDA. Whatever carried
// either, everything the letter stated is withdrawn as a replaced
// version's statements are (one rule, replace.go), its history kept: the
// diagnosis entered-in-error with no clinical status, the prescription
// entered-in-error, the Composition entered-in-error, and every
// DocumentReference of it entered-in-error, not superseded (nothing
// replaces it). The letter sent again after its deletion (an older event)
// does not bring it back.
func TestDeletedLetter(t *testing.T) {
	t.Parallel()
	v1 := ingesttest.Liaison("LDL-V1", 1, "20260305140000+0100", "", true, "I50.0")
	mdm := ingesttest.MDM("T02", "MDM-1", "20260305140500+0100", "LDL-V1", "", v1)
	oru := ingesttest.ORU("ORU-1", "20260305140500+0100", "NW", "F", v1)
	t04 := ingesttest.MDMDeletion("T04", "DEL-1", "20260306090000+0100", "LDL-V1", v1)
	t11 := ingesttest.MDMDeletion("T11", "DEL-1", "20260306090000+0100", "LDL-V1", nil)
	oruDel := ingesttest.ORU("DEL-1", "20260306090000+0100", "CA", "D", v1)
	for _, c := range []struct {
		name       string
		first      func(t *testing.T, in *Ingester)
		deletion   []byte
		reportsToo bool // an ORU's report, whose order the deletion cancels
	}{
		{name: "MDM T02, MDM T04", first: func(t *testing.T, in *Ingester) { sendOK(t, in, mdm) }, deletion: t04},
		{name: "MDM T02, MDM T11", first: func(t *testing.T, in *Ingester) { sendOK(t, in, mdm) }, deletion: t11},
		{name: "CDA, MDM T04", first: func(t *testing.T, in *Ingester) { postCDA(t, in, v1) }, deletion: t04},
		{name: "ORU NW, ORU CA", first: func(t *testing.T, in *Ingester) { sendOK(t, in, oru) }, deletion: oruDel, reportsToo: true},
		{name: "MDM T02, ORU CA", first: func(t *testing.T, in *Ingester) { sendOK(t, in, mdm) }, deletion: oruDel},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, st := newTest(t)
			c.first(t, in)
			in.Sync()
			if conds := statuses(t, st, "Condition"); conds["I50.0"] != "active/" {
				t.Fatalf("before the deletion, Conditions (clinical/verification): %v", conds)
			}
			sendOK(t, in, c.deletion)
			in.Sync()
			checkDeleted(t, st, c.reportsToo)
			// the letter again, sent before its deletion: an older event
			sendOK(t, in, ingesttest.MDM("T02", "MDM-AGAIN", "20260305140500+0100", "LDL-V1", "", v1))
			in.Sync()
			checkDeleted(t, st, c.reportsToo)
			if rep, err := in.Inbox(); err != nil || len(rep.Failed) > 0 {
				t.Fatalf("messages set aside: %+v %v", rep, err)
			}
		})
	}
}

// checkDeleted fails unless everything the letter LDL-V1 stated is
// withdrawn.
func checkDeleted(t *testing.T, st *store.Store, reports bool) {
	t.Helper()
	if conds := statuses(t, st, "Condition"); conds["I50.0"] != "/entered-in-error" {
		t.Errorf("Conditions (clinical/verification): %v; want I50.0 withdrawn", conds)
	}
	for _, typ := range []string{"MedicationRequest", "Composition"} {
		got := topStatuses(t, st, typ)
		if len(got) == 0 {
			t.Errorf("no %s stored", typ)
		}
		for id, s := range got {
			if s != "entered-in-error" {
				t.Errorf("%s/%s of the deleted letter is %q", typ, id, s)
			}
		}
	}
	docs := statuses(t, st, "DocumentReference")
	if len(docs) == 0 {
		t.Error("no DocumentReference stored")
	}
	for ident, s := range docs {
		if strings.TrimSpace(strings.ReplaceAll(s, "entered-in-error", "")) != "" {
			t.Errorf("DocumentReference %s is %q, want entered-in-error (%v)", ident, s, docs)
		}
	}
	if reports {
		for id, s := range topStatuses(t, st, "DiagnosticReport") {
			if s != "entered-in-error" {
				t.Errorf("DiagnosticReport/%s of the cancelled order is %q", id, s)
			}
		}
	}
}

// topStatuses lists the status of every stored resource of typ by id.
func topStatuses(t *testing.T, st *store.Store, typ string) map[string]string {
	t.Helper()
	out := map[string]string{}
	eachStored(t, st, typ, func(id string, js []byte) {
		var v struct{ Status string }
		if err := json.Unmarshal(js, &v); err != nil {
			t.Fatal(err)
		}
		out[id] = v.Status
	})
	return out
}

// TestDeletionOfUnknownDocument: a deletion of a document Relais never
// received (another receiver's, or one whose original was lost) is
// acknowledged AA and changes nothing clinical: no DocumentReference,
// Composition, statement or stay is written, and nothing is withdrawn.
func TestDeletionOfUnknownDocument(t *testing.T) {
	t.Parallel()
	other := ingesttest.Liaison("LDL-OTHER", 1, "20260305140000+0100", "", true, "I50.0")
	for name, m := range map[string][]byte{
		"MDM T04": ingesttest.MDMDeletion("T04", "DEL-1", "20260306090000+0100", "LDL-OTHER", other),
		"MDM T11": ingesttest.MDMDeletion("T11", "DEL-1", "20260306090000+0100", "LDL-OTHER", nil),
		"ORU CA":  ingesttest.ORU("DEL-1", "20260306090000+0100", "CA", "D", other),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, st := newTest(t)
			sendOK(t, in, m)
			in.Sync()
			for _, typ := range []string{"DocumentReference", "Composition", "Condition", "MedicationRequest", "DiagnosticReport", "Encounter"} {
				if got := statuses(t, st, typ); len(got) > 0 {
					t.Errorf("a deletion of a document never received wrote %s: %v", typ, got)
				}
			}
		})
	}
}

// TestIncoherentDeletionRefused: the volet has the receiver refuse a
// message whose ORC-1, OBX-11 and event disagree; a T11 must name the
// document it cancels (TXA-12). Each is answered AE, with an ERR naming
// the field, and nothing of it is stored: the letter stays as it was.
func TestIncoherentDeletionRefused(t *testing.T) {
	t.Parallel()
	v1 := ingesttest.Liaison("LDL-V1", 1, "20260305140000+0100", "", true, "I50.0")
	t04 := string(ingesttest.MDMDeletion("T04", "DEL-1", "20260306090000+0100", "LDL-V1", v1))
	for _, c := range []struct {
		name, msg, want string
	}{
		{"OBX-11 D in a T02", strings.Replace(strings.Replace(t04, "MDM^T04", "MDM^T02", 1), "ORC|CA\r", "", 1), "E:103"},
		{"ORC-1 CA with OBX-11 F", strings.Replace(t04, "||||||D", "||||||F", 1), "E:103"},
		{"T11 without TXA-12", strings.Replace(string(ingesttest.MDMDeletion("T11", "DEL-1", "20260306090000+0100", "LDL-V1", nil)), "LDL-V1^CHLILLE^1.2.250.1.999.42.1^ISO", "", 1), "E:101"},
		{"ORU CA with OBX-11 F", string(ingesttest.ORU("DEL-1", "20260306090000+0100", "CA", "F", v1)), "E:103"},
		{"ORU NW with OBX-11 D", string(ingesttest.ORU("DEL-1", "20260306090000+0100", "NW", "D", v1)), "E:103"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, st := newTest(t)
			sendOK(t, in, ingesttest.MDM("T02", "MDM-1", "20260305140500+0100", "LDL-V1", "", v1))
			in.Sync()
			before := changes(t, st)
			code, _, errs := ack(t, send(t, in, []byte(c.msg)).ACK)
			if code != "AE" || len(errs) != 1 || errs[0] != c.want {
				t.Errorf("ACK %s %v, want AE with ERR %s", code, errs, c.want)
			}
			in.Sync()
			if after := changes(t, st); after != before {
				t.Errorf("the refused message wrote %d versions", after-before)
			}
			if conds := statuses(t, st, "Condition"); conds["I50.0"] != "active/" {
				t.Errorf("Conditions: %v; the letter must stay as it was", conds)
			}
		})
	}
}

// TestDeletionKeepsItsDocumentSensitivity: the deletion of a restricted
// letter (CDA confidentialityCode R, which labels every resource of it R)
// carries the letter itself, as the volet sends it: its source Binary is
// labelled R as the letter's was, and so is its Provenance, which names
// the letter's withdrawn statements. A reader without a provision naming
// R learns from neither what the letter was, nor that it was there.
func TestDeletionKeepsItsDocumentSensitivity(t *testing.T) {
	t.Parallel()
	v1 := []byte(strings.Replace(string(ingesttest.Liaison("LDL-V1", 1, "20260305140000+0100", "", true, "I50.0")),
		`<confidentialityCode code="N"`, `<confidentialityCode code="R"`, 1))
	in, st := newTest(t)
	sendOK(t, in, ingesttest.MDM("T02", "MDM-1", "20260305140500+0100", "LDL-V1", "", v1))
	r := send(t, in, ingesttest.MDMDeletion("T04", "DEL-1", "20260306090000+0100", "LDL-V1", v1))
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("ACK %s %v", code, errs)
	}
	in.Sync()
	checked := 0
	for _, ref := range r.Writes {
		typ, id, _ := strings.Cut(ref, "/")
		if typ != "Binary" && typ != "Provenance" {
			continue
		}
		rec, err := st.Read(typ, id)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Meta struct {
				Security []struct{ System, Code string }
			}
			Target []struct{ Reference string }
		}
		if err := json.Unmarshal(rec.JSON, &v); err != nil {
			t.Fatal(err)
		}
		restricted := false
		for _, s := range v.Meta.Security {
			restricted = restricted || s.System == "http://terminology.hl7.org/CodeSystem/v3-Confidentiality" && s.Code == "R"
		}
		if !restricted {
			t.Errorf("the deletion's %s is labelled %v, want R as the letter it deletes", typ, v.Meta.Security)
		}
		if typ == "Provenance" && len(v.Target) < 2 {
			t.Errorf("the deletion's Provenance names %v, want what it withdrew", v.Target)
		}
		checked++
	}
	if checked != 2 {
		t.Errorf("checked %d of the deletion's Binary and Provenance (%v)", checked, r.Writes)
	}
}

// TestDeletionNeedsWithdrawnTypes: what a deletion withdraws is known
// only once the store is read, so its caller must be allowed to update
// every type a withdrawal writes; a token that may write what the
// deletion's own mapping writes (a patient, a source) but not Conditions
// is refused before anything is acknowledged or stored, as a message
// writing Conditions is.
func TestDeletionNeedsWithdrawnTypes(t *testing.T) {
	t.Parallel()
	v1 := ingesttest.Liaison("LDL-V1", 1, "20260305140000+0100", "", true, "I50.0")
	in, st := newTest(t)
	sendOK(t, in, ingesttest.MDM("T02", "MDM-1", "20260305140500+0100", "LDL-V1", "", v1))
	in.Sync()
	noConditions := func(types []string) error {
		if slices.Contains(types, "Condition") {
			return outcome.New(outcome.Forbidden, "scope does not allow Condition")
		}
		return nil
	}
	r, err := in.HL7v2(context.Background(), ingesttest.MDMDeletion("T04", "DEL-1", "20260306090000+0100", "LDL-V1", v1), noConditions)
	if outcome.KindOf(err) != outcome.Forbidden {
		var ack []byte
		if r != nil {
			ack = r.ACK
		}
		t.Fatalf("HL7v2 error %v, ACK %q; want Forbidden and no ACK", err, ack)
	}
	in.Sync()
	if conds := statuses(t, st, "Condition"); conds["I50.0"] != "active/" {
		t.Errorf("Conditions: %v; a refused deletion withdrew the letter", conds)
	}
}
