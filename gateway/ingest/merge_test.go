package ingest

import (
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// Messages of one sender about two records of one person, 654321 (A) and
// 123456 (B); an A40 merges A into B (HL7 v2.5 3.3.40, IHE PAM-FR).
const mergeAuthority = "HOP&1.2.250.1.999.1.1&ISO"

func mergeMsg(event, control, pid string, segs ...string) []byte {
	s := "MSH|^~\\&|APP|HOP^1.2.250.1.999.1.1^ISO|RELAIS|RELAIS|20240105110000+0100||" + event + "|" + control + "|P|2.5\r" +
		"EVN||20240105110000+0100\r" +
		"PID|1||" + pid + "^^^" + mergeAuthority + "^PI||DUPONT^JEANNE^^^^^L||19800515|F\r"
	for _, seg := range segs {
		s += seg + "\r"
	}
	return []byte(s)
}

func admitMsg(control, pid, visit string) []byte {
	return mergeMsg("ADT^A01^ADT_A01", control, pid, "PV1|1|I|||||||||||||||||"+visit+"^^^"+mergeAuthority+"^VN")
}

func resultMsg(control, pid string) []byte {
	return mergeMsg("ORU^R01^ORU_R01", control, pid,
		"OBR|1|"+control+"^APP||2345-7^Glucose^LN|||20240103080000+0100",
		"OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L^^UCUM|||||F")
}

func a40(control, survivor, prior string) []byte {
	return mergeMsg("ADT^A40^ADT_A39", control, survivor, "MRG|"+prior+"^^^"+mergeAuthority+"^PI")
}

// refs lists the ids of typ whose param references ref.
func referring(t *testing.T, st *store.Store, typ, param, ref string) []string {
	t.Helper()
	p, _ := search.Lookup(typ, param)
	hits, err := st.Search(&search.Query{Type: typ, Clauses: []search.Clause{{Param: p, Conds: []search.Cond{{Tag: 'r', Key: ref}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func patientOf(t *testing.T, in *Ingester, data []byte) string {
	t.Helper()
	r := send(t, in, data)
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("ACK %s %v", code, errs)
	}
	for _, w := range r.Writes {
		if strings.HasPrefix(w, "Patient/") {
			return w
		}
	}
	t.Fatal("no Patient written")
	return ""
}

// TestMerge: an A40 moves the prior patient's data to the survivor in new
// versions, retires her, lists the merge; a resend changes nothing; an
// unknown prior patient is AE and a merge into itself AR, storing nothing.
func TestMerge(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	a := patientOf(t, in, admitMsg("A01-A", "654321", "V-A"))
	patientOf(t, in, resultMsg("ORU-A", "654321"))
	b := patientOf(t, in, admitMsg("A01-B", "123456", "V-B"))
	obs := referring(t, st, "Observation", "patient", a)
	enc := referring(t, st, "Encounter", "patient", a)
	if len(obs) != 1 || len(enc) != 1 {
		t.Fatalf("before the merge A has Observations %v, Encounters %v", obs, enc)
	}
	before, err := st.Read("Observation", obs[0])
	if err != nil {
		t.Fatal(err)
	}

	r := send(t, in, a40("A40-1", "123456", "654321"))
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("A40 ACK %s %v", code, errs)
	}
	if got := referring(t, st, "Observation", "patient", b); len(got) != 1 || got[0] != obs[0] {
		t.Errorf("B's Observations %v, want %v", got, obs)
	}
	for _, typ := range []string{"Observation", "Encounter", "DiagnosticReport"} {
		if got := referring(t, st, typ, "patient", a); len(got) != 0 {
			t.Errorf("%s still naming A: %v", typ, got)
		}
	}
	after, err := st.Read("Observation", obs[0])
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version+1 {
		t.Errorf("moved Observation version %d, want %d", after.Version, before.Version+1)
	}
	old, err := st.VRead("Observation", obs[0], before.Version)
	if err != nil || !strings.Contains(string(old.JSON), `"`+a+`"`) {
		t.Errorf("history lost the version naming A: %v %s", err, old.JSON)
	}
	_, aid, _ := strings.Cut(a, "/")
	_, bid, _ := strings.Cut(b, "/")
	pa, _ := st.Read("Patient", aid)
	pb, _ := st.Read("Patient", bid)
	if !strings.Contains(string(pa.JSON), `"active":false`) || !strings.Contains(string(pa.JSON), `"replaced-by"`) || !strings.Contains(string(pb.JSON), `"replaces"`) ||
		!strings.Contains(string(pb.JSON), `"654321"`) {
		t.Errorf("links or identifiers missing:\nA %s\nB %s", pa.JSON, pb.JSON)
	}
	if owner, _ := st.ClaimOwner("Patient", "urn:oid:1.2.250.1.999.1.1", "654321"); owner != bid {
		t.Errorf("A's identifier claimed by %q, want B", owner)
	}
	reviews, err := st.IdentityReviews()
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, v := range reviews {
		listed = listed || v.Kind == "merge" && v.Message == "A40-1" && strings.Join(v.Resources, " ") == a+" "+b
	}
	if !listed {
		t.Errorf("merge not listed for review: %+v", reviews)
	}
	// A later message naming A's number is about B.
	patientOf(t, in, resultMsg("ORU-A2", "654321"))
	if got := referring(t, st, "Observation", "patient", b); len(got) != 2 {
		t.Errorf("B's Observations after a result for A's number: %v", got)
	}
	pa, _ = st.Read("Patient", aid)
	pb, _ = st.Read("Patient", bid)

	// The same merge again, as a new message: nothing changes.
	n := changes(t, st)
	if code, _, errs := ack(t, send(t, in, a40("A40-2", "123456", "654321")).ACK); code != "AA" {
		t.Fatalf("A40 again: %s %v", code, errs)
	}
	in.Sync()
	// The message's own record (Binary, Provenance) is all it writes.
	if got := changes(t, st) - n; got > 3 {
		t.Errorf("the merge again wrote %d versions", got)
	}
	if pb2, _ := st.Read("Patient", bid); pb2.Version != pb.Version {
		t.Errorf("B version %d after the merge again, want %d", pb2.Version, pb.Version)
	}
	if pa2, _ := st.Read("Patient", aid); pa2.Version != pa.Version {
		t.Errorf("A version %d after the merge again, want %d", pa2.Version, pa.Version)
	}

	for _, tc := range []struct {
		name, code, err string
		data            []byte
	}{
		{"unknown prior", "AE", "E:204", a40("A40-3", "123456", "999999")},
		{"into itself", "AR", "E:205", a40("A40-4", "123456", "123456")},
		{"into itself by a merged number", "AR", "E:205", a40("A40-5", "654321", "123456")},
	} {
		n := changes(t, st)
		r := send(t, in, tc.data)
		code, _, errs := ack(t, r.ACK)
		if code != tc.code || len(errs) != 1 || errs[0] != tc.err {
			t.Errorf("%s: ACK %s %v, want %s with ERR %s", tc.name, code, errs, tc.code, tc.err)
		}
		in.Sync()
		if got := changes(t, st) - n; got != 0 || r.Writes != nil {
			t.Errorf("%s: %d versions written", tc.name, got)
		}
	}
}
