package search

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/subset"
)

// Paging limits.
const (
	DefaultCount = 20
	MaxCount     = 1000
)

// Query is a parsed search on one resource type. Clauses are ANDed; the
// Conds of one clause are ORed.
type Query struct {
	Type         string
	IDs          []string // _id values (ORed); nil means any
	Clauses      []Clause
	Count        int
	Sort         []SortKey
	SummaryCount bool   // _summary=count
	Total        string // _total: none, estimate, accurate ("" = accurate)
	Include      []Include
	RevInclude   []Include
	// View is what _summary (true, text, data) and _elements ask to see
	// of each resource found: it decides how much of each is shown,
	// never which are found nor the total.
	View     subset.View
	Warnings []string // parameters ignored, for the OperationOutcome in the Bundle
	// Applied are the parameters the search applies, as sent and in the
	// order sent, ignored ones left out: what its self link repeats, so
	// that it states the search the server ran
	// (https://hl7.org/fhir/R4/search.html#conformance).
	Applied []string
	// Missing are the :missing conditions (ANDed with the clauses): a
	// resource passes when it has no value of Param exactly when Missing.
	Missing []MissingCond
	summary string // the _summary value given, to refuse another
	// appliedAs is what Applied states of the parameter add just applied,
	// when not as sent: _elements without the names it ignored
	appliedAs string
}

// MissingCond is param:missing=true|false
// (https://hl7.org/fhir/R4/search.html#modifiers): whether the resource
// has no value for the parameter.
type MissingCond struct {
	Param   string
	Missing bool
}

// Clause is one parameter occurrence. A clause without Conds matches
// nothing: each of its values was one that no resource can hold; unless
// it is chained: then it matches the references of Param to the
// resources Chain finds (R4 search.html#chaining), which only a store
// can resolve (Match, which reads no store, never matches it).
type Clause struct {
	Param Param
	Conds []Cond
	Chain *Query
}

// Cond is one value of a clause, planned as an index lookup.
type Cond struct {
	// Tag and Key select index entries: for tokens 't' (system|code) or 'c'
	// (code only); for strings 's'; for references 'r' (Type/id) or 'i' (id).
	Tag      byte
	Key      string
	Prefix   bool // Key is a prefix (string search, "system|" tokens)
	Contains bool // string :contains
	// Exact is a string :exact value as given, in NFC: the index, of
	// normalised strings, only narrows it down (Query.MatchExact).
	Exact string
	// Date conditions: the comparator and the range of the query value.
	Cmp        string // eq lt le gt ge sa eb
	Start, End int64
}

// SortKey orders results by a date parameter, _lastUpdated or _id.
type SortKey struct {
	Param string
	Desc  bool
}

// Include is _include=Source:param[:Target] or _revinclude likewise.
type Include struct {
	Source, Param, Target string
}

// control lists the result parameters; they never name an index.
var control = map[string]bool{
	"_count": true, "_sort": true, "_summary": true, "_total": true, "_include": true,
	"_revinclude": true, "_format": true, "_pretty": true, "_id": true, "_elements": true,
}

// Pair is one name=value of a search's query string.
type Pair struct {
	Name, Value string // decoded
	Raw         string // as sent
	// Bad says why the pair cannot be read, "" when it can.
	Bad string
}

// SplitQuery splits a raw query string into its pairs, in the order sent.
// Unlike url.ParseQuery, which drops a pair it cannot decode and so
// widens the search, it keeps such a pair with the reason: the search
// refuses it, or reports it ignored (https://hl7.org/fhir/R4/search.html#errors).
func SplitQuery(raw string) []Pair {
	var out []Pair
	for _, s := range strings.Split(raw, "&") {
		if s == "" {
			continue
		}
		k, v, _ := strings.Cut(s, "=")
		p := Pair{Raw: s}
		name, errName := url.QueryUnescape(k)
		value, errValue := url.QueryUnescape(v)
		p.Name, p.Value = name, value
		switch {
		case errName != nil || !utf8.ValidString(name):
			p.Name, p.Bad = k, "the name is not percent-encoded UTF-8"
		case errValue != nil || !utf8.ValidString(value):
			p.Bad = "the value is not percent-encoded UTF-8"
		case strings.Contains(s, ";"):
			// Some parsers split pairs at ';' (HTML 4, older Go), others
			// do not: a literal one is sent as %3B.
			p.Bad = "an unescaped ';' in the parameter"
		}
		out = append(out, p)
	}
	return out
}

// ParseQuery parses a raw query string (SplitQuery) as Parse does.
func ParseQuery(typ, raw string, strict bool) (*Query, error) {
	return parse(typ, SplitQuery(raw), strict)
}

// Parse parses the query string of a search on typ. Unknown parameters are
// ignored with a warning, or rejected when strict (Prefer: handling=strict).
// A value the server cannot read is refused whatever strict says: searching
// without it would answer more than was asked
// (https://hl7.org/fhir/R4/search.html#errors: a syntactically incorrect
// parameter is an error).
func Parse(typ string, v url.Values, strict bool) (*Query, error) {
	pairs := make([]Pair, 0, len(v))
	for k, vals := range v {
		for _, val := range vals {
			pairs = append(pairs, Pair{Name: k, Value: val, Raw: url.QueryEscape(k) + "=" + url.QueryEscape(val)})
		}
	}
	// Sorted by name, as url.Values.Encode, with each name's values in order.
	slices.SortStableFunc(pairs, func(a, b Pair) int { return strings.Compare(a.Name, b.Name) })
	return parse(typ, pairs, strict)
}

// errIgnored is how add reports a parameter left out of the search.
var errIgnored = errors.New("search parameter ignored")

func parse(typ string, pairs []Pair, strict bool) (*Query, error) {
	if !resource.Known(typ) {
		return nil, outcome.New(outcome.NotFound, "unknown resource type")
	}
	q := &Query{Type: typ, Count: DefaultCount}
	order := make([]int, len(pairs))
	for i := range order {
		order[i] = i
	}
	// Deterministic plans and warnings, whatever the order sent.
	sort.SliceStable(order, func(a, b int) bool { return pairs[order[a]].Name < pairs[order[b]].Name })
	applied := make([]string, len(pairs))
	for _, i := range order {
		p := pairs[i]
		var err error
		q.appliedAs = ""
		if p.Bad != "" {
			err = q.unreadable(p, strict)
		} else {
			err = q.add(p.Name, p.Value, strict)
		}
		switch {
		case errors.Is(err, errIgnored):
		case err != nil:
			return nil, err
		case q.appliedAs != "":
			applied[i] = q.appliedAs
		default:
			applied[i] = p.Raw
		}
	}
	for _, raw := range applied {
		if raw != "" {
			q.Applied = append(q.Applied, raw)
		}
	}
	if err := q.checkView(); err != nil {
		return nil, err
	}
	return q, nil
}

// ParseView reads what a read's raw query string asks to see of the
// resource: its _summary and _elements, read as a search reads them (R4
// http.html#parameters: they apply to reads as to searches); the rest is
// not the read's. _summary=count, a search's total, is refused. The
// warnings are those a search would put in its OperationOutcome.
func ParseView(typ, raw string, strict bool) (subset.View, []string, error) {
	q := &Query{Type: typ}
	for _, p := range SplitQuery(raw) {
		if name, _, _ := strings.Cut(p.Name, ":"); name != "_summary" && name != "_elements" {
			continue
		}
		var err error
		if p.Bad != "" {
			err = q.unreadable(p, strict)
		} else {
			err = q.add(p.Name, p.Value, strict)
		}
		if err != nil && !errors.Is(err, errIgnored) {
			return subset.View{}, nil, err
		}
	}
	if q.SummaryCount {
		return subset.View{}, nil, invalid("_summary=count is for searches; a read takes true, text, data or false")
	}
	if err := q.checkView(); err != nil {
		return subset.View{}, nil, err
	}
	return q.View, q.Warnings, nil
}

func invalid(format string, args ...any) error {
	text := fmt.Sprintf(format, args...)
	return outcome.New(outcome.Invalid, "invalid search parameter",
		outcome.Issue{Severity: outcome.SevError, Text: text})
}

func (q *Query) add(raw, val string, strict bool) error {
	if head, sub, ok := strings.Cut(raw, "."); ok {
		return q.addChain(raw, head, sub, val, strict)
	}
	name, modifier, _ := strings.Cut(raw, ":")
	switch name {
	case "_id":
		for _, id := range strings.Split(val, ",") {
			if id != "" {
				q.IDs = append(q.IDs, id)
			}
		}
		if q.IDs == nil {
			q.IDs = []string{}
		}
		return nil
	case "_count":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return invalid("_count must be a non-negative integer")
		}
		q.Count = min(n, MaxCount)
		// _count=0 asks for the total alone, as _summary=count does
		// (https://hl7.org/fhir/R4/search.html#count).
		q.SummaryCount = q.SummaryCount || n == 0
		return nil
	case "_sort":
		return q.addSort(val)
	case "_summary":
		if modifier != "" {
			return q.ignore(raw, "_summary takes no modifier", strict)
		}
		return q.addSummary(val)
	case "_total":
		switch val {
		case "none", "estimate", "accurate":
			q.Total = val
			return nil
		}
		return invalid("_total must be none, estimate or accurate")
	case "_include", "_revinclude":
		return q.addInclude(name, modifier, val)
	case "_format", "_pretty":
		return nil
	case "_elements":
		if modifier != "" {
			return q.ignore(raw, "_elements takes no modifier", strict)
		}
		return q.addElements(val, strict)
	case "_has":
		// Reverse chaining (R4 search.html#has) narrows the search to
		// what other resources name: left out, it would widen it to
		// every resource the caller may see (every patient, where the
		// one with a given result was asked for), so it is refused, as a
		// chain that cannot be followed is.
		return invalid("%s: reverse chaining (_has) is not supported", raw)
	}
	p, ok := Lookup(q.Type, name)
	if !ok {
		return q.ignore(raw, "unknown search parameter", strict)
	}
	if modifier == "missing" {
		if val != "true" && val != "false" {
			return invalid("%s:missing must be true or false", name)
		}
		q.Missing = append(q.Missing, MissingCond{Param: p.Name, Missing: val == "true"})
		return nil
	}
	c, err := plan(p, modifier, val)
	if err != nil {
		return err
	}
	q.Clauses = append(q.Clauses, c)
	return nil
}

// addSummary reads _summary (https://hl7.org/fhir/R4/search.html#summary):
// count asks for the total alone, the others for a view of each resource.
// A value it cannot read is refused, as any unreadable value of a known
// parameter is; so is a second, different one, which would leave the
// view to the order of the parameters.
func (q *Query) addSummary(val string) error {
	if q.summary != "" && q.summary != val {
		return invalid("_summary is given twice, as %s and %s", q.summary, val)
	}
	q.summary = val
	if val == "count" {
		q.SummaryCount = true
		return nil
	}
	s, ok := subset.ParseSummary(val)
	if !ok {
		return invalid("_summary must be true, text, data, count or false")
	}
	q.View.Summary = s
	return nil
}

// addElements reads _elements (https://hl7.org/fhir/R4/search.html#elements):
// top-level elements of q's type, comma-separated, each once in the view
// however often named (repeated, the parameter lists more). A name that
// is no element of the type is ignored with a warning, or refused when
// strict, as an unknown parameter is; with none left the parameter is
// ignored and the resources are shown whole.
func (q *Query) addElements(val string, strict bool) error {
	var kept []string
	names := 0
	for _, name := range strings.Split(val, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		names++
		el, ok := subset.Element(q.Type, name)
		if !ok {
			if err := Ignore(&q.Warnings, "_elements="+name, "not a top-level element of "+q.Type, strict); err != nil {
				return err
			}
			continue
		}
		kept = append(kept, url.QueryEscape(name))
		if !slices.Contains(q.View.Elements, el) {
			q.View.Elements = append(q.View.Elements, el)
		}
	}
	switch {
	case names == 0:
		return invalid("_elements has no value")
	case len(kept) == 0:
		return errIgnored
	case len(kept) < names:
		q.appliedAs = "_elements=" + strings.Join(kept, ",")
	}
	return nil
}

// checkView refuses what asks for two views at once: _summary (other
// than false or count) with _elements, which R4 does not combine, and
// _summary=text with _include or _revinclude, which "cannot be mixed"
// (https://hl7.org/fhir/R4/search.html#summary).
func (q *Query) checkView() error {
	if q.View.Elements != nil && q.View.Summary != subset.Full {
		return invalid("_summary=%s and _elements ask for two views: give one", q.View.Summary)
	}
	if q.View.Summary == subset.Text && (len(q.Include) > 0 || len(q.RevInclude) > 0) {
		return invalid("_summary=text cannot be mixed with _include or _revinclude")
	}
	return nil
}

// addChain plans a chained parameter (R4 search.html#chaining:
// patient.identifier=…, subject:Patient.name=…): head is a reference
// parameter of q's type, with the type it chains to as its modifier when
// it may reference several, sub a parameter of that type (with its own
// modifier), one level deep. Left out, it would widen the search to every
// patient's data where one patient's was asked for: a chain it cannot
// follow is refused, one naming an unknown parameter is ignored as any
// unknown parameter is.
func (q *Query) addChain(raw, head, sub, val string, strict bool) error {
	name, target, _ := strings.Cut(head, ":")
	p, ok := Lookup(q.Type, name)
	if !ok {
		return q.ignore(raw, "unknown search parameter", strict)
	}
	if target == "" {
		target = p.Target
	}
	subName, _, _ := strings.Cut(sub, ":")
	switch {
	case p.Kind != Reference:
		return invalid("%s: only a reference parameter is chained", raw)
	case target == "":
		return invalid("%s: %s references several types: name the one chained to, as %s:Patient.%s", raw, name, name, sub)
	case !resource.Known(target) || p.Target != "" && target != p.Target:
		return invalid("%s: %s does not reference %s", raw, name, target)
	case strings.Contains(sub, "."):
		return invalid("%s: a chain of more than one level is not supported", raw)
	case subName == "_id":
	case control[subName]:
		return invalid("%s: %s is not a search parameter to chain", raw, subName)
	default:
		if _, ok := Lookup(target, subName); !ok {
			return q.ignore(raw, "unknown search parameter", strict)
		}
	}
	inner := &Query{Type: target}
	if err := inner.add(sub, val, true); err != nil {
		return err
	}
	q.Clauses = append(q.Clauses, Clause{Param: p, Chain: inner})
	return nil
}

// Chained reports whether q has a chained parameter, which only a store
// resolves (Clause.Chain).
func (q *Query) Chained() bool {
	return slices.ContainsFunc(q.Clauses, func(c Clause) bool { return c.Chain != nil })
}

// ignore leaves an unknown or unsupported parameter out of the search,
// with a warning, or refuses it when strict
// (https://hl7.org/fhir/R4/search.html#errors).
func (q *Query) ignore(raw, why string, strict bool) error {
	if err := Ignore(&q.Warnings, raw, why, strict); err != nil {
		return err
	}
	return errIgnored
}

// Ignore is the rule for a parameter a search does not apply, for the
// searches that parse their own (the audit log's): strict, a 400 naming
// it; else a warning appended to warnings, for the searchset's
// OperationOutcome (https://hl7.org/fhir/R4/search.html#errors).
func Ignore(warnings *[]string, name, why string, strict bool) error {
	if strict {
		return invalid("%s: %s", name, why)
	}
	*warnings = append(*warnings, fmt.Sprintf("%s ignored: %s", name, why))
	return nil
}

// InvalidParam is the 400 of a search parameter that cannot be read.
func InvalidParam(format string, args ...any) error { return invalid(format, args...) }

// unreadable handles a pair that cannot be decoded: an error for a
// parameter the server knows, whose value it cannot understand; for an
// unknown one, what any unknown parameter gets.
func (q *Query) unreadable(p Pair, strict bool) error {
	name, _, _ := strings.Cut(p.Name, ":")
	if _, ok := Lookup(q.Type, name); ok || control[name] {
		return invalid("%s: %s", name, p.Bad)
	}
	return q.ignore(p.Name, p.Bad, strict)
}

func (q *Query) addSort(val string) error {
	for _, k := range strings.Split(val, ",") {
		desc := strings.HasPrefix(k, "-")
		k = strings.TrimPrefix(k, "-")
		if k == "_lastUpdated" || k == "_id" {
			q.Sort = append(q.Sort, SortKey{Param: k, Desc: desc})
			continue
		}
		p, ok := Lookup(q.Type, k)
		if !ok || p.Kind != Date {
			return invalid("cannot sort by %q: only _id, _lastUpdated and date parameters", k)
		}
		q.Sort = append(q.Sort, SortKey{Param: k, Desc: desc})
	}
	return nil
}

func (q *Query) addInclude(name, modifier, val string) error {
	if modifier != "" && modifier != "iterate" {
		return invalid("%s:%s is not supported", name, modifier)
	}
	parts := strings.Split(val, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return invalid("%s must be Type:param[:Target]", name)
	}
	inc := Include{Source: parts[0], Param: parts[1]}
	if len(parts) == 3 {
		inc.Target = parts[2]
	}
	p, ok := Lookup(inc.Source, inc.Param)
	if !ok || p.Kind != Reference {
		return invalid("%s: %s is not a reference parameter of %s", name, inc.Param, inc.Source)
	}
	if name == "_include" {
		if inc.Source != q.Type {
			return invalid("_include source must be %s", q.Type)
		}
		q.Include = append(q.Include, inc)
	} else {
		q.RevInclude = append(q.RevInclude, inc)
	}
	return nil
}

// plan turns one parameter value (a comma-separated OR list) into index lookups.
func plan(p Param, modifier, val string) (Clause, error) {
	c := Clause{Param: p}
	values := 0
	for _, v := range splitValues(val) {
		if v == "" {
			continue
		}
		values++
		var conds []Cond
		var cond Cond
		var err error
		switch p.Kind {
		case Token:
			conds, err = planToken(p, modifier, v)
		case String:
			cond, err = planString(modifier, unescape(v))
		case Reference:
			cond, err = planReference(p, modifier, unescape(v))
		case Date:
			cond, err = planDate(modifier, unescape(v))
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", p.Name, err)
		}
		if p.Kind != Token {
			conds = []Cond{cond}
		}
		c.Conds = append(c.Conds, conds...)
	}
	if values == 0 {
		return c, invalid("%s has no value", p.Name)
	}
	return c, nil
}

// splitValues splits on commas not escaped with a backslash
// (https://hl7.org/fhir/R4/search.html#escaping). The pieces keep their
// escapes: a token's '|' separates system and code only when unescaped
// (cutUnescaped), and unescape then reads each part.
func splitValues(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the escaped character, a backslash or comma included
		case ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// cutUnescaped cuts s around the first sep not escaped with a backslash.
func cutUnescaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// unescape reads the escapes \, \| \$ and \\ of a search value (R4
// search.html#escaping); any other backslash stands for itself.
func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(",|$\\", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// planToken plans one token value; none, or several, when p is on a code
// element (codeTokens).
func planToken(p Param, modifier, v string) ([]Cond, error) {
	if modifier != "" {
		return nil, invalid("token modifier :%s is not supported", modifier)
	}
	system, code, hasBar := cutUnescaped(v, '|')
	system, code = unescape(system), unescape(code)
	switch {
	case !hasBar:
		return []Cond{{Tag: 'c', Key: system}}, nil
	case p.systems != nil:
		return codeTokens(p.systems, system, code), nil
	case code == "":
		return []Cond{{Tag: 't', Key: system + "|", Prefix: true}}, nil
	default:
		return []Cond{{Tag: 't', Key: system + "|" + code}}, nil
	}
}

// codeTokens plans system|code on a code element, whose system its
// binding implies (https://hl7.org/fhir/R4/search.html#token) and whose
// index entries hold the code alone: the code when the system is its own,
// every code of the system for "system|", nothing for another system or
// for "|code" (a code element always has a system). Resolving it here
// leaves the index as it is.
func codeTokens(systems map[string]string, system, code string) []Cond {
	if code != "" {
		if systems[code] == system {
			return []Cond{{Tag: 'c', Key: code}}
		}
		return nil
	}
	var out []Cond
	for c, s := range systems {
		if s == system {
			out = append(out, Cond{Tag: 'c', Key: c})
		}
	}
	// One plan for one query: the store scans in this order.
	slices.SortFunc(out, func(a, b Cond) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func planString(modifier, v string) (Cond, error) {
	n := Normalize(v)
	switch modifier {
	case "":
		return Cond{Tag: 's', Key: n, Prefix: true}, nil
	case "exact":
		return Cond{Tag: 's', Key: n, Exact: norm.NFC.String(v)}, nil
	case "contains":
		return Cond{Tag: 's', Key: n, Contains: true}, nil
	}
	return Cond{}, invalid("string modifier :%s is not supported", modifier)
}

func planReference(p Param, modifier, v string) (Cond, error) {
	target := p.Target
	if modifier != "" {
		if !resource.Known(modifier) {
			return Cond{}, invalid("reference modifier :%s is not a resource type", modifier)
		}
		target = modifier
	}
	// Absolute references to this server reduce to Type/id; others never match.
	if i := strings.Index(v, "/fhir/"); i >= 0 && strings.Contains(v[:i], "://") {
		v = v[i+len("/fhir/"):]
	}
	typ, id, hasType := strings.Cut(v, "/")
	if !hasType {
		if target != "" {
			return Cond{Tag: 'r', Key: target + "/" + v}, nil
		}
		return Cond{Tag: 'i', Key: v}, nil
	}
	if !resource.Known(typ) || id == "" {
		return Cond{}, invalid("reference %q is not Type/id", v)
	}
	if target != "" && typ != target {
		return Cond{}, invalid("reference must be to %s", target)
	}
	id, _, _ = strings.Cut(id, "/") // drop /_history/n
	return Cond{Tag: 'r', Key: typ + "/" + id}, nil
}

func planDate(modifier, v string) (Cond, error) {
	if modifier != "" {
		return Cond{}, invalid("date modifier :%s is not supported", modifier)
	}
	cmp := "eq"
	if len(v) > 2 {
		switch v[:2] {
		case "eq", "lt", "le", "gt", "ge", "sa", "eb":
			cmp, v = v[:2], v[2:]
		case "ne", "ap":
			return Cond{}, invalid("date prefix %q is not supported", v[:2])
		}
	}
	start, end, err := ParseDate(v)
	if err != nil {
		return Cond{}, err
	}
	return Cond{Tag: 'd', Cmp: cmp, Start: start, End: end}, nil
}

// Matches reports whether an indexed date range [s, e) satisfies the date
// condition (https://hl7.org/fhir/R4/search.html#prefix).
func (c Cond) Matches(s, e int64) bool {
	switch c.Cmp {
	case "eq":
		return s >= c.Start && e <= c.End
	case "lt":
		return s < c.Start
	case "le":
		return s < c.End
	case "gt":
		return e > c.End
	case "ge":
		return e > c.Start
	case "sa":
		return s >= c.End
	case "eb":
		return e <= c.Start
	}
	return false
}

// Bounds is the range [lo, hi) of instants (Unix µs, each taken as a range
// of one microsecond) that satisfy the condition: what Matches accepts of
// such a range, for a walk in time order to seek and stop.
func (c Cond) Bounds() (lo, hi int64) {
	switch c.Cmp {
	case "eq":
		return c.Start, c.End
	case "lt", "eb":
		return math.MinInt64, c.Start
	case "le":
		return math.MinInt64, c.End
	case "gt", "sa":
		return c.End, math.MaxInt64
	case "ge":
		return c.Start, math.MaxInt64
	}
	return 0, 0
}

// Patients are the patients q names: the Patient references among its
// reference conditions (Observation?patient=x, subject=Patient/x,
// subject:Patient=x), and its _id values on a Patient search, in the
// order met and each once. What a search names is what it asks about,
// whatever it finds: IHE BALP PatientQuery records the patient of a
// request that "includes a Patient id ... as a query parameter"
// (https://profiles.ihe.net/ITI/BALP/StructureDefinition-IHE.BasicAudit.PatientQuery.html).
func (q *Query) Patients() []string {
	var out []string
	add := func(ref string) {
		if !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	if q.Type == "Patient" {
		for _, id := range q.IDs {
			add("Patient/" + id)
		}
	}
	for _, c := range q.Clauses {
		if c.Param.Kind != Reference {
			continue
		}
		for _, cond := range c.Conds {
			if cond.Tag == 'r' && strings.HasPrefix(cond.Key, "Patient/") {
				add(cond.Key)
			}
		}
	}
	return out
}

// PatientChains are the searches of q's chains that name patients as
// Patients does, by what identifies them: a chain to Patient by _id or
// identifier (Observation?patient.identifier=…, subject:Patient._id=…;
// R4 search.html#chaining). Only a store knows whom they find. A chain by
// name, birth date or address asks for whoever matches, as a search of
// Patient by those does: it names no one.
func (q *Query) PatientChains() []*Query {
	var out []*Query
	for _, c := range q.Clauses {
		ch := c.Chain
		if ch == nil || ch.Type != "Patient" {
			continue
		}
		if ch.IDs != nil || len(ch.Clauses) == 1 && ch.Clauses[0].Param.Name == "identifier" {
			out = append(out, ch)
		}
	}
	return out
}
