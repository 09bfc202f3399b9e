package api

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// auditSearchParams are the search parameters the audit log applies
// (parseAuditSearch; the CapabilityStatement lists them, with their types
// from the search registry), besides _id, _count, _summary=count and
// _total. The others of R4 auditevent.html (policy, site, source, address,
// agent-name, entity-name...) are reported ignored, as unknown ones are,
// and so are the other _summary values and _elements: the log shows its
// entries whole.
var auditSearchParams = []string{"patient", "agent", "entity", "date", "type", "subtype", "outcome", "action"}

// agentTargets are the types agent.who may reference
// (https://hl7.org/fhir/R4/auditevent.html#search: agent): a bare id
// searches them all (https://hl7.org/fhir/R4/search.html#reference), each
// through the agent index.
var agentTargets = []string{"Practitioner", "PractitionerRole", "Organization", "Device", "Patient", "RelatedPerson"}

// auditSearch is a search of the audit log as parsed: the store's query,
// what only the entry's JSON can answer (filtered after the index narrows),
// paging, and the parameters applied and ignored.
type auditSearch struct {
	q            store.AuditQuery
	ids          [][]string       // _id, each ORed, ANDed
	tokens       []auditTokenCond // type and subtype with a system, action
	count        int
	summaryCount bool
	total        bool
	applied      []string // as sent, _count and _before apart
	warnings     []string
	before       string // the sealed cursor, as sent
}

// auditTokenCond is a token parameter the entry's head cannot answer: a
// system the head does not keep (type, subtype), or a field it does not
// keep (action).
type auditTokenCond struct {
	field string
	conds []search.Cond
}

// parseAuditSearch reads a raw query string (search.SplitQuery, which
// drops no pair it cannot decode) as a search of the audit log. params
// are the search parameters the route takes; the rest, and those the
// audit log does not apply, are ignored with a warning, or refused when
// strict (https://hl7.org/fhir/R4/search.html#errors).
func parseAuditSearch(raw string, params []string, strict bool) (*auditSearch, error) {
	s := &auditSearch{count: 100}
	for _, p := range search.SplitQuery(raw) {
		name, modifier, _ := strings.Cut(p.Name, ":")
		applied, err := s.add(p, name, modifier, params, strict)
		if err != nil {
			return nil, err
		}
		if applied {
			s.applied = append(s.applied, p.Raw)
		}
	}
	return s, nil
}

// add applies one pair; false when it was ignored or is paging's.
func (s *auditSearch) add(p search.Pair, name, modifier string, params []string, strict bool) (bool, error) {
	known := slices.Contains(params, name) || slices.Contains([]string{"_id", "_count", "_summary", "_total", "_sort", "_elements"}, name)
	if p.Bad != "" {
		if known {
			return false, search.InvalidParam("%s: %s", name, p.Bad)
		}
		return false, search.Ignore(&s.warnings, p.Name, p.Bad, strict)
	}
	switch {
	case name == "_format" || name == "_pretty":
		return true, nil
	case name == "_before":
		s.before = p.Value
		return false, nil
	case name == "_count" || name == "_summary" || name == "_total":
		// as a search of any type reads them (fhir/search)
		one, err := search.ParseQuery("AuditEvent", p.Raw, strict)
		if err != nil {
			return false, err
		}
		s.warnings = append(s.warnings, one.Warnings...)
		switch name {
		case "_count":
			s.count, s.summaryCount = one.Count, s.summaryCount || one.SummaryCount
			return false, nil
		case "_summary":
			if !one.View.Whole() {
				// Each entry is a leaf of the log's Merkle tree: only
				// the whole of it is what its proof proves.
				return false, search.Ignore(&s.warnings, p.Name, "the audit log shows its entries whole", strict)
			}
			s.summaryCount = s.summaryCount || one.SummaryCount
		case "_total":
			s.total = one.Total != "none"
		}
		return len(one.Applied) > 0, nil
	case name == "_id" && modifier == "":
		s.ids = append(s.ids, strings.Split(p.Value, ","))
		return true, nil
	case name == "_sort" && p.Value == "-date":
		return true, nil // the order the log is served in
	case name == "_sort":
		return false, search.Ignore(&s.warnings, p.Name, "the audit log is sorted by -date only", strict)
	case name == "agent" && modifier == "identifier" && slices.Contains(params, name):
		c := store.AuditClause{Field: store.AuditAgent}
		for _, v := range strings.Split(p.Value, ",") {
			// Only backend clients are recorded by identifier.
			if system, id, _ := strings.Cut(v, "|"); system == audit.SystemClient && id != "" {
				c.Refs = append(c.Refs, "client:"+id)
			}
		}
		s.q.Clauses = append(s.q.Clauses, c)
		return true, nil
	case slices.Contains(params, name):
		return true, s.addParam(p, name)
	}
	if _, ok := search.Lookup("AuditEvent", name); ok || known {
		return false, search.Ignore(&s.warnings, p.Name, "not supported by the audit log", strict)
	}
	return false, search.Ignore(&s.warnings, p.Name, "unknown search parameter", strict)
}

// addParam plans one parameter as a search of any type would
// (search.ParseQuery: the reference, token and date forms and their
// errors are the same) and turns its clause into the audit log's.
func (s *auditSearch) addParam(p search.Pair, name string) error {
	one, err := search.ParseQuery("AuditEvent", p.Raw, true)
	if err != nil {
		return err
	}
	if len(one.Clauses) != 1 || one.Clauses[0].Chain != nil {
		return search.InvalidParam("%s: modifier or chain not supported by the audit log", p.Name)
	}
	conds := one.Clauses[0].Conds
	field := map[string]store.AuditField{"patient": store.AuditPatient, "agent": store.AuditAgent, "entity": store.AuditEntity,
		"date": store.AuditDate, "type": store.AuditType, "subtype": store.AuditSubtype, "outcome": store.AuditOutcome}[name]
	c := store.AuditClause{Field: field}
	versions := referenceVersions(p.Value)
	for i, cd := range conds {
		switch {
		case cd.Tag == 'd':
			c.Dates = append(c.Dates, cd)
		case cd.Tag == 'i' && field == store.AuditAgent:
			for _, t := range agentTargets {
				c.Refs = append(c.Refs, t+"/"+cd.Key)
			}
		case cd.Tag == 'r' && i < len(versions) && versions[i] != "":
			c.Refs = append(c.Refs, cd.Key+"/_history/"+versions[i])
		case cd.Tag == 'r' || cd.Tag == 'i':
			c.Refs = append(c.Refs, cd.Key)
		case cd.Tag == 'c' && !cd.Prefix:
			c.Codes = append(c.Codes, cd.Key)
		default: // a system, which the head does not keep
			field = 0
		}
	}
	if field == 0 || name == "action" {
		// Filtered after the index narrows, from the entry's JSON.
		s.tokens = append(s.tokens, auditTokenCond{field: name, conds: conds})
		return nil
	}
	s.q.Clauses = append(s.q.Clauses, c)
	return nil
}

// referenceVersions are the versions a reference parameter's values name
// (Type/id/_history/n), "" for a value without one, in the order of its
// non-empty values, as the planner's conditions are: the planner drops
// the version, which the audit log keeps (create, update and export
// events reference the version they wrote), and R4 reference search
// matches the version given (https://hl7.org/fhir/R4/search.html#reference).
func referenceVersions(value string) []string {
	var out []string
	for _, v := range strings.Split(value, ",") {
		if v == "" {
			continue
		}
		_, version, _ := strings.Cut(v, "/_history/")
		out = append(out, version)
	}
	return out
}

// match is the part of the search the store's head cannot answer: _id,
// action, and type and subtype with a system, read from the entry's JSON.
func (s *auditSearch) match(js []byte) bool {
	if len(s.ids) == 0 && len(s.tokens) == 0 {
		return true
	}
	type coding struct{ System, Code string }
	var ev struct {
		ID      string   `json:"id"`
		Type    coding   `json:"type"`
		Subtype []coding `json:"subtype"`
		Action  string   `json:"action"`
	}
	if json.Unmarshal(js, &ev) != nil {
		return false
	}
	for _, ids := range s.ids {
		if !slices.Contains(ids, ev.ID) {
			return false
		}
	}
	for _, t := range s.tokens {
		var have []coding
		switch t.field {
		case "type":
			have = []coding{ev.Type}
		case "subtype":
			have = ev.Subtype
		case "action":
			have = []coding{{Code: ev.Action}}
		}
		if !slices.ContainsFunc(t.conds, func(c search.Cond) bool {
			return slices.ContainsFunc(have, func(h coding) bool { return tokenMatches(c, h.System, h.Code) })
		}) {
			return false
		}
	}
	return true
}

// tokenMatches is a token condition on a coding: code alone, system|code,
// system| (https://hl7.org/fhir/R4/search.html#token).
func tokenMatches(c search.Cond, system, code string) bool {
	switch {
	case c.Tag == 'c':
		return c.Key == code
	case c.Prefix:
		return c.Key == system+"|"
	}
	return c.Key == system+"|"+code
}

// sealAuditCursor seals a position in the audit log for the next link of
// a page, bound (AES-GCM additional data) to the caller and the search it
// continues: another caller, or another search, cannot open it, and a
// cursor from before a restart is one this process did not make.
func sealAuditCursor(c cipher.Block, pos store.AuditPos, bound string) string {
	aead, _ := cipher.NewGCM(c) // AES always has a GCM
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+16+aead.Overhead())
	_, _ = rand.Read(nonce)
	var plain [16]byte
	binary.BigEndian.PutUint64(plain[:8], uint64(pos.Time))
	binary.BigEndian.PutUint64(plain[8:], pos.Index)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain[:], []byte(bound)))
}

// openAuditCursor is sealAuditCursor's inverse; false for anything it
// did not make for bound.
func openAuditCursor(c cipher.Block, s, bound string) (store.AuditPos, bool) {
	aead, _ := cipher.NewGCM(c)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < aead.NonceSize() {
		return store.AuditPos{}, false
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(bound))
	if err != nil || len(plain) != 16 {
		return store.AuditPos{}, false
	}
	return store.AuditPos{Time: int64(binary.BigEndian.Uint64(plain[:8])), Index: binary.BigEndian.Uint64(plain[8:])}, true
}
