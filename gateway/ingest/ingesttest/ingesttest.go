// Package ingesttest generates HL7 v2 messages for tests and benchmarks of
// the ingestion paths: admissions, updates and discharges of distinct,
// entirely fictitious patients (PAM France style, HL7 v2.5), plus an MDM
// document notification for the same stays.
package ingesttest

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// Base is the time of the first generated event.
var Base = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// ADT describes one generated message. The zero values give an A01 for
// patient and visit 0 at Base.
type ADT struct {
	Event string // A01 (default), A03, A08 or MDM T02 as "T02"
	N     int    // patient and visit number: distinct N, distinct people and stays
	// Control is MSH-10; default Event-N.
	Control string
	// At is the event time (EVN-2 and MSH-7); default Base + N minutes,
	// plus a day for an A03.
	At time.Time
	// Accept and App are MSH-15 and MSH-16 (enhanced mode when set).
	Accept, App string
	// Family is the patient's family name; default FAMILY<N>.
	Family string
}

// Visit is the visit number (PV1-19) of stay n: the identifier of its
// Encounter.
func Visit(n int) string { return fmt.Sprintf("V%07d", n) }

// MissingEncounters counts the stays of ns that do not have exactly one
// Encounter in st: after a crash or a shutdown, what an acknowledgement
// promised and the store does not hold.
func MissingEncounters(st *store.Store, ns []int) (int, error) {
	missing := 0
	for _, n := range ns {
		q, err := search.Parse("Encounter", url.Values{"identifier": {Visit(n)}}, true)
		if err != nil {
			return 0, err
		}
		hits, err := st.Search(q, nil)
		if err != nil {
			return 0, err
		}
		if len(hits) != 1 {
			missing++
		}
	}
	return missing, nil
}

// Admit and Discharge build the A01 and the A03 of patient n.
func Admit(n int) []byte     { return ADT{Event: "A01", N: n}.Bytes() }
func Discharge(n int) []byte { return ADT{Event: "A03", N: n}.Bytes() }

// Bytes renders the message, segments ended by CR.
func (a ADT) Bytes() []byte {
	if a.Event == "" {
		a.Event = "A01"
	}
	if a.Control == "" {
		a.Control = fmt.Sprintf("%s-%d", a.Event, a.N)
	}
	admit := Base.Add(time.Duration(a.N) * time.Minute)
	discharge := admit.Add(24 * time.Hour)
	if a.At.IsZero() {
		a.At = admit
		if a.Event == "A03" || a.Event == "T02" {
			a.At = discharge
		}
	}
	if a.Family == "" {
		a.Family = fmt.Sprintf("FAMILY%d", a.N)
	}
	ts := a.At.Format("20060102150405-0700")
	typ := "ADT^" + a.Event + "^ADT_" + a.Event
	switch a.Event {
	case "A08":
		typ = "ADT^A08^ADT_A01"
	case "T02":
		typ = "MDM^T02^MDM_T02"
	}
	hosp := "HOPITAL&1.2.250.1.999.1.1&ISO"
	segs := []string{
		fmt.Sprintf("MSH|^~\\&|SENDAPP|HOPITAL^1.2.250.1.999.1.1^ISO|RELAIS|RELAIS|%s||%s|%s|P|2.5|||%s|%s|FRA", ts, typ, a.Control, a.Accept, a.App),
		"EVN||" + ts,
		fmt.Sprintf("PID|1||P%07d^^^%s^PI||%s^CLAIRE^^^^^L||19400504|F|||%d RUE DES LILAS^^LILLE^^59000^FRA^H||^PRN^PH^^^^^^^^^0320000000", a.N, hosp, a.Family, a.N%200+1),
	}
	pv1 := make([]string, 46) // pv1[i] is PV1-i
	pv1[0], pv1[1], pv1[2] = "PV1", "1", "I"
	pv1[3] = "CARDIO^101^1^" + hosp
	pv1[4] = "R"
	pv1[7] = "801234567897^MEDECIN^PAUL^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^RPPS"
	pv1[10], pv1[14] = "CAR", "90"
	pv1[19] = Visit(a.N) + "^^^" + hosp + "^AN"
	pv1[44] = admit.Format("20060102150405")
	if a.Event == "A03" {
		pv1[36] = "01^Retour au domicile^HL70112"
		pv1[45] = discharge.Format("20060102150405")
	}
	segs = append(segs, strings.TrimRight(strings.Join(pv1, "|"), "|"))
	if a.Event == "T02" {
		// A document notification: its PV1 has no discharge (PV1-45).
		segs = append(segs,
			fmt.Sprintf("TXA|1|11490-0^Lettre de liaison^LN|TX|%s|801234567897^MEDECIN^PAUL^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^RPPS|%s||||||DOC%07d^HOPITAL^1.2.250.1.999.1.1^ISO|||||LA|U|AV", ts, ts, a.N),
			"OBX|1|TX|11490-0^Lettre de liaison^LN||Retour a domicile. Suivi par le medecin traitant.||||||F")
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}
