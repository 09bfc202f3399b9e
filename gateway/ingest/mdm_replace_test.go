package ingest

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
)

// statuses lists the current status of every stored resource of typ, as
// "code -> status" for Conditions (clinical/verification), or by id.
func statuses(t *testing.T, st *store.Store, typ string) map[string]string {
	t.Helper()
	out := map[string]string{}
	eachStored(t, st, typ, func(id string, json []byte) {
		js := string(json)
		switch typ {
		case "Condition":
			code := between(between(js, `"code":{"coding":[{`, `}`)+`"`, `"code":"`, `"`)
			clin := between(between(js, `"clinicalStatus":{"coding":[{`, `}`)+`"`, `"code":"`, `"`)
			ver := between(between(js, `"verificationStatus":{"coding":[{`, `}`)+`"`, `"code":"`, `"`)
			out[code] = clin + "/" + ver
		case "DocumentReference":
			out[between(js, `"masterIdentifier":{`, `}`)] += between(js, `"status":"`, `"`) + " "
		default:
			out[id] = between(js, `"status":"`, `"`)
		}
	})
	return out
}

// eachStored calls fn with the id and current JSON of every stored
// resource of typ.
func eachStored(t *testing.T, st *store.Store, typ string, fn func(id string, json []byte)) {
	t.Helper()
	q, err := search.Parse(typ, url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		rec, err := st.Read(typ, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		fn(h.ID, rec.JSON)
	}
}

// TestReplacedLetterInMDM: the hospital's document feed sends the
// discharge letter in an MDM T02, then its correction (version 2, RPLC
// naming version 1) in an MDM T10; or one of the two versions by MDM and
// the other posted as CDA. Whatever the carrier, the correction withdraws
// what only the first version stated (the heart-failure diagnosis, the
// diuretic at discharge) and supersedes the first version's
// DocumentReference, as a CDA posted on its own does: one rule.
func TestReplacedLetterInMDM(t *testing.T) {
	t.Parallel()
	v1 := ingesttest.Liaison("LDL-V1", 1, "20260305140000+0100", "", true, "I50.0")
	v2 := ingesttest.Liaison("LDL-V2", 2, "20260306100000+0100", "LDL-V1", false, "J44.1")
	m1 := ingesttest.MDM("T02", "MDM-1", "20260305140500+0100", "LDL-V1", "", v1)
	m2 := ingesttest.MDM("T10", "MDM-2", "20260306100500+0100", "LDL-V2", "LDL-V1", v2)
	for _, c := range []struct {
		name   string
		first  func(t *testing.T, in *Ingester)
		second func(t *testing.T, in *Ingester)
	}{
		{"MDM then MDM", func(t *testing.T, in *Ingester) { sendOK(t, in, m1) }, func(t *testing.T, in *Ingester) { sendOK(t, in, m2) }},
		{"CDA then MDM", func(t *testing.T, in *Ingester) { postCDA(t, in, v1) }, func(t *testing.T, in *Ingester) { sendOK(t, in, m2) }},
		{"MDM then CDA", func(t *testing.T, in *Ingester) { sendOK(t, in, m1) }, func(t *testing.T, in *Ingester) { postCDA(t, in, v2) }},
		{"MDM T10 first, then the T02", func(t *testing.T, in *Ingester) { sendOK(t, in, m2) }, func(t *testing.T, in *Ingester) { sendOK(t, in, m1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, st := newTest(t)
			c.first(t, in)
			c.second(t, in)
			in.Sync()
			if rep, err := in.Inbox(); err != nil || len(rep.Failed) > 0 {
				t.Fatalf("messages set aside: %+v %v", rep, err)
			}
			if encs := statuses(t, st, "Encounter"); len(encs) != 1 {
				t.Errorf("the stay is %d Encounters: %v", len(encs), encs)
			}
			conds := statuses(t, st, "Condition")
			if conds["I50.0"] != "/entered-in-error" || conds["J44.1"] != "active/" {
				t.Errorf("Conditions (clinical/verification): %v; want I50.0 withdrawn, J44.1 active", conds)
			}
			for id, s := range statuses(t, st, "MedicationRequest") {
				if s != "entered-in-error" {
					t.Errorf("MedicationRequest/%s only the replaced version states is %q", id, s)
				}
			}
			docs := statuses(t, st, "DocumentReference")
			for ident, s := range docs {
				if strings.Contains(ident, "LDL-V1") && strings.Contains(s, "current") {
					t.Errorf("a DocumentReference of version 1 is still current: %v", docs)
				}
			}
		})
	}
}

func sendOK(t *testing.T, in *Ingester, msg []byte) {
	t.Helper()
	r := send(t, in, msg)
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("ACK %s %v", code, errs)
	}
}

func postCDA(t *testing.T, in *Ingester, doc []byte) {
	t.Helper()
	if _, err := in.CDA(context.Background(), doc, nil); err != nil {
		t.Fatal(err)
	}
}

// mdmText is an HL7 v2.5 MDM message (chapter 9) of a discharge letter
// sent as a PDF (an OBX-5 of type ED), document number doc (TXA-12),
// replacing the document parent (TXA-13) in a T10.
func mdmText(event, control, doc, parent string) []byte {
	return []byte("MSH|^~\\&|DPI|CHU^1.2.250.1.999.93^ISO|RELAIS|RELAIS|20260306100000+0100||MDM^" + event + "^MDM_T02|" + control + "|P|2.5\r" +
		"EVN||20260306100000+0100\r" +
		"PID|1||IPP-93^^^CHU&1.2.250.1.999.93&ISO^PI||MARCHAL^LUCIE^^^^^L||19480203|F\r" +
		"PV1|1|I|CARDIO^101^1^CHU&1.2.250.1.999.93&ISO||||||||||||||||SEJ-93^^^CHU&1.2.250.1.999.93&ISO^VN\r" +
		"TXA|1|DS^Discharge summary^HL70270|AP|20260306095000+0100||20260306095000+0100||||||" + doc + "^CHU^1.2.250.1.999.93^ISO|" + parent + "^CHU^1.2.250.1.999.93^ISO|||AU||AV\r" +
		"OBX|1|ED|11490-0^Lettre de liaison^LN||^application^pdf^Base64^JVBERi0xLjQKJSVFT0YK||||||F\r")
}

// TestReplacedDocumentSuperseded: an MDM T10 replaces the document its
// TXA-13 names (HL7 v2.5 section 9.5.10), whatever its content (here a
// PDF letter): the replaced DocumentReference becomes superseded, so that
// a recipient does not read two current letters of one stay.
func TestReplacedDocumentSuperseded(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	for _, m := range [][]byte{mdmText("T02", "D-1", "DOC-93-1", ""), mdmText("T10", "D-2", "DOC-93-2", "DOC-93-1")} {
		if code, _, errs := ack(t, send(t, in, m).ACK); code != "AA" {
			t.Fatalf("%s: %s %v", m[:60], code, errs)
		}
	}
	in.Sync()
	q, err := search.Parse("DocumentReference", url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, h := range hits {
		rec, err := st.Read("DocumentReference", h.ID)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Status           string
			MasterIdentifier struct{ Value string }
		}
		if err := json.Unmarshal(rec.JSON, &v); err != nil {
			t.Fatal(err)
		}
		status[v.MasterIdentifier.Value] = v.Status
	}
	if status["DOC-93-1"] != "superseded" || status["DOC-93-2"] != "current" {
		t.Errorf("DocumentReferences by TXA-12: %v, want DOC-93-1 superseded and DOC-93-2 current", status)
	}
}
