package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/bundlejson"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
)

// The audit log's routes: AuditEvent search and read (system callers and
// consent administrators), a patient's disclosures (the patient, her
// representatives and consent administrators), and the tamper evidence:
// signed checkpoints, their key, inclusion and consistency proofs
// (RFC 9162 section 2.1.3 and 2.1.4).

// auditAdmin admits the callers of the audit log's administration: a
// system scope searching AuditEvent, or a consent administrator. A
// patient reads hers at $disclosures.
func (a *API) auditAdmin(r *http.Request) error {
	self, err := a.consentOffice(r, "AuditEvent", auth.Search, "the audit log is for a system scope that searches AuditEvent and consent administrators")
	if err == nil && self != "" {
		err = outcome.New(outcome.Forbidden, "a patient reads the accesses to her record at Patient/{id}/$disclosures")
	}
	return err
}

// searchAuditEvents serves GET /fhir/AuditEvent.
func (a *API) searchAuditEvents(w http.ResponseWriter, r *http.Request) error {
	return a.searchAuditValues(w, r, r.URL.RawQuery)
}

// searchAuditEventsPost serves POST /fhir/AuditEvent/_search (a form
// body), so that a search by POST reads the audit log as one by GET does
// (https://hl7.org/fhir/R4/http.html#search).
func (a *API) searchAuditEventsPost(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return outcome.New(outcome.Invalid, "invalid form body")
	}
	return a.searchAuditValues(w, r, r.Form.Encode())
}

// searchAuditValues searches the audit log (parseAuditSearch).
func (a *API) searchAuditValues(w http.ResponseWriter, r *http.Request, raw string) error {
	if err := a.auditAdmin(r); err != nil {
		return err
	}
	s, err := parseAuditSearch(raw, auditSearchParams, prefer(r, "handling") == "strict")
	if err != nil {
		return err
	}
	return a.writeAuditBundle(w, r, "/fhir/AuditEvent", s)
}

// writeAuditBundle answers one page of s, newest first. Its next link
// carries a cursor, the position of the page's last entry sealed for this
// caller and this search (sealAuditCursor): entries recorded between
// pages shift nothing, and the link opens nothing for anyone else. The
// self link states the parameters applied, none of those ignored
// (https://hl7.org/fhir/R4/search.html#conformance).
func (a *API) writeAuditBundle(w http.ResponseWriter, r *http.Request, path string, s *auditSearch) error {
	query := strings.Join(s.applied, "&")
	bound := pageOwner(r) + "\x00" + path + "\x00" + query
	if s.before != "" {
		pos, ok := openAuditCursor(a.cursors, s.before, bound)
		if !ok {
			return outcome.New(outcome.Gone, "audit page cursor expired or unknown; search again")
		}
		s.q.Before = pos
	}
	link := func(before string) string {
		params := append(slices.Clone(s.applied), "_count="+strconv.Itoa(s.count))
		if before != "" {
			params = append(params, "_before="+before)
		}
		return a.base(r) + path + "?" + strings.Join(params, "&")
	}
	b := &bundlejson.Bundle{Type: "searchset", ID: newRequestID(), Timestamp: a.now()}
	b.Links = append(b.Links, bundlejson.Link{Relation: "self", URL: link(s.before)})
	if s.summaryCount || s.total {
		n, err := a.countAudit(s)
		if err != nil {
			return err
		}
		b.Total, b.HasTotal = n, true
	}
	if !s.summaryCount {
		var last store.AuditPos
		more := false
		err := a.store.AuditEvents(s.q, func(h store.AuditHead, js []byte) (bool, error) {
			if !s.match(js) {
				return true, nil
			}
			if len(b.Entries) == s.count {
				more = true
				return false, nil
			}
			// fullUrl carries the entry's number in the log, for its proof
			b.Entries = append(b.Entries, bundlejson.Entry{
				FullURL:  a.base(r) + "/fhir/AuditEvent/" + auditEventID(js) + "?index=" + strconv.FormatUint(h.Index, 10),
				Resource: append([]byte(nil), js...), Search: "match"})
			last = h.Pos()
			return true, nil
		})
		if err != nil {
			return err
		}
		if more {
			b.Links = append(b.Links, bundlejson.Link{Relation: "next", URL: link(sealAuditCursor(a.cursors, last, bound))})
		}
	}
	if len(s.warnings) > 0 {
		oo, err := a.warnings(s.warnings)
		if err != nil {
			return err
		}
		b.Entries = append(b.Entries, bundlejson.Entry{Resource: oo, Search: "outcome"})
	}
	writeJSON(w, http.StatusOK, b.Marshal())
	return nil
}

// countAudit counts every entry s matches, for _total and _summary=count
// (https://hl7.org/fhir/R4/search.html#total): a walk of all of them, so
// only when asked.
func (a *API) countAudit(s *auditSearch) (int, error) {
	q := s.q
	q.Before = store.AuditPos{}
	n := 0
	err := a.store.AuditEvents(q, func(_ store.AuditHead, js []byte) (bool, error) {
		if s.match(js) {
			n++
		}
		return true, nil
	})
	return n, err
}

func auditEventID(js []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(js, &v)
	return v.ID
}

// readAuditEvent serves GET /fhir/AuditEvent/{id}.
func (a *API) readAuditEvent(w http.ResponseWriter, r *http.Request) error {
	if err := a.auditAdmin(r); err != nil {
		return err
	}
	h, js, err := a.store.AuditEvent(mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	w.Header().Set("X-Audit-Index", strconv.FormatUint(h.Index, 10))
	writeJSON(w, http.StatusOK, js)
	return nil
}

// disclosures serves GET /fhir/Patient/{id}/$disclosures: newest first,
// the reads, searches and push deliveries that disclosed her data, each
// naming who, what, when, the purpose and the decision, break-the-glass
// flagged (purposeOfEvent BTG). For anyone but her, her representatives
// and consent administrators it answers as for a patient that does not
// exist.
func (a *API) disclosures(w http.ResponseWriter, r *http.Request) error {
	patient := "Patient/" + mux.Vars(r)["id"]
	notFound := outcome.New(outcome.NotFound, "patient not found")
	self, err := a.consentOffice(r, "Patient", auth.Read, "not found")
	if err != nil || self != "" && self != patient {
		return notFound
	}
	if _, err := a.store.Read("Patient", mux.Vars(r)["id"]); err != nil {
		return notFound
	}
	s, err := parseAuditSearch(r.URL.RawQuery, nil, prefer(r, "handling") == "strict")
	if err != nil {
		return err
	}
	s.q.Patient, s.q.Kinds, s.q.Outcomes = patient, []audit.Kind{audit.KindDisclosure}, []string{audit.OutcomeSuccess}
	return a.writeAuditBundle(w, r, "/fhir/"+patient+"/$disclosures", s)
}

// auditCheckpoint serves GET /admin/audit/checkpoint (the latest) and
// POST (sign a fresh one).
func (a *API) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	// Signing is the auditors'; the latest checkpoint is also the
	// patient's, who checks the inclusion proofs of her entries against
	// it (it names no one: a size, a root, a time).
	if r.Method == http.MethodPost {
		if err := a.auditAdmin(r); err != nil {
			return err
		}
	} else if _, err := a.consentOffice(r, "AuditEvent", auth.Search, "audit checkpoints are for auditors and for patients checking their own entries"); err != nil {
		return err
	}
	if a.audit == nil {
		return errNoRoute
	}
	if r.Method == http.MethodPost {
		c, err := a.audit.Checkpoint(r.Context())
		if err != nil {
			return err
		}
		return writePlainJSON(w, c)
	}
	c, ok, err := a.audit.Latest()
	if err != nil {
		return err
	}
	if !ok {
		return outcome.New(outcome.NotFound, "no checkpoint signed yet")
	}
	return writePlainJSON(w, c)
}

// auditKey serves GET /admin/audit/key: the checkpoint verification key.
func (a *API) auditKey(w http.ResponseWriter, r *http.Request) error {
	if a.audit == nil {
		return errNoRoute
	}
	return writePlainJSON(w, a.audit.PublicKey())
}

// auditProof serves GET /admin/audit/proof?index=N&treeSize=M (inclusion)
// and ?from=M1&treeSize=M2 (consistency). A patient may ask for the
// inclusion proof of an entry about her.
func (a *API) auditProof(w http.ResponseWriter, r *http.Request) error {
	self, err := a.consentOffice(r, "AuditEvent", auth.Search, "audit proofs are for auditors and for the patient about her own entries")
	if err != nil {
		return err
	}
	v := r.URL.Query()
	size, err := strconv.ParseUint(v.Get("treeSize"), 10, 64)
	if err != nil {
		return outcome.New(outcome.Invalid, "treeSize must be a tree size")
	}
	if from := v.Get("from"); from != "" {
		if self != "" {
			return outcome.New(outcome.Forbidden, "consistency proofs are for auditors")
		}
		size1, err := strconv.ParseUint(from, 10, 64)
		if err != nil {
			return outcome.New(outcome.Invalid, "from must be a tree size")
		}
		path, r1, r2, err := a.store.AuditConsistency(size1, size)
		if err != nil {
			return err
		}
		return writePlainJSON(w, map[string]any{"from": size1, "treeSize": size, "fromRoot": r1, "rootHash": r2, "consistency": path})
	}
	index, err := strconv.ParseUint(v.Get("index"), 10, 64)
	if err != nil {
		return outcome.New(outcome.Invalid, "index must be an entry number")
	}
	if self != "" && !a.auditAbout(index, self) {
		return outcome.New(outcome.NotFound, "no such entry about you")
	}
	p, err := a.store.AuditInclusion(index, size)
	if err != nil {
		return err
	}
	return writePlainJSON(w, map[string]any{"index": p.Index, "treeSize": p.Size, "leafHash": p.LeafHash, "inclusion": p.Path, "rootHash": p.Root})
}

// auditAbout reports whether entry index names patient.
func (a *API) auditAbout(index uint64, patient string) bool {
	found := false
	_ = a.store.AuditEvents(store.AuditQuery{Patient: patient}, func(h store.AuditHead, _ []byte) (bool, error) {
		found = h.Index == index
		return !found, nil
	})
	return found
}
