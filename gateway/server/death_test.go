package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/auth"
)

// TestDeathWithdrawsThePlan is the GP's practice software and the
// hospital's integrator after a discharge: a heart-failure stay is
// discharged (HL7 v2 ADT^A03 over MLLP) and routed, the GP receiving her
// Task "visit within 7 days" through her Subscription; two days later the
// hospital reports the patient's death, by an HL7 v2 A31 whose PID-29/30
// (v2.5 section 3.4.2.29-30) give the date and the indicator, or through
// FHIR (a JSON Patch of Patient.deceasedDateTime, an update setting
// deceasedBoolean). Every Task not done yet is cancelled with a status
// reason saying the patient died, the CarePlan and its ServiceRequests are
// revoked, and the GP's software is told. A date of death before the stay
// began contradicts the stay (routing takes it as an error of the record)
// and withdraws nothing.
func TestDeathWithdrawsThePlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.cfg
	cfg.RouteInterval = 20 * time.Millisecond
	cfg.MLLPAddr = "127.0.0.1:0"
	cfg.AllowEndpointNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	addr, mllpAddr := make(chan string, 1), make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	cfg.MLLPReady = func(a string) { mllpAddr <- a }
	serve(t, cfg)
	base := "http://" + <-addr
	conn, err := net.Dial("tcp", <-mllpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	acks := bufio.NewReader(conn)
	mint := func(scope, fhirUser string) string {
		tok, err := f.key.Mint(auth.MintOptions{Scope: scope, FHIRUser: fhirUser})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	system, gp := mint("system/*.cruds", ""), mint("user/*.cruds", "PractitionerRole/gp")
	do := func(t *testing.T, tok, method, path, ct, body string) (int, []byte) {
		t.Helper()
		return call(t, method, base+path, ct, body, tok)
	}
	send := func(t *testing.T, segments ...string) {
		t.Helper()
		msg := strings.Join(segments, "\r") + "\r"
		if _, err := conn.Write([]byte("\x0b" + msg + "\x1c\r")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		ack, err := acks.ReadBytes(0x1c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(ack, []byte("MSA|AA|")) {
			t.Fatalf("%.40s: ACK %q", segments[0], ack)
		}
	}

	// The GP of the patients, and her software's Subscription to the
	// Tasks she owns (Subscriptions R5 Backport IG for R4, full
	// resources).
	directory := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Organization","id":"cabinet","active":true,"name":"Cabinet"},"request":{"method":"PUT","url":"Organization/cabinet"}},
	 {"resource":{"resourceType":"Practitioner","id":"gp-p","name":[{"family":"Martin"}]},"request":{"method":"PUT","url":"Practitioner/gp-p"}},
	 {"resource":{"resourceType":"PractitionerRole","id":"gp","active":true,"practitioner":{"reference":"Practitioner/gp-p"},"organization":{"reference":"Organization/cabinet"},
	   "code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"10"}]}],
	   "specialty":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale","code":"SM54"}]}]},
	  "request":{"method":"PUT","url":"PractitionerRole/gp"}}]}`
	if code, b := do(t, system, "POST", "/fhir", "application/fhir+json", directory); code != 200 {
		t.Fatalf("the directory: %d %s", code, b)
	}
	var mu sync.Mutex
	var notified [][]byte
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		notified = append(notified, b)
		mu.Unlock()
	}))
	defer receiver.Close()
	const ig = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	sub := `{"resourceType":"Subscription","status":"requested","reason":"my Tasks",
	 "meta":{"profile":["` + ig + `backport-subscription"]},
	 "criteria":"https://relais-health.github.io/fhir/SubscriptionTopic/Task",
	 "_criteria":{"extension":[{"url":"` + ig + `backport-filter-criteria","valueString":"Task?owner=PractitionerRole/gp"}]},
	 "channel":{"type":"rest-hook","endpoint":"` + receiver.URL + `","payload":"application/fhir+json",
	  "_payload":{"extension":[{"url":"` + ig + `backport-payload-content","valueCode":"full-resource"}]}}}`
	if code, b := do(t, gp, "POST", "/fhir/Subscription", "application/fhir+json", sub); code != 201 {
		t.Fatalf("the GP subscribes: %d %s", code, b)
	}
	// told reports whether the GP's software was sent Task/id in status.
	told := func(id, status string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range notified {
			var n struct {
				Entry []struct {
					Resource struct{ ResourceType, ID, Status string }
				}
			}
			_ = json.Unmarshal(b, &n)
			for _, e := range n.Entry {
				if e.Resource.ResourceType == "Task" && e.Resource.ID == id && e.Resource.Status == status {
					return true
				}
			}
		}
		return false
	}
	wait := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
		}
	}

	type task struct {
		ID, Status   string
		Owner        struct{ Reference string }
		StatusReason struct {
			Coding []struct{ System, Code string }
			Text   string
		}
	}
	type plan struct {
		carePlan struct {
			ID, Status string
			Extension  []struct {
				URL         string
				ValueCoding struct{ Code string }
			}
		}
		requests map[string]string // ServiceRequest id -> status
		tasks    []task
	}
	read := func(t *testing.T, tok, path string, into any) {
		t.Helper()
		code, b := do(t, tok, "GET", path, "", "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		var bundle struct {
			Entry []struct{ Resource json.RawMessage }
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		raw := make([]json.RawMessage, len(bundle.Entry))
		for i, e := range bundle.Entry {
			raw[i] = e.Resource
		}
		out, _ := json.Marshal(raw)
		if err := json.Unmarshal(out, into); err != nil {
			t.Fatal(err)
		}
	}
	planOf := func(t *testing.T, patient string) plan {
		t.Helper()
		var p plan
		var cps []json.RawMessage
		read(t, system, "/fhir/CarePlan?patient=Patient/"+patient, &cps)
		if len(cps) != 1 {
			t.Fatalf("Patient/%s has %d CarePlans, want the routing plan", patient, len(cps))
		}
		if err := json.Unmarshal(cps[0], &p.carePlan); err != nil {
			t.Fatal(err)
		}
		var srs []struct{ ID, Status string }
		read(t, system, "/fhir/ServiceRequest?patient=Patient/"+patient+"&_count=100", &srs)
		p.requests = map[string]string{}
		for _, sr := range srs {
			p.requests[sr.ID] = sr.Status
		}
		read(t, system, "/fhir/Task?patient=Patient/"+patient+"&_count=100", &p.tasks)
		return p
	}

	// discharge stores the patient (IPP-n, her GP) and sends the A03 of
	// her heart-failure stay (1 to 5 March 2026); it returns the GP's
	// Task once her software was told of it.
	discharge := func(t *testing.T, n int) string {
		t.Helper()
		patient := fmt.Sprintf(`{"resourceType":"Patient","id":"p%d",
		 "identifier":[{"system":"urn:oid:1.2.250.1.999.1","value":"IPP-%d"}],
		 "name":[{"family":"DURAND","given":["MARCEL"]}],"gender":"male","birthDate":"1938-01-01",
		 "address":[{"line":["3 RUE NATIONALE"],"city":"LILLE","postalCode":"59000","country":"FRA"}],
		 "generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`, n, n)
		if code, b := do(t, system, "PUT", fmt.Sprintf("/fhir/Patient/p%d", n), "application/fhir+json", patient); code != 201 {
			t.Fatalf("Patient/p%d: %d %s", n, code, b)
		}
		send(t, fmt.Sprintf(`MSH|^~\&|HIS|CHU|RELAIS|RELAIS|20260305100000||ADT^A03^ADT_A03|A03-%d|P|2.5`, n),
			`EVN|A03|20260305100000`,
			fmt.Sprintf(`PID|1||IPP-%d^^^HIS&1.2.250.1.999.1&ISO^PI||DURAND^MARCEL^^^^^L||19380101|M|||3 RUE NATIONALE^^LILLE^^59000^FRA^H`, n),
			fmt.Sprintf(`PV1|1|I|||||||||||||||||V-%d|||||||||||||||||||||||||20260301080000|20260305100000`, n),
			`DG1|1||I50.9^Insuffisance cardiaque^I10||20260301|F`)
		var mine []task
		wait(t, fmt.Sprintf("the GP's Task about Patient/p%d", n), func() bool {
			read(t, gp, fmt.Sprintf("/fhir/Task?owner=PractitionerRole/gp&patient=Patient/p%d", n), &mine)
			return len(mine) == 1
		})
		if mine[0].Status != "requested" {
			t.Fatalf("the GP's Task after the discharge: %+v", mine[0])
		}
		wait(t, "the GP's software told of her Task", func() bool { return told(mine[0].ID, "requested") })
		return mine[0].ID
	}
	withdrawn := func(t *testing.T, patient, gpTask string) {
		t.Helper()
		wait(t, "the GP's software told of the cancellation", func() bool { return told(gpTask, "cancelled") })
		p := planOf(t, patient)
		if p.carePlan.Status != "revoked" || len(p.carePlan.Extension) == 0 || p.carePlan.Extension[0].ValueCoding.Code != "patient-deceased" {
			t.Errorf("the CarePlan after the death: %+v", p.carePlan)
		}
		for id, status := range p.requests {
			if status != "revoked" {
				t.Errorf("ServiceRequest/%s %s after the death", id, status)
			}
		}
		if len(p.tasks) == 0 {
			t.Fatal("no Tasks")
		}
		for _, x := range p.tasks {
			if x.Status != "cancelled" || len(x.StatusReason.Coding) != 1 || x.StatusReason.Coding[0].Code != "patient-deceased" ||
				x.StatusReason.Coding[0].System != "https://relais-health.github.io/fhir/CodeSystem/routing-status" || !strings.Contains(x.StatusReason.Text, "died") {
				t.Errorf("Task/%s after the death: %+v", x.ID, x)
			}
		}
	}

	t.Run("HL7 v2 A31 with PID-29 and PID-30", func(t *testing.T) {
		gpTask := discharge(t, 1)
		pid := make([]string, 31)
		pid[0], pid[1], pid[3] = "PID", "1", `IPP-1^^^HIS&1.2.250.1.999.1&ISO^PI`
		pid[5], pid[7], pid[8], pid[11] = "DURAND^MARCEL^^^^^L", "19380101", "M", "3 RUE NATIONALE^^LILLE^^59000^FRA^H"
		pid[29], pid[30] = "202603070615", "Y"
		send(t, `MSH|^~\&|HIS|CHU|RELAIS|RELAIS|20260307090000||ADT^A31^ADT_A05|A31-1|P|2.5`,
			`EVN|A31|20260307090000`, strings.Join(pid, "|"), `PV1|1|N`)
		withdrawn(t, "p1", gpTask)
	})
	t.Run("FHIR JSON Patch of deceasedDateTime", func(t *testing.T) {
		gpTask := discharge(t, 2)
		if code, b := do(t, system, "PATCH", "/fhir/Patient/p2", "application/json-patch+json",
			`[{"op":"add","path":"/deceasedDateTime","value":"2026-03-07T06:15:00+01:00"}]`); code != 200 {
			t.Fatalf("PATCH: %d %s", code, b)
		}
		withdrawn(t, "p2", gpTask)
	})
	t.Run("FHIR update with deceasedBoolean", func(t *testing.T) {
		gpTask := discharge(t, 3)
		code, cur := do(t, system, "GET", "/fhir/Patient/p3", "", "")
		if code != 200 {
			t.Fatalf("GET: %d", code)
		}
		var p map[string]any
		if err := json.Unmarshal(cur, &p); err != nil {
			t.Fatal(err)
		}
		p["deceasedBoolean"] = true
		dead, _ := json.Marshal(p)
		if code, b := do(t, system, "PUT", "/fhir/Patient/p3", "application/fhir+json", string(dead)); code != 200 {
			t.Fatalf("PUT: %d %s", code, b)
		}
		withdrawn(t, "p3", gpTask)
	})
	t.Run("a death dated before the stay is an error of the record", func(t *testing.T) {
		gpTask := discharge(t, 4)
		if code, b := do(t, system, "PATCH", "/fhir/Patient/p4", "application/json-patch+json",
			`[{"op":"add","path":"/deceasedDateTime","value":"2008-08-25"}]`); code != 200 {
			t.Fatalf("PATCH: %d %s", code, b)
		}
		// The router's passes go on; a withdrawal would be written with
		// the Patient, so it would be there by now.
		time.Sleep(200 * time.Millisecond)
		p := planOf(t, "p4")
		if p.carePlan.Status != "active" {
			t.Errorf("the CarePlan: %+v", p.carePlan)
		}
		for _, x := range p.tasks {
			if x.ID == gpTask && x.Status != "requested" {
				t.Errorf("the GP's Task: %+v", x)
			}
		}
	})
}
