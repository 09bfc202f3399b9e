// Package jsonpatch applies JSON Patch documents (RFC 6902) to JSON
// documents, as FHIR R4's patch interaction (http.html#patch) requires of
// a server that accepts application/json-patch+json.
//
// Apply works on its own copy of the document, so a patch applies
// entirely or not at all. Objects keep their members' order and numbers
// their text: what no operation touches comes out as it went in, in
// compact form.
//
// # Errors
//
// Errors are *outcome.Error. A patch that is not a valid patch document
// (not an array of operation objects, an unknown op, a missing member, a
// pointer that is not RFC 6901 syntax, a move into the moved value's own
// children, too many operations or too deep a pointer) is Invalid (400).
// A valid patch that cannot be applied to this document (a path that does
// not exist where it must, an array index out of range, a failed test) is
// Unprocessable (422), as FHIR R4 http.html#patch specifies. Both kinds
// name the operation by its index and op, never a path or a value, since
// either may hold patient data.
//
// # Caveats
//
// Both inputs must also pass strictjson.Check (unique keys, no lone
// surrogate escapes, valid UTF-8); RFC 6902 Appendix A.13 shows why a
// repeated "op" must be refused. Copies may add at most as many values as
// the document and the patch hold together, so that a short patch of
// copies cannot grow a document exponentially.
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/strictjson"
)

// Limits against abusive patches.
const (
	maxOperations   = 1000
	maxPointerDepth = 64
	copySlack       = 1024 // values copies may add beyond the budget
)

// Summaries (static, PHI-free) of the errors.
const (
	sumInvalidPatch = "invalid JSON Patch"
	sumInvalidDoc   = "invalid JSON document to patch"
	sumCannotApply  = "JSON Patch cannot be applied"
	sumTestFailed   = "JSON Patch test failed"
)

// operation is one parsed operation (RFC 6902 §4).
type operation struct {
	op    string
	path  pointer
	from  pointer // move, copy
	value value   // add, replace, test
}

// Apply applies patch to doc and returns the result as compact JSON. On
// any error it returns no document.
func Apply(doc, patch []byte) ([]byte, error) {
	ops, patchValues, err := parsePatch(patch)
	if err != nil {
		return nil, err
	}
	if err := strictjson.Check(doc); err != nil {
		return nil, rewrap(sumInvalidDoc, err)
	}
	root, err := parse(doc)
	if err != nil {
		return nil, outcome.Wrap(outcome.Invalid, sumInvalidDoc, err)
	}
	st := &state{root: root, budget: count(root) + patchValues + copySlack}
	for i, o := range ops {
		if err := st.apply(o); err != nil {
			return nil, err.outcome(i, o.op)
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(doc))
	write(&buf, st.root)
	return buf.Bytes(), nil
}

// rewrap gives a strictjson refusal the summary s, keeping its issue.
func rewrap(s string, err error) error {
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		return outcome.Wrap(outcome.Invalid, s, err)
	}
	return &outcome.Error{Kind: outcome.Invalid, Summary: s, Issues: oe.Issues, Err: err}
}

// parsePatch reads and checks the whole patch before anything is applied,
// so that a malformed operation is reported as such even after one that
// would fail. It also returns the number of values the patch holds.
func parsePatch(b []byte) ([]operation, int, error) {
	if err := strictjson.Check(b); err != nil {
		return nil, 0, rewrap(sumInvalidPatch, err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, 0, invalid("the patch must be an array of operations")
	}
	if len(raws) > maxOperations {
		return nil, 0, invalid(fmt.Sprintf("the patch has more than %d operations", maxOperations))
	}
	ops := make([]operation, len(raws))
	values := 0
	for i, raw := range raws {
		o, err := parseOperation(raw)
		if err != nil {
			return nil, 0, invalid(fmt.Sprintf("operation %d: %s", i, err))
		}
		if o.op == "add" || o.op == "replace" || o.op == "test" {
			values += count(o.value)
		}
		ops[i] = o
	}
	return ops, values, nil
}

func invalid(text string) *outcome.Error {
	return outcome.New(outcome.Invalid, sumInvalidPatch, outcome.Issue{Severity: outcome.SevError, Text: text})
}

// parseOperation reads one operation object. Members an op does not use
// are ignored (RFC 6902 §4). Errors name members, never their values.
func parseOperation(raw json.RawMessage) (operation, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return operation{}, errors.New("not an object")
	}
	var o operation
	op, err := stringMember(m, "op")
	if err != nil {
		return o, err
	}
	switch op {
	case "add", "remove", "replace", "move", "copy", "test":
		o.op = op
	default:
		return o, errors.New(`unknown "op"`)
	}
	if o.path, err = pointerMember(m, "path"); err != nil {
		return o, err
	}
	switch o.op {
	case "move", "copy":
		if o.from, err = pointerMember(m, "from"); err != nil {
			return o, err
		}
		if o.op == "move" && o.from.isProperPrefix(o.path) {
			return o, errors.New(`"from" contains "path": a value cannot move into its own children`)
		}
	case "add", "replace", "test":
		rawValue, ok := m["value"]
		if !ok {
			return o, errors.New(`"value" is missing`)
		}
		if o.value, err = parse(rawValue); err != nil {
			return o, errors.New(`"value" is not JSON`)
		}
	}
	return o, nil
}

func stringMember(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", fmt.Errorf("%q is missing", name)
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

func pointerMember(m map[string]json.RawMessage, name string) (pointer, error) {
	s, err := stringMember(m, name)
	if err != nil {
		return nil, err
	}
	p, err := parsePointer(s)
	switch {
	case errors.Is(err, errPointerDepth):
		return nil, fmt.Errorf("%q is deeper than %d tokens", name, maxPointerDepth)
	case err != nil:
		return nil, fmt.Errorf("%q is not a JSON Pointer (RFC 6901)", name)
	}
	return p, nil
}
