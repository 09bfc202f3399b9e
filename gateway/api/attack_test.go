package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/mappings/terminology"
)

// The attack suite: what an adversary holding a token (or forging one)
// tries against the API, over a real server and store. Each case asserts
// the refusal (its exact status and, for the oracles, an answer equal to
// the one about an absent resource), the decision header where consent
// was asked, and that the store is as it was: the resources the attack
// aims at, the number of resources of each type, the number of versions
// stored, and every decision recorded before it.

// attackReq is one HTTP request of an attack.
type attackReq struct {
	auth               string // the Authorization header value
	method, path, body string
	headers            []string
}

type attack struct {
	name   string
	req    attackReq
	status int
	// decision: a consent decision was made, so the answer names it in
	// X-Consent-Decision and the decision log holds it.
	decision bool
	// absent is the same attack aimed at something that does not exist:
	// its answer must be the attack's, byte for byte. In the absent
	// answer swap[1] is read as swap[0] (the ids a self link repeats).
	absent *attackReq
	swap   [2]string
	// before, instead of absent, gives the answer from before the hidden
	// data existed: it sends the attack, writes the hidden data as a
	// system caller and returns the first answer.
	before func(t *testing.T, e *env) resp
	keep   []string // "Type/id" whose stored versions must not change
	writes int      // versions the attack stores (a conditional create: 1)
	then   func(t *testing.T, e *env, r resp)
}

func (e *env) send(q attackReq) resp {
	e.t.Helper()
	return e.do(q.method, q.path, q.body, append([]string{"Authorization", q.auth}, q.headers...)...)
}

// attackTypes are the types whose resources are counted around each attack.
var attackTypes = []string{"Patient", "Observation", "Condition", "Consent", "Task", "CareTeam", "Encounter", "Subscription"}

// storeState is what an attack must leave as it found it.
type storeState struct {
	kept      map[string]string // "Type/id" -> version and JSON, "" when absent
	counts    map[string]int
	versions  int
	decisions map[string]string // decision id -> its record
}

func (e *env) stateOf(t *testing.T, keep []string) storeState {
	t.Helper()
	s := storeState{kept: map[string]string{}, counts: map[string]int{}, decisions: map[string]string{}}
	for _, k := range keep {
		typ, id, _ := strings.Cut(k, "/")
		if rec, err := e.store.Read(typ, id); err == nil {
			s.kept[k] = fmt.Sprintf("%d %s", rec.Version, rec.JSON)
		} else {
			s.kept[k] = ""
		}
	}
	for _, typ := range attackTypes {
		s.counts[typ] = countOf(e, typ)
	}
	for o := (store.HistoryOptions{Count: 1000}); ; {
		h, err := e.store.TypeHistory("", o)
		if err != nil {
			t.Fatal(err)
		}
		s.versions += len(h.Records)
		if h.Next == 0 {
			break
		}
		o.Before = h.Next
	}
	recs, err := e.cfg.Log.List(consent.Query{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		b, _ := json.Marshal(r)
		s.decisions[r.ID] = string(b)
	}
	return s
}

// unchanged compares the state after an attack with the one before it.
func (s storeState) unchanged(t *testing.T, after storeState, writes int) {
	t.Helper()
	for k, v := range s.kept {
		if after.kept[k] != v {
			t.Errorf("%s changed:\nbefore %s\nafter  %s", k, v, after.kept[k])
		}
	}
	if writes == 0 {
		for typ, n := range s.counts {
			if after.counts[typ] != n {
				t.Errorf("%d resources of type %s, then %d", n, typ, after.counts[typ])
			}
		}
	}
	if after.versions != s.versions+writes {
		t.Errorf("%d versions stored, then %d; want %d new", s.versions, after.versions, writes)
	}
	for id, rec := range s.decisions {
		if after.decisions[id] != rec {
			t.Errorf("decision %s rewritten or lost:\nbefore %s\nafter  %s", id, rec, after.decisions[id])
		}
	}
}

// pageID is the snapshot id of a search's page links, which differs per search.
var pageID = regexp.MustCompile(`_page=[0-9a-f]+`)

func sameOracle(hidden, absent resp) bool {
	h, a := pageID.ReplaceAll(hidden.body, nil), pageID.ReplaceAll(absent.body, nil)
	return hidden.status == absent.status && sameAnswer(h, a) && sameHeaders(hidden.header, absent.header)
}

func runAttacks(t *testing.T, e *env, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			var want *resp
			if a.before != nil {
				r := a.before(t, e)
				want = &r
			}
			if a.absent != nil {
				r := e.send(*a.absent)
				if a.swap[1] != "" {
					r.body = bytes.ReplaceAll(r.body, []byte(a.swap[1]), []byte(a.swap[0]))
				}
				want = &r
			}
			before := e.stateOf(t, a.keep)
			r := e.send(a.req)
			if r.status != a.status {
				t.Errorf("%s %s = %d, want %d: %s", a.req.method, a.req.path, r.status, a.status, r.body)
			}
			if want != nil && !sameOracle(r, *want) {
				t.Errorf("the answer differs from the one about nothing:\nattack %d %v\n%s\nabsent %d %v\n%s",
					r.status, r.header, r.body, want.status, want.header, want.body)
			}
			after := e.stateOf(t, a.keep)
			if a.decision {
				id := r.header.Get("X-Consent-Decision")
				if id == "" {
					t.Error("no X-Consent-Decision header")
				} else if _, ok := after.decisions[id]; !ok {
					t.Errorf("decision %s is not in the decision log", id)
				}
			}
			before.unchanged(t, after, a.writes)
			if a.then != nil && !t.Failed() {
				a.then(t, e, r)
			}
		})
	}
}

// Labels and categories of the attack data.
const (
	actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	psyMeta = `,"meta":{"security":[{"system":"` + actCode + `","code":"PSY"}]}`
	hivMeta = `,"meta":{"security":[{"system":"` + actCode + `","code":"HIV"}]}`
)

// attackEnv is consentEnv (p1 with her GP and the nurse of her care team,
// a physiotherapist outside it, a social worker without a permit, p2)
// with more to aim at: a midwife in p1's care team; hidden Observations
// (PSY, HIV, a deleted PSY one, a PSY one with three versions, two PSY
// ones sharing an identifier system and code); a PSY Condition; an
// Encounter; p1's objection to the physiotherapist; a Task from the GP to
// the nurse.
func attackEnv(t *testing.T) *env {
	t.Helper()
	e := consentEnv(t)
	put := func(path, body string) {
		t.Helper()
		if r := e.do("PUT", path, body); r.status != 201 && r.status != 200 {
			t.Fatalf("PUT %s = %d %s", path, r.status, r.body)
		}
	}
	put("/fhir/PractitionerRole/midwife", `{"resourceType":"PractitionerRole","id":"midwife","active":true,"code":[{"coding":[{"system":"`+terminology.TREG15+`","code":"50"}]}]}`)
	put("/fhir/CareTeam/ct1", `{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"PractitionerRole/nurse"}},{"member":{"reference":"PractitionerRole/midwife"}}]}`)
	put("/fhir/Observation/o-hiv", obsJSON("o-hiv", "p1", "", hivMeta))
	put("/fhir/Observation/o-psy-gone", obsJSON("o-psy-gone", "p1", "", psyMeta))
	if r := e.do("DELETE", "/fhir/Observation/o-psy-gone", ""); r.status != 204 {
		t.Fatalf("DELETE o-psy-gone = %d", r.status)
	}
	for i := 1; i <= 3; i++ {
		put("/fhir/Observation/o-multi", obsJSON("o-multi", "p1", fmt.Sprintf(`,"valueString":"v%d"`, i), psyMeta))
	}
	code := `,"identifier":[{"system":"urn:x-test:psy","value":"psy-2"}],"code":{"coding":[{"system":"http://loinc.org","code":"11111-1"}]}`
	put("/fhir/Observation/o-psy2", strings.Replace(obsJSON("o-psy2", "p1", code, psyMeta), `"code":{"text":"x"},`, "", 1))
	put("/fhir/Observation/o-psy3", strings.Replace(obsJSON("o-psy3", "p1", code, psyMeta), `"code":{"text":"x"},`, "", 1))
	put("/fhir/Condition/c-psy", `{"resourceType":"Condition","id":"c-psy","subject":{"reference":"Patient/p1"},"code":{"text":"y"}`+psyMeta+`}`)
	put("/fhir/Encounter/e1", `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"`+actCode+`","code":"IMP"},"subject":{"reference":"Patient/p1"}}`)
	put("/fhir/Consent/obj", objectionJSON("obj", "PractitionerRole/physio-elsewhere"))
	put("/fhir/Task/t1", taskJSON("requested", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/nurse"))
	return e
}

func obsJSON(id, patient, extra, meta string) string {
	idPart := ""
	if id != "" {
		idPart = `"id":"` + id + `",`
	}
	return `{"resourceType":"Observation",` + idPart + `"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + patient + `"}` + extra + meta + `}`
}

func consentJSON(id, patient, rule, actor, extra string) string {
	idPart := ""
	if id != "" {
		idPart = `"id":"` + id + `",`
	}
	return `{"resourceType":"Consent",` + idPart + `"status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"` + patient + `"},"policyRule":{"coding":[{"system":"` + actCode + `","code":"` + rule + `"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"` + actor + `"}}]` + extra + `}}`
}

func objectionJSON(id, actor string) string {
	return consentJSON(id, "Patient/p1", "OPTOUT", actor, "")
}

// selfPermitJSON is a permit for actor to receive p1's PSY and HIV data.
func selfPermitJSON(id, actor string) string {
	return consentJSON(id, "Patient/p1", "OPTIN", actor, `,"securityLabel":[{"system":"`+actCode+`","code":"PSY"},{"system":"`+actCode+`","code":"HIV"}]`)
}

func taskJSON(status, patient, requester, owner string) string {
	return `{"resourceType":"Task","id":"t1","status":"` + status + `","intent":"order","for":{"reference":"` + patient + `"},"requester":{"reference":"` + requester + `"},"owner":{"reference":"` + owner + `"}}`
}

// subscriptionJSON is a Subscription whose body claims owner.
func subscriptionJSON(id, owner string) string {
	idPart := ""
	if id != "" {
		idPart = `"id":"` + id + `",`
	}
	return `{"resourceType":"Subscription",` + idPart + `"status":"requested","reason":"my tasks","criteria":"Task?owner=PractitionerRole/nurse","channel":{"type":"rest-hook","endpoint":"https://nurse.example/hook"},"meta":{"tag":[{"system":"` + consent.OwnerSystem + `","code":"` + owner + `"}]}}`
}

func bundleJSON(typ string, entries ...string) string {
	return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`
}

func getEntry(url string) string { return `{"request":{"method":"GET","url":"` + url + `"}}` }

func writeEntry(method, url, res string) string {
	return `{"resource":` + res + `,"request":{"method":"` + method + `","url":"` + url + `"}}`
}

// stillHidden is a then: after the attack, path still answers 404 to who.
func stillHidden(who, path string) func(t *testing.T, e *env, r resp) {
	return func(t *testing.T, e *env, _ resp) {
		if r := e.do("GET", path, "", "Authorization", who); r.status != 404 {
			t.Errorf("after the attack, GET %s = %d, want 404", path, r.status)
		}
	}
}

func TestAttackTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1"}`)
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": auth.DevIssuer, "aud": auth.DevAudience, "sub": "attacker",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "scope": "system/*.cruds"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	signWith := func(key *ecdsa.PrivateKey, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["kid"] = e.key.KeyID()
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	priv := devPrivateKey(t, e.key)
	sign := func(mod func(jwt.MapClaims)) string { return "Bearer " + signWith(priv, claims(mod)) }
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(e.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	hsTok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString(pubDER)
	if err != nil {
		t.Fatal(err)
	}
	narrow := strings.Split(signWith(priv, claims(func(c jwt.MapClaims) { c["scope"] = "user/Observation.rs" })), ".")
	widened := narrow[0] + "." + b64(mustJSON(claims(nil))) + "." + narrow[2]
	huge := sign(func(c jwt.MapClaims) { c["padding"] = strings.Repeat("x", auth.MaxTokenBytes) })
	write := func(name, authz string) attack {
		return attack{name: name, status: 401, keep: []string{"Patient/p1"},
			req: attackReq{auth: authz, method: "PUT", path: "/fhir/Patient/p1",
				body: `{"resourceType":"Patient","id":"p1","name":[{"family":"Forged"}]}`}}
	}
	runAttacks(t, e, []attack{
		write("alg none", "Bearer "+b64(`{"alg":"none","typ":"JWT"}`)+"."+b64(mustJSON(claims(nil)))+"."),
		write("HS256 signed with the public key as secret", "Bearer "+hsTok),
		write("another key under the server's kid", "Bearer "+signWith(other, claims(nil))),
		write("expired", sign(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		write("not yet valid", sign(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
		write("wrong issuer", sign(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })),
		write("wrong audience", sign(func(c jwt.MapClaims) { c["aud"] = "https://elsewhere.example/fhir" })),
		write("no exp", sign(func(c jwt.MapClaims) { delete(c, "exp") })),
		write("scope widened after signing", "Bearer "+widened),
		write("over the size limit", huge),
		write("fhirUser on another server", sign(func(c jwt.MapClaims) {
			c["scope"] = "user/*.cruds"
			c["fhirUser"] = "https://evil.example/fhir/PractitionerRole/gp"
		})),
		write("fhirUser of a Device", sign(func(c jwt.MapClaims) {
			c["scope"] = "user/*.cruds"
			c["fhirUser"] = "Device/x"
		})),
		write("Basic scheme with a valid token", "Basic "+strings.TrimPrefix(sign(nil), "Bearer ")),
	})
}

func TestAttackScopes(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	tok := func(scope, fhirUser string) string { return "Bearer " + e.mint(scope, fhirUser) }
	obsRO := tok("user/Observation.rs", "PractitionerRole/gp")
	readOnly := tok("user/*.rs", "PractitionerRole/gp")
	mixed := tok("user/*.rs system/Organization.r", "PractitionerRole/social")
	mixedWrite := tok("user/*.cruds system/Organization.cruds", "PractitionerRole/social")
	p2 := tok("patient/*.rs", "Patient/p2")
	get := func(who, path string) attackReq { return attackReq{auth: who, method: "GET", path: path} }
	absent := func(path string) *attackReq { return &attackReq{auth: p2, method: "GET", path: path} }
	absentAs := func(who, path string) *attackReq { return &attackReq{auth: who, method: "GET", path: path} }
	batchGet := func(who, id string) attackReq {
		return attackReq{auth: who, method: "POST", path: "/fhir", body: bundleJSON("batch", getEntry("Observation/"+id))}
	}
	runAttacks(t, e, []attack{
		{name: "user/Observation.rs creates an Observation", status: 403, writes: 0,
			req: attackReq{auth: obsRO, method: "POST", path: "/fhir/Observation", body: obsJSON("", "p1", "", "")}},
		{name: "user/Observation.rs updates an Observation", status: 403, keep: []string{"Observation/o-clin"},
			req: attackReq{auth: obsRO, method: "PUT", path: "/fhir/Observation/o-clin", body: obsJSON("o-clin", "p1", `,"valueString":"forged"`, "")}},
		{name: "user/*.rs deletes an Observation", status: 403, keep: []string{"Observation/o-clin"},
			req: attackReq{auth: readOnly, method: "DELETE", path: "/fhir/Observation/o-clin"}},
		{name: "user/*.rs deletes the objection", status: 403, keep: []string{"Consent/obj"},
			req: attackReq{auth: readOnly, method: "DELETE", path: "/fhir/Consent/obj"}},
		{name: "system/Organization.r beside user/*.rs reads PSY", status: 404, decision: true,
			req: get(mixed, "/fhir/Observation/o-psy"), absent: absentAs(mixed, "/fhir/Observation/no-such")},
		{name: "system/Organization.r beside user/*.rs reads CLIN", status: 404, decision: true,
			req: get(mixed, "/fhir/Observation/o-clin"), absent: absentAs(mixed, "/fhir/Observation/no-such")},
		{name: "system/Organization.r beside user/*.rs searches a patient", status: 200, decision: true,
			req: get(mixed, "/fhir/Observation?patient=p1"), absent: absentAs(mixed, "/fhir/Observation?patient=nosuch"), swap: [2]string{"p1", "nosuch"}},
		{name: "system/Organization.r beside user/*.rs reads the type history", status: 200, decision: true,
			req: get(mixed, "/fhir/Observation/_history"),
			then: func(t *testing.T, e *env, r resp) {
				if _, got := ids(t, r.body); len(got) != 0 {
					t.Errorf("history shows %v", got)
				}
			}},
		{name: "system/Organization.cruds beside user/*.cruds deletes an Observation", status: 403, keep: []string{"Observation/o-func"},
			req: attackReq{auth: mixedWrite, method: "DELETE", path: "/fhir/Observation/o-func"}},
		{name: "patient/ scopes with a practitioner fhirUser", status: 403,
			req: get(tok("patient/*.rs", "PractitionerRole/gp"), "/fhir/Observation/o-clin")},
		{name: "patient/ scopes with a practitioner fhirUser search", status: 403,
			req: get(tok("patient/*.rs", "PractitionerRole/social"), "/fhir/Observation?patient=p1")},
		{name: "patient B reads patient A's Observation", status: 404, decision: true,
			req: get(p2, "/fhir/Observation/o-clin"), absent: absent("/fhir/Observation/no-such")},
		{name: "patient B reads patient A", status: 404, decision: true,
			req: get(p2, "/fhir/Patient/p1"), absent: absent("/fhir/Patient/no-such")},
		{name: "patient B searches patient A's Observations", status: 200, decision: true,
			req: get(p2, "/fhir/Observation?patient=p1"), absent: absent("/fhir/Observation?patient=nosuch"), swap: [2]string{"p1", "nosuch"}},
		{name: "patient B includes patient A", status: 200, decision: true,
			req:    get(p2, "/fhir/Observation?_id=o-other,o-clin&_include=Observation:subject"),
			absent: absent("/fhir/Observation?_id=o-other,nosuch&_include=Observation:subject"), swap: [2]string{"o-clin", "nosuch"}},
		{name: "patient B revincludes patient A's Observations", status: 200, decision: true,
			req:    get(p2, "/fhir/Patient?_id=p1&_revinclude=Observation:subject"),
			absent: absent("/fhir/Patient?_id=nosuch&_revinclude=Observation:subject"), swap: [2]string{"p1", "nosuch"}},
		{name: "patient B reads the history of patient A's Observation", status: 404, decision: true,
			req: get(p2, "/fhir/Observation/o-clin/_history"), absent: absent("/fhir/Observation/no-such/_history")},
		{name: "patient B vreads patient A's Observation", status: 404, decision: true,
			req: get(p2, "/fhir/Observation/o-clin/_history/1"), absent: absent("/fhir/Observation/no-such/_history/1")},
		{name: "patient B reads the type history", status: 200, decision: true,
			req: get(p2, "/fhir/Observation/_history"),
			then: func(t *testing.T, e *env, r resp) {
				if _, got := ids(t, r.body); strings.Join(got, " ") != "Observation/o-other" {
					t.Errorf("patient B's history shows %v, want only her Observation", got)
				}
			}},
		{name: "patient B batch-reads patient A's Observation", status: 200, decision: true,
			req: batchGet(p2, "o-clin"), absent: ptr(batchGet(p2, "no-such"))},
	})
}

func ptr[T any](v T) *T { return &v }

func TestAttackWrites(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	gp, nurse, midwife := e.as("PractitionerRole/gp"), e.as("PractitionerRole/nurse"), e.as("PractitionerRole/midwife")
	if r := e.do("PUT", "/fhir/PractitionerRole/pharmacist", `{"resourceType":"PractitionerRole","id":"pharmacist","active":true,"code":[{"coding":[{"system":"`+terminology.TREG15+`","code":"21"}]}]}`); r.status != 201 {
		t.Fatalf("PUT pharmacist: %d", r.status)
	}
	social, physio := e.as("PractitionerRole/social"), e.as("PractitionerRole/pharmacist")
	w := func(who, method, path, body string, headers ...string) attackReq {
		return attackReq{auth: who, method: method, path: path, body: body, headers: headers}
	}
	task := func(status, patient, requester, owner string) string {
		return taskJSON(status, patient, requester, owner)
	}
	newObs := obsJSON("", "p1", `,"valueString":"new"`, "")
	// A conditional create whose condition only hidden data matches
	// creates, and its answer shows nothing of what it matched.
	created := func(hidden ...string) func(t *testing.T, e *env, r resp) {
		return func(t *testing.T, e *env, r resp) {
			for _, h := range append(hidden, "PSY", "HIV") {
				if bytes.Contains(r.body, []byte(h)) || strings.Contains(r.header.Get("Location"), h) {
					t.Errorf("the answer shows %s: %v %s", h, r.header, r.body)
				}
			}
		}
	}
	conditional := func(name, cond string, hidden ...string) attack {
		return attack{name: "conditional create matching hidden data: " + name, status: 201, decision: true, writes: 1,
			keep: []string{"Observation/o-psy", "Observation/o-psy2", "Observation/o-psy3", "Observation/o-hiv", "Observation/o-other"},
			req:  w(nurse, "POST", "/fhir/Observation", newObs, "If-None-Exist", cond, "Prefer", "return=representation"),
			then: created(hidden...)}
	}
	permit := selfPermitJSON("", "PractitionerRole/social")
	mixedTx := bundleJSON("transaction",
		writeEntry("POST", "Observation", newObs),
		writeEntry("PUT", "Patient/p1", `{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"PractitionerRole/nurse"}]}`))
	hiddenTx := func(id string) string {
		return bundleJSON("transaction", writeEntry("POST", "Observation", newObs), getEntry("Observation/"+id))
	}
	grantTx := func(typ, id string) string {
		return bundleJSON(typ, writeEntry("POST", "Consent", permit), getEntry("Observation/"+id))
	}
	runAttacks(t, e, []attack{
		{name: "duplicate meta drops the PSY label", status: 400,
			req: w(nurse, "POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]},"meta":{}}`)},
		{name: "duplicate subject writes about another patient", status: 400,
			req: w(nurse, "POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"subject":{"reference":"Patient/p2"}}`)},
		{name: "duplicate Task status skips the state machine", status: 400, keep: []string{"Task/t1"},
			req: w(nurse, "PUT", "/fhir/Task/t1", `{"resourceType":"Task","id":"t1","status":"accepted","status":"completed","intent":"order","for":{"reference":"Patient/p1"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/nurse"}}`)},
		{name: "lone surrogate stored as U+FFFD", status: 400,
			req: w(nurse, "POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"\ud800"},"subject":{"reference":"Patient/p1"}}`)},
		{name: "social worker writes herself a permit", status: 403, decision: true,
			req:  w(social, "POST", "/fhir/Consent", permit),
			then: stillHidden(social, "/fhir/Observation/o-psy")},
		{name: "social worker puts herself a permit under a new id", status: 403, decision: true, keep: []string{"Consent/sw-permit"},
			req:  w(social, "PUT", "/fhir/Consent/sw-permit", selfPermitJSON("sw-permit", "PractitionerRole/social")),
			then: stillHidden(social, "/fhir/Observation/o-hiv")},
		{name: "social worker rewrites the objection into her permit", status: 403, decision: true, keep: []string{"Consent/obj"},
			req: w(social, "PUT", "/fhir/Consent/obj", selfPermitJSON("obj", "PractitionerRole/social"))},
		{name: "GP deletes the patient's objection", status: 403, decision: true, keep: []string{"Consent/obj"},
			req: w(gp, "DELETE", "/fhir/Consent/obj", "")},
		{name: "GP rewrites the patient's objection", status: 403, decision: true, keep: []string{"Consent/obj"},
			req: w(gp, "PUT", "/fhir/Consent/obj", strings.Replace(objectionJSON("obj", "PractitionerRole/physio-elsewhere"), "OPTOUT", "OPTIN", 1))},
		{name: "physiotherapist outside the care team joins it", status: 403, decision: true, keep: []string{"CareTeam/ct1"},
			req: w(physio, "PUT", "/fhir/CareTeam/ct1", `{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"PractitionerRole/nurse"}},{"member":{"reference":"PractitionerRole/physio-elsewhere"}}]}`)},
		{name: "physiotherapist creates a CareTeam with herself", status: 403, decision: true,
			req: w(physio, "POST", "/fhir/CareTeam", `{"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"PractitionerRole/physio-elsewhere"}}]}`)},
		{name: "physiotherapist names herself the patient's GP", status: 403, decision: true, keep: []string{"Patient/p1"},
			req: w(physio, "PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"PractitionerRole/physio-elsewhere"}]}`)},
		{name: "nurse updates a PSY Observation", status: 404, decision: true, keep: []string{"Observation/o-psy"},
			req:    w(nurse, "PUT", "/fhir/Observation/o-psy", obsJSON("o-psy", "p1", `,"valueString":"forged"`, "")),
			absent: ptr(w(nurse, "PUT", "/fhir/Observation/no-such", obsJSON("no-such", "p1", `,"valueString":"forged"`, "")))},
		{name: "nurse updates an HIV Observation to drop its label", status: 404, decision: true, keep: []string{"Observation/o-hiv"},
			req:    w(nurse, "PUT", "/fhir/Observation/o-hiv", obsJSON("o-hiv", "p1", "", "")),
			absent: ptr(w(nurse, "PUT", "/fhir/Observation/no-such", obsJSON("no-such", "p1", "", "")))},
		{name: "nurse deletes a PSY Observation", status: 403, decision: true, keep: []string{"Observation/o-psy"},
			req: w(nurse, "DELETE", "/fhir/Observation/o-psy", ""), absent: ptr(w(nurse, "DELETE", "/fhir/Observation/no-such", ""))},
		{name: "nurse updates a PSY Condition", status: 403, decision: true, keep: []string{"Condition/c-psy"},
			req:    w(nurse, "PUT", "/fhir/Condition/c-psy", `{"resourceType":"Condition","id":"c-psy","subject":{"reference":"Patient/p1"}}`),
			absent: ptr(w(nurse, "PUT", "/fhir/Condition/no-such", `{"resourceType":"Condition","id":"no-such","subject":{"reference":"Patient/p1"}}`))},
		{name: "nurse deletes a PSY Condition", status: 403, decision: true, keep: []string{"Condition/c-psy"},
			req: w(nurse, "DELETE", "/fhir/Condition/c-psy", ""), absent: ptr(w(nurse, "DELETE", "/fhir/Condition/no-such", ""))},
		{name: "physiotherapist updates an Observation she cannot read", status: 404, decision: true, keep: []string{"Observation/o-clin"},
			req:    w(physio, "PUT", "/fhir/Observation/o-clin", obsJSON("o-clin", "p1", `,"valueString":"forged"`, "")),
			absent: ptr(w(physio, "PUT", "/fhir/Observation/no-such", obsJSON("no-such", "p1", `,"valueString":"forged"`, "")))},
		{name: "midwife cancels another's Task", status: 403, decision: true, keep: []string{"Task/t1"},
			req: w(midwife, "PUT", "/fhir/Task/t1", task("cancelled", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/nurse"))},
		{name: "midwife re-assigns another's Task to herself", status: 403, decision: true, keep: []string{"Task/t1"},
			req: w(midwife, "PUT", "/fhir/Task/t1", task("requested", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/midwife"))},
		{name: "owner changes what the Task is for", status: 403, decision: true, keep: []string{"Task/t1"},
			req: w(nurse, "PUT", "/fhir/Task/t1", task("accepted", "Patient/p2", "PractitionerRole/gp", "PractitionerRole/nurse"))},
		{name: "owner changes the Task's requester", status: 403, decision: true, keep: []string{"Task/t1"},
			req: w(nurse, "PUT", "/fhir/Task/t1", task("accepted", "Patient/p1", "PractitionerRole/midwife", "PractitionerRole/nurse"))},
		{name: "requester accepts in the owner's place", status: 403, decision: true, keep: []string{"Task/t1"},
			req: w(gp, "PUT", "/fhir/Task/t1", task("accepted", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/nurse"))},
		{name: "owner skips the state machine", status: 422, decision: true, keep: []string{"Task/t1"},
			req: w(nurse, "PUT", "/fhir/Task/t1", task("in-progress", "Patient/p1", "PractitionerRole/gp", "PractitionerRole/nurse"))},
		{name: "GP deletes the Task she requested", status: 403, decision: true, keep: []string{"Task/t1"},
			req: w(gp, "DELETE", "/fhir/Task/t1", "")},
		{name: "GP deletes the Patient", status: 403, decision: true, keep: []string{"Patient/p1"},
			req: w(gp, "DELETE", "/fhir/Patient/p1", "")},
		{name: "GP deletes the Encounter", status: 403, decision: true, keep: []string{"Encounter/e1"},
			req: w(gp, "DELETE", "/fhir/Encounter/e1", "")},
		conditional("_security=PSY", "_security="+actCode+"|PSY", "o-psy"),
		conditional("_security=HIV", "_security="+actCode+"|HIV", "o-hiv"),
		conditional("_id", "_id=o-psy", "o-psy"),
		conditional("_id of another patient's", "_id=o-other", "o-other"),
		conditional("identifier", "identifier=urn:x-test:psy|psy-2", "o-psy2", "psy-2"),
		conditional("code, two hidden matches", "code=http://loinc.org|11111-1", "o-psy2", "o-psy3", "11111-1"),
		{name: "batch ifNoneExist matching hidden data", status: 200, decision: true, writes: 1, keep: []string{"Observation/o-psy"},
			req: w(nurse, "POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":`+newObs+`,"request":{"method":"POST","url":"Observation","ifNoneExist":"_id=o-psy"}}]}`, "Prefer", "return=representation"),
			then: func(t *testing.T, e *env, r resp) {
				created("o-psy")(t, e, r)
				if !bytes.Contains(r.body, []byte(`"201 Created"`)) {
					t.Errorf("the entry did not create: %s", r.body)
				}
			}},
		{name: "transaction mixing an allowed entry and a forbidden one", status: 403, decision: true, keep: []string{"Patient/p1"},
			req: w(nurse, "POST", "/fhir", mixedTx)},
		{name: "transaction reading a hidden resource", status: 404, decision: true,
			req: w(nurse, "POST", "/fhir", hiddenTx("o-psy")), absent: ptr(w(nurse, "POST", "/fhir", hiddenTx("no-such")))},
		{name: "transaction granting a permit and reading under it", status: 403, decision: true,
			req:  w(social, "POST", "/fhir", grantTx("transaction", "o-psy")),
			then: stillHidden(social, "/fhir/Observation/o-psy")},
		{name: "batch granting a permit and reading under it", status: 200, decision: true,
			req:    w(social, "POST", "/fhir", grantTx("batch", "o-psy")),
			absent: ptr(w(social, "POST", "/fhir", grantTx("batch", "no-such"))),
			then:   stillHidden(social, "/fhir/Observation/o-psy")},
	})
}

func TestAttackOracles(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	nurse, social := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/social")
	gpSubject := func(scope, fhirUser string) string {
		tok, err := e.key.Mint(auth.MintOptions{Scope: scope, FHIRUser: fhirUser, Subject: "PractitionerRole/gp"})
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	gp := gpSubject("user/*.cruds", "PractitionerRole/gp")
	get := func(who, path string) attackReq { return attackReq{auth: who, method: "GET", path: path} }
	// oracle is a read by the nurse of a hidden resource and of an absent one.
	oracle := func(name, hidden, absent string) attack {
		return attack{name: name, status: 404, decision: true, req: get(nurse, hidden), absent: ptr(get(nurse, absent))}
	}
	// afterHidden compares the nurse's answer with her answer from before
	// more hidden data was written: a PSY and an HIV Observation of p1, an
	// Observation of p2.
	hidden := 0
	afterHidden := func(name, path string) attack {
		return attack{name: name, status: 200, decision: true, req: get(nurse, path),
			before: func(t *testing.T, e *env) resp {
				r := e.send(get(nurse, path))
				hidden++
				for i, x := range []string{obsJSON("", "p1", "", psyMeta), obsJSON("", "p1", "", hivMeta), obsJSON("", "p2", "", "")} {
					id := fmt.Sprintf("hidden-%d-%d", hidden, i)
					if r := e.do("PUT", "/fhir/Observation/"+id, strings.Replace(x, `"resourceType":"Observation",`, `"resourceType":"Observation","id":"`+id+`",`, 1)); r.status != 201 {
						t.Fatalf("hidden write: %d %s", r.status, r.body)
					}
				}
				return r
			}}
	}
	batchGet := func(id string) attackReq {
		return attackReq{auth: nurse, method: "POST", path: "/fhir", body: bundleJSON("batch", getEntry("Observation/"+id))}
	}
	put := func(id string, headers ...string) attackReq {
		return attackReq{auth: nurse, method: "PUT", path: "/fhir/Observation/" + id, body: obsJSON(id, "p1", `,"valueString":"forged"`, ""), headers: headers}
	}
	p2 := "Bearer " + e.mint("patient/*.rs patient/Consent.cud", "Patient/p2")
	formSearch := func(id string) attackReq {
		return attackReq{auth: nurse, method: "POST", path: "/fhir/Observation/_search", body: "_id=" + id,
			headers: []string{"Content-Type", "application/x-www-form-urlencoded"}}
	}
	// The GP's next link, followed by others: the same subject as another
	// fhirUser, the GP with other scopes.
	var page struct {
		Link []struct{ Relation, URL string }
	}
	if err := json.Unmarshal(e.do("GET", "/fhir/Observation?patient=p1&_count=1", "", "Authorization", gp).body, &page); err != nil {
		t.Fatal(err)
	}
	next := ""
	for _, l := range page.Link {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	if next == "" {
		t.Fatal("the GP's search has no next link")
	}
	expired := pageID.ReplaceAllString(next, "_page=00000000000000000000000000000000")
	keep := []string{"Observation/o-psy"}
	runAttacks(t, e, []attack{
		oracle("read PSY", "/fhir/Observation/o-psy", "/fhir/Observation/no-such"),
		oracle("read HIV", "/fhir/Observation/o-hiv", "/fhir/Observation/no-such"),
		oracle("read another patient's", "/fhir/Observation/o-other", "/fhir/Observation/no-such"),
		oracle("read a deleted hidden resource: 404, not 410", "/fhir/Observation/o-psy-gone", "/fhir/Observation/no-such"),
		oracle("vread version 1", "/fhir/Observation/o-psy/_history/1", "/fhir/Observation/no-such/_history/1"),
		oracle("vread a version beyond the last", "/fhir/Observation/o-psy/_history/2", "/fhir/Observation/no-such/_history/2"),
		oracle("vread version 0", "/fhir/Observation/o-psy/_history/0", "/fhir/Observation/no-such/_history/0"),
		oracle("vread a middle version", "/fhir/Observation/o-multi/_history/2", "/fhir/Observation/no-such/_history/2"),
		oracle("vread the last version", "/fhir/Observation/o-multi/_history/3", "/fhir/Observation/no-such/_history/3"),
		oracle("vread a hidden deletion: 404, not 410", "/fhir/Observation/o-psy-gone/_history/2", "/fhir/Observation/no-such/_history/2"),
		oracle("vread a deleted hidden resource's content", "/fhir/Observation/o-psy-gone/_history/1", "/fhir/Observation/no-such/_history/1"),
		oracle("instance history", "/fhir/Observation/o-multi/_history", "/fhir/Observation/no-such/_history"),
		oracle("instance history of a deleted hidden resource", "/fhir/Observation/o-psy-gone/_history", "/fhir/Observation/no-such/_history"),
		oracle("instance history since a date", "/fhir/Observation/o-multi/_history?_since=2000-01-01", "/fhir/Observation/no-such/_history?_since=2000-01-01"),
		oracle("instance history before a cursor", "/fhir/Observation/o-multi/_history?_before=99999999", "/fhir/Observation/no-such/_history?_before=99999999"),
		oracle("instance history one at a time", "/fhir/Observation/o-multi/_history?_count=1", "/fhir/Observation/no-such/_history?_count=1"),
		oracle("read a hidden Condition", "/fhir/Condition/c-psy", "/fhir/Condition/no-such"),
		// A view (_summary, _elements) is cut from what may be seen: of a
		// hidden resource there is none, as of an absent one.
		oracle("read a hidden resource in a view", "/fhir/Observation/o-psy?_summary=true", "/fhir/Observation/no-such?_summary=true"),
		oracle("read some elements of a hidden resource", "/fhir/Observation/o-psy?_elements=status,colour", "/fhir/Observation/no-such?_elements=status,colour"),
		oracle("vread a hidden resource in a view", "/fhir/Observation/o-psy/_history/1?_summary=data", "/fhir/Observation/no-such/_history/1?_summary=data"),
		{name: "read a hidden resource with an unknown element, strict: the 400 of an absent one", status: 400,
			req:    attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/o-psy?_elements=colour", headers: []string{"Prefer", "handling=strict"}},
			absent: &attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/no-such?_elements=colour", headers: []string{"Prefer", "handling=strict"}}},
		afterHidden("search in a view one at a time (links)", "/fhir/Observation?patient=p1&_summary=true&_count=1"),
		afterHidden("search _elements with _revinclude", "/fhir/Patient?_id=p1&_elements=id&_revinclude=Observation:subject"),
		afterHidden("type history entries", "/fhir/Observation/_history?_count=100"),
		afterHidden("system history entries", "/fhir/_history?_count=100"),
		afterHidden("type history one at a time (links)", "/fhir/Observation/_history?_count=1"),
		afterHidden("system history one at a time (links)", "/fhir/_history?_count=1"),
		afterHidden("search total and links", "/fhir/Observation?patient=p1&_count=1"),
		afterHidden("search _summary=count", "/fhir/Observation?patient=p1&_summary=count"),
		afterHidden("search _revinclude", "/fhir/Patient?_id=p1&_revinclude=Observation:subject"),
		afterHidden("search by label", "/fhir/Observation?_security="+actCode+"|PSY,"+actCode+"|HIV"),
		{name: "search by _id", status: 200, decision: true, req: get(nurse, "/fhir/Observation?_id=o-psy,o-clin"),
			absent: ptr(get(nurse, "/fhir/Observation?_id=nosuch,o-clin")), swap: [2]string{"o-psy", "nosuch"}},
		{name: "search by identifier", status: 200, decision: true, req: get(nurse, "/fhir/Observation?identifier=urn:x-test:psy|psy-2"),
			absent: ptr(get(nurse, "/fhir/Observation?identifier=urn:x-test:psy|nosuch")), swap: [2]string{"psy-2", "nosuch"}},
		{name: "search by _id with POST _search", status: 200, decision: true, req: formSearch("o-psy"),
			absent: ptr(formSearch("nosuch")), swap: [2]string{"o-psy", "nosuch"}},
		{name: "search _include of another patient", status: 200, decision: true,
			req:    get(nurse, "/fhir/Observation?_id=o-clin,o-other&_include=Observation:subject"),
			absent: ptr(get(nurse, "/fhir/Observation?_id=o-clin,nosuch&_include=Observation:subject")), swap: [2]string{"o-other", "nosuch"}},
		{name: "batch GET", status: 200, decision: true, req: batchGet("o-psy"), absent: ptr(batchGet("no-such"))},
		{name: "batch GET of a deleted hidden resource", status: 200, decision: true, req: batchGet("o-psy-gone"), absent: ptr(batchGet("no-such"))},
		{name: "PUT on a hidden id: neither 200 nor 201", status: 404, decision: true, keep: keep, req: put("o-psy"), absent: ptr(put("no-such"))},
		{name: "If-Match on a hidden resource: 404, not 412", status: 404, decision: true, keep: keep,
			req: put("o-psy", "If-Match", `W/"9"`), absent: ptr(put("no-such", "If-Match", `W/"9"`))},
		{name: "If-Match with the hidden resource's version", status: 404, decision: true, keep: keep,
			req: put("o-psy", "If-Match", `W/"1"`), absent: ptr(put("no-such", "If-Match", `W/"1"`))},
		{name: "If-Match: * on a hidden resource: 404, as on an absent one", status: 404, decision: true, keep: keep,
			req: put("o-psy", "If-Match", "*"), absent: ptr(put("no-such", "If-Match", "*"))},
		{name: "If-None-Match with the hidden resource's version: 404, not 304", status: 404, decision: true,
			req:    attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/o-psy", headers: []string{"If-None-Match", `W/"1"`}},
			absent: &attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/no-such", headers: []string{"If-None-Match", `W/"1"`}}},
		{name: "If-None-Match: * on a hidden resource", status: 404, decision: true,
			req:    attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/o-psy", headers: []string{"If-None-Match", "*"}},
			absent: &attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/no-such", headers: []string{"If-None-Match", "*"}}},
		{name: "If-Modified-Since on a hidden resource", status: 404, decision: true,
			req:    attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/o-psy", headers: []string{"If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}},
			absent: &attackReq{auth: nurse, method: "GET", path: "/fhir/Observation/no-such", headers: []string{"If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}}},
		{name: "DELETE another patient's Consent: no ETag", status: 404, decision: true, keep: []string{"Consent/obj"},
			req:    attackReq{auth: p2, method: "DELETE", path: "/fhir/Consent/obj"},
			absent: &attackReq{auth: p2, method: "DELETE", path: "/fhir/Consent/no-such"}},
		{name: "next link followed by another fhirUser of the same subject", status: 410, decision: true,
			req:    get(gpSubject("user/*.cruds", "PractitionerRole/social"), next),
			absent: ptr(get(gpSubject("user/*.cruds", "PractitionerRole/social"), expired))},
		{name: "next link followed with other scopes", status: 410, decision: true,
			req: get(gpSubject("user/Observation.rs", "PractitionerRole/gp"), next), absent: ptr(get(gp, expired))},
		{name: "next link followed by another caller", status: 410, decision: true,
			req: get(social, next), absent: ptr(get(social, expired))},
	})
}

func TestAttackConsentOffice(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	e.do("PUT", "/fhir/RelatedPerson/rp-neighbour", `{"resourceType":"RelatedPerson","id":"rp-neighbour","active":true,"patient":{"reference":"Patient/p1"},"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"NBOR"}]}]}`)
	ask := `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"actor","valueReference":{"reference":"PractitionerRole/social"}},{"name":"resourceType","valueCode":"Observation"},{"name":"securityLabel","valueCoding":{"system":"` + actCode + `","code":"PSY"}},{"name":"explain","valueBoolean":true}]}`
	tok := func(scope, fhirUser string) string { return "Bearer " + e.mint(scope, fhirUser) }
	p2 := tok("patient/*.rs patient/AuditEvent.rs patient/Consent.cruds", "Patient/p2")
	evaluate := func(who string) attackReq {
		return attackReq{auth: who, method: "POST", path: "/fhir/Consent/$evaluate", body: ask}
	}
	decisions := func(who, query string) attackReq {
		return attackReq{auth: who, method: "GET", path: "/admin/decisions" + query}
	}
	// A stored resource named to $evaluate must be one the caller may
	// read: what the answer says depends on what it holds (its labels, its
	// codes against a draft's provisions).
	e.do("PUT", "/fhir/PractitionerRole/officer", `{"resourceType":"PractitionerRole","id":"officer","active":true,"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"consent-administrator"}]}]}`)
	officer := e.as("PractitionerRole/officer")
	about := func(who, patient, ref string) attackReq {
		body := `{"resourceType":"Parameters","parameter":[`
		if patient != "" {
			body += `{"name":"patient","valueReference":{"reference":"` + patient + `"}},`
		}
		body += `{"name":"actor","valueReference":{"reference":"PractitionerRole/gp"}},{"name":"resource","valueReference":{"reference":"` + ref + `"}}]}`
		return attackReq{auth: who, method: "POST", path: "/fhir/Consent/$evaluate", body: body}
	}
	runAttacks(t, e, []attack{
		{name: "$evaluate by a patient naming another patient's resource", status: 404, decision: true,
			req: about(p2, "Patient/p2", "Observation/o-clin"), absent: ptr(about(p2, "Patient/p2", "Observation/no-such"))},
		{name: "$evaluate by a patient naming another patient's resource, no patient given", status: 404, decision: true,
			req: about(p2, "", "Observation/o-clin"), absent: ptr(about(p2, "", "Observation/no-such"))},
		{name: "$evaluate by a consent administrator naming clinical data", status: 404, decision: true,
			req: about(officer, "Patient/p1", "Observation/o-psy"), absent: ptr(about(officer, "Patient/p1", "Observation/no-such"))},
		{name: "a consent administrator writes herself a permit", status: 403, decision: true,
			req:  attackReq{auth: officer, method: "POST", path: "/fhir/Consent", body: selfPermitJSON("", "PractitionerRole/officer")},
			then: stillHidden(officer, "/fhir/Observation/o-psy")},
		{name: "a consent administrator nests a permit for herself under an objection", status: 403, decision: true,
			req: attackReq{auth: officer, method: "POST", path: "/fhir/Consent", body: consentJSON("", "Patient/p1", "OPTOUT", "PractitionerRole/gp",
				`,"provision":[{"type":"permit","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/officer"}}]}]`)},
			then: stillHidden(officer, "/fhir/Observation/o-psy")},
		{name: "a consent administrator permits a Group by her own role", status: 403, decision: true,
			req: attackReq{auth: officer, method: "POST", path: "/fhir/Consent", body: strings.Replace(selfPermitJSON("", "Group/anyone"),
				`"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]}`,
				`"role":{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"consent-administrator"}]}`, 1)},
			then: stillHidden(officer, "/fhir/Observation/o-psy")},
		// A permit naming no actor applies to everyone, the consent office
		// included; she receives no patient data whatever a Consent says.
		{name: "a consent administrator permits everyone", status: 201, decision: true, writes: 1,
			req:  attackReq{auth: officer, method: "POST", path: "/fhir/Consent", body: permitEveryoneJSON},
			then: hiddenFromOffice(officer)},
		{name: "the patient permits everyone", status: 201, decision: true, writes: 1,
			req:  attackReq{auth: tok("patient/*.rs patient/Consent.cud", "Patient/p1"), method: "POST", path: "/fhir/Consent", body: permitEveryoneJSON},
			then: hiddenFromOffice(officer)},
		{name: "$evaluate by a GP", status: 403, req: evaluate(e.as("PractitionerRole/gp"))},
		{name: "$evaluate by a social worker about her own access", status: 403, req: evaluate(e.as("PractitionerRole/social"))},
		{name: "$evaluate by a patient about another patient", status: 403, req: evaluate(p2)},
		{name: "$evaluate by a neighbour of the patient", status: 403, req: evaluate(tok("patient/*.rs patient/Consent.rs", "RelatedPerson/rp-neighbour"))},
		{name: "decision log with a professional's user scope", status: 403, req: decisions(e.as("PractitionerRole/gp"), "")},
		{name: "decision log with a professional's user/AuditEvent.rs", status: 403, req: decisions(tok("user/AuditEvent.rs", "PractitionerRole/nurse"), "?patient=Patient/p1")},
		{name: "decision log of another patient", status: 403, req: decisions(p2, "?patient=Patient/p1")},
		{name: "decision log by a neighbour of the patient", status: 403, req: decisions(tok("patient/*.rs patient/AuditEvent.rs", "RelatedPerson/rp-neighbour"), "?patient=Patient/p1")},
		// Her own permit is hers to give, but it opens her data only: a
		// provision naming another patient's resource opens nothing.
		{name: "a patient's permit naming another patient's resource", status: 201, decision: true, writes: 1, keep: []string{"Observation/o-other"},
			req: attackReq{auth: tok("patient/*.rs patient/Consent.cud", "Patient/p1"), method: "POST", path: "/fhir/Consent",
				body: consentJSON("", "Patient/p1", "OPTIN", "PractitionerRole/social", `,"data":[{"meaning":"instance","reference":{"reference":"Observation/o-other"}}]`)},
			then: stillHidden(e.as("PractitionerRole/social"), "/fhir/Observation/o-other")},
	})
}

// permitEveryoneJSON is p1's permit, to no actor in particular, of her
// clinical and functional data and her PSY-labelled data.
const permitEveryoneJSON = `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"` + actCode + `","code":"OPTIN"}]},"provision":{"type":"permit","class":[{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"CLIN"},{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"FUNC"}],"provision":[{"type":"permit","securityLabel":[{"system":"` + actCode + `","code":"PSY"}]}]}}`

// hiddenFromOffice is a then: the consent administrator still reads none
// of p1's Observations, by read or by search, and $evaluate says why.
func hiddenFromOffice(officer string) func(t *testing.T, e *env, r resp) {
	return func(t *testing.T, e *env, _ resp) {
		t.Helper()
		for _, o := range []string{"o-clin", "o-func", "o-psy"} {
			stillHidden(officer, "/fhir/Observation/"+o)(t, e, resp{})
		}
		if r := e.do("GET", "/fhir/Observation?patient=p1", "", "Authorization", officer); r.status != 200 || !bytes.Contains(r.body, []byte(`"total":0`)) {
			t.Errorf("the consent administrator searches p1's Observations: %d %s", r.status, r.body)
		}
		ask := `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"actor","valueReference":{"reference":"PractitionerRole/officer"}},{"name":"resourceType","valueCode":"Observation"},{"name":"explain","valueBoolean":true}]}`
		r := e.do("POST", "/fhir/Consent/$evaluate", ask, "Authorization", officer)
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"valueCode":"deny"`)) || !bytes.Contains(r.body, []byte(consent.PolicyConsentOffice)) {
			t.Errorf("$evaluate of the consent administrator's own access: %d %s", r.status, r.body)
		}
	}
}

func TestAttackSubscriptions(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	nurse, gp := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/gp")
	r := e.do("POST", "/fhir/Subscription", subscriptionJSON("", "PractitionerRole/gp"), "Authorization", nurse)
	if r.status != 201 {
		t.Fatalf("the nurse subscribes: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	sub := "Subscription/" + id
	get := func(path string) attackReq { return attackReq{auth: gp, method: "GET", path: path} }
	update := func(id, owner string) attackReq {
		return attackReq{auth: gp, method: "PUT", path: "/fhir/Subscription/" + id,
			body: strings.Replace(subscriptionJSON(id, owner), "https://nurse.example/hook", "https://gp.example/stolen", 1)}
	}
	ownerOf := func(t *testing.T, e *env, id string) string {
		rec, err := e.store.Read("Subscription", id)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`"code":"([^"]*)","system":"` + regexp.QuoteMeta(consent.OwnerSystem) + `"`).FindSubmatch(rec.JSON)
		if m == nil {
			t.Fatalf("no owner tag: %s", rec.JSON)
		}
		return string(m[1])
	}
	runAttacks(t, e, []attack{
		{name: "read another's Subscription", status: 404, decision: true,
			req: get("/fhir/" + sub), absent: ptr(get("/fhir/Subscription/no-such"))},
		{name: "vread another's Subscription", status: 404, decision: true,
			req: get("/fhir/" + sub + "/_history/1"), absent: ptr(get("/fhir/Subscription/no-such/_history/1"))},
		{name: "read another's Subscription's history", status: 404, decision: true,
			req: get("/fhir/" + sub + "/_history"), absent: ptr(get("/fhir/Subscription/no-such/_history"))},
		{name: "search Subscriptions by url", status: 200, decision: true,
			req: get("/fhir/Subscription?url=https://nurse.example/hook"), absent: ptr(get("/fhir/Subscription?url=https://nobody.example/hook")),
			swap: [2]string{"nurse", "nobody"}},
		{name: "search Subscriptions by criteria", status: 200, decision: true,
			req: get("/fhir/Subscription?criteria=Task"), absent: ptr(get("/fhir/Subscription?criteria=Zzzz")), swap: [2]string{"Task", "Zzzz"}},
		{name: "search Subscriptions by owner tag", status: 200, decision: true,
			req:    get("/fhir/Subscription?_tag=" + consent.OwnerSystem + "|PractitionerRole/nurse"),
			absent: ptr(get("/fhir/Subscription?_tag=" + consent.OwnerSystem + "|PractitionerRole/nobody")), swap: [2]string{"nurse", "nobody"}},
		{name: "update another's Subscription", status: 404, decision: true, keep: []string{sub},
			req: update(id, "PractitionerRole/gp"), absent: ptr(update("no-such", "PractitionerRole/gp"))},
		{name: "update another's Subscription claiming to be its owner", status: 404, decision: true, keep: []string{sub},
			req: update(id, "PractitionerRole/nurse"), absent: ptr(update("no-such", "PractitionerRole/nurse"))},
		{name: "delete another's Subscription", status: 404, decision: true, keep: []string{sub},
			req: attackReq{auth: gp, method: "DELETE", path: "/fhir/" + sub}, absent: &attackReq{auth: gp, method: "DELETE", path: "/fhir/Subscription/no-such"}},
		{name: "create a Subscription under another's name", status: 201, decision: true, writes: 1, keep: []string{sub},
			req: attackReq{auth: gp, method: "POST", path: "/fhir/Subscription", body: subscriptionJSON("", "PractitionerRole/nurse")},
			then: func(t *testing.T, e *env, r resp) {
				id := r.json(t)["id"].(string)
				if o := ownerOf(t, e, id); o != "PractitionerRole/gp" {
					t.Errorf("the Subscription's stored owner is %q, want the GP", o)
				}
				stillHidden(nurse, "/fhir/Subscription/"+id)(t, e, r)
			}},
	})
	if o := ownerOf(t, e, id); o != "PractitionerRole/nurse" {
		t.Errorf("the nurse's Subscription is owned by %q", o)
	}
}

// TestAttackBreakGlass runs in an env of its own: an emergency access
// opens a grant that later reads would use.
func TestAttackBreakGlass(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	gp, social := e.as("PractitionerRole/gp"), e.as("PractitionerRole/social")
	glass := func(who, purpose, reason, path string) attackReq {
		return attackReq{auth: who, method: "GET", path: path, headers: []string{"X-Purpose-Of-Use", purpose, "X-Break-Glass-Reason", reason}}
	}
	runAttacks(t, e, []attack{
		{name: "ETREAT without a reason", status: 400, req: glass(gp, "ETREAT", "", "/fhir/Observation/o-psy")},
		{name: "BTG without a reason", status: 400, req: glass(gp, "BTG", "", "/fhir/Observation?patient=p1")},
		{name: "BTG with a blank reason", status: 400, req: glass(gp, "BTG", "   ", "/fhir/Observation/o-psy")},
		{name: "social worker breaks the glass on PSY", status: 404, decision: true,
			req: glass(social, "ETREAT", "urgent", "/fhir/Observation/o-psy"), absent: ptr(glass(social, "ETREAT", "urgent", "/fhir/Observation/no-such")),
			then: stillHidden(social, "/fhir/Observation/o-psy")},
		{name: "social worker breaks the glass on CLIN", status: 404, decision: true,
			req: glass(social, "BTG", "urgent", "/fhir/Observation/o-clin"), absent: ptr(glass(social, "BTG", "urgent", "/fhir/Observation/no-such")),
			then: stillHidden(social, "/fhir/Observation/o-clin")},
		{name: "social worker breaks the glass on a search", status: 200, decision: true,
			req: glass(social, "BTG", "urgent", "/fhir/Observation?patient=p1"), absent: ptr(glass(social, "BTG", "urgent", "/fhir/Observation?patient=nosuch")),
			swap: [2]string{"p1", "nosuch"}},
	})
}

// TestAttackTaskOpensPatient: addressing a Task to someone makes her a
// routing candidate (who and where the patient is, what is asked) only
// when the Task comes from a system caller, the patient's GP or her care
// team: a professional holding only a permit cannot open the patient's
// record to a third party that way, nor keep it open by updating the Task.
func TestAttackTaskOpensPatient(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	if r := e.do("PUT", "/fhir/PractitionerRole/pharmacist", `{"resourceType":"PractitionerRole","id":"pharmacist","active":true,"code":[{"coding":[{"system":"`+terminology.TREG15+`","code":"21"}]}]}`); r.status != 201 {
		t.Fatalf("PUT pharmacist: %d", r.status)
	}
	social, pharm := e.as("PractitionerRole/social"), e.as("PractitionerRole/pharmacist")
	patient := "Bearer " + e.mint("patient/*.rs patient/Consent.cud", "Patient/p1")
	if r := e.do("POST", "/fhir/Consent", consentJSON("", "Patient/p1", "OPTIN", "PractitionerRole/social", ""), "Authorization", patient); r.status != 201 {
		t.Fatalf("her permit for the social worker: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/Patient/p1", "", "Authorization", social); r.status != 200 {
		t.Fatalf("the social worker under her permit reads her: %d", r.status)
	}
	task := func(id, requester, owner string) string {
		idPart := ""
		if id != "" {
			idPart = `"id":"` + id + `",`
		}
		return strings.Replace(taskJSON("requested", "Patient/p1", requester, owner), `"id":"t1",`, idPart, 1)
	}
	r := e.do("POST", "/fhir/Task", task("", "PractitionerRole/social", "PractitionerRole/pharmacist"), "Authorization", social)
	if r.status != 201 {
		t.Fatalf("the social worker's Task: %d %s", r.status, r.body)
	}
	if got := e.do("GET", "/fhir/Patient/p1", "", "Authorization", pharm); got.status != 404 {
		t.Errorf("the pharmacist, addressed a Task by the social worker, reads the patient: %d", got.status)
	}
	// The owner updating it (received) keeps it the social worker's.
	id := r.json(t)["id"].(string)
	upd := strings.Replace(task(id, "PractitionerRole/social", "PractitionerRole/pharmacist"), `"status":"requested"`, `"status":"received"`, 1)
	e.do("PUT", "/fhir/Task/"+id, upd, "Authorization", social)
	if got := e.do("GET", "/fhir/Patient/p1", "", "Authorization", pharm); got.status != 404 {
		t.Errorf("after an update, the pharmacist reads the patient: %d", got.status)
	}
	// Her GP's Task does make the pharmacist a candidate.
	if r := e.do("POST", "/fhir/Task", task("", "PractitionerRole/gp", "PractitionerRole/pharmacist"), "Authorization", e.as("PractitionerRole/gp")); r.status != 201 {
		t.Fatalf("the GP's Task: %d %s", r.status, r.body)
	}
	if got := e.do("GET", "/fhir/Patient/p1", "", "Authorization", pharm); got.status != 200 {
		t.Errorf("the pharmacist, addressed a Task by the GP, reads the patient: %d", got.status)
	}
	if got := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", pharm); got.status != 404 {
		t.Errorf("a candidate reads clinical data: %d", got.status)
	}
}

// TestAttackRoutePreview: $route answers with the stay's diagnoses and why
// they chose a pathway, so it needs system scopes that read the stay; a
// token that only creates Tasks, or whose Encounter read is a user one
// the patient's Consents govern, learns nothing, not even whether the
// stay exists.
func TestAttackRoutePreview(t *testing.T) {
	t.Parallel()
	e := attackEnv(t)
	if r := e.do("PUT", "/fhir/Encounter/e-hidden", `{"resourceType":"Encounter","id":"e-hidden","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p2"}}`); r.status != 201 {
		t.Fatalf("PUT Encounter: %d %s", r.status, r.body)
	}
	preview := func(who, id string) attackReq {
		return attackReq{auth: who, method: "POST", path: "/fhir/Encounter/" + id + "/$route?preview=true"}
	}
	taskOnly := "Bearer " + e.mint("system/Task.c", "")
	mixed := "Bearer " + e.mint("system/Task.c system/Condition.rs system/Procedure.rs system/Observation.rs system/Patient.rs user/Encounter.rs", "PractitionerRole/nurse")
	runAttacks(t, e, []attack{
		{name: "preview with a token that only creates Tasks", status: 403, req: preview(taskOnly, "e-hidden"),
			absent: ptr(preview(taskOnly, "e-absent"))},
		{name: "preview of a stay the caller's user scope may not read", status: 404, decision: true, req: preview(mixed, "e-hidden"),
			absent: ptr(preview(mixed, "e-absent"))},
	})
}
