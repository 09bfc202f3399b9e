package search

import "strings"

// Match reports whether a resource whose index entries are vals (Extract)
// satisfies q's clauses, as the store's index would: every clause has a
// condition that one of its parameter's values meets
// (https://hl7.org/fhir/R4/search.html#combining). q.IDs, sorting and
// paging are not looked at. It serves what the index cannot: a resource
// as it was before its deletion.
func (q *Query) Match(vals []Value) bool {
	for _, cl := range q.Clauses {
		if !cl.match(vals) {
			return false
		}
	}
	for _, m := range q.Missing {
		has := false
		for _, v := range vals {
			has = has || v.Param == m.Param
		}
		if has == m.Missing {
			return false
		}
	}
	return true
}

func (cl *Clause) match(vals []Value) bool {
	for _, v := range vals {
		if v.Param != cl.Param.Name {
			continue
		}
		for _, c := range cl.Conds {
			if c.match(v) {
				return true
			}
		}
	}
	return false
}

// match is one condition against one value, as the store's scan of the
// index keys built from it (Value's forms: "system|code", "Type/id",
// normalised strings, date ranges).
func (c Cond) match(v Value) bool {
	switch c.Tag {
	case 'c':
		_, code, ok := strings.Cut(v.Text, "|")
		return v.Kind == Token && ok && code == c.Key
	case 't':
		if c.Prefix {
			return v.Kind == Token && strings.HasPrefix(v.Text, c.Key)
		}
		return v.Kind == Token && v.Text == c.Key
	case 'r':
		return v.Kind == Reference && v.Text == c.Key
	case 'i':
		_, id, ok := strings.Cut(v.Text, "/")
		return v.Kind == Reference && ok && id == c.Key
	case 's':
		switch {
		case v.Kind != String:
			return false
		case c.Contains:
			return strings.Contains(v.Text, c.Key)
		case c.Prefix:
			return strings.HasPrefix(v.Text, c.Key)
		}
		return v.Text == c.Key
	case 'd':
		return v.Kind == Date && c.Matches(v.Start, v.End)
	}
	return false
}
