package jsonpatch

import (
	"fmt"
	"slices"

	"github.com/relais-health/relais/fhir/outcome"
)

// state is the document being patched; root changes when an operation
// targets the whole document.
type state struct {
	root   value
	budget int // values copies may still add
}

// opError is why an operation could not be applied; it never holds a
// path or a value.
type opError struct {
	summary string
	text    string
}

var (
	errNotFound  = &opError{sumCannotApply, "the path does not exist"}
	errNoParent  = &opError{sumCannotApply, "the path's parent does not exist or is not an object or array"}
	errFromGone  = &opError{sumCannotApply, "the from location does not exist"}
	errRemoveAll = &opError{sumCannotApply, "the whole document cannot be removed"}
	errTooLarge  = &opError{sumCannotApply, "copies would make the document too large"}
	errTest      = &opError{sumTestFailed, "the value differs"}
)

func (e *opError) outcome(i int, op string) *outcome.Error {
	return outcome.New(outcome.Unprocessable, e.summary,
		outcome.Issue{Severity: outcome.SevError, Text: fmt.Sprintf("operation %d (%s): %s", i, op, e.text)})
}

// apply runs one operation (RFC 6902 §4.1 to §4.6).
func (st *state) apply(o operation) *opError {
	switch o.op {
	case "add":
		return st.add(o.path, o.value)
	case "remove":
		_, err := st.remove(o.path)
		return err
	case "replace":
		return st.replace(o.path, o.value)
	case "move":
		if slices.Equal(o.from, o.path) {
			if _, ok := resolve(st.root, o.from); !ok {
				return errFromGone
			}
			return nil
		}
		v, err := st.remove(o.from)
		if err == errNotFound {
			return errFromGone
		}
		if err != nil {
			return err
		}
		return st.add(o.path, v)
	case "copy":
		v, ok := resolve(st.root, o.from)
		if !ok {
			return errFromGone
		}
		c, n := clone(v)
		if st.budget -= n; st.budget < 0 {
			return errTooLarge
		}
		return st.add(o.path, c)
	case "test":
		v, ok := resolve(st.root, o.path)
		if !ok {
			return errNotFound
		}
		if !equal(v, o.value) {
			return errTest
		}
	}
	return nil
}

// add sets an object member (replacing one of the same name), inserts an
// array element before the index (or at the end for "-" or the length),
// or replaces the whole document (§4.1).
func (st *state) add(p pointer, v value) *opError {
	if len(p) == 0 {
		st.root = v
		return nil
	}
	parent, ok := resolve(st.root, p[:len(p)-1])
	if !ok {
		return errNoParent
	}
	last := p[len(p)-1]
	switch c := parent.(type) {
	case *object:
		if i := c.find(last); i >= 0 {
			c.members[i].val = v
		} else {
			c.members = append(c.members, member{key: last, val: v})
		}
	case *array:
		i, ok := arrayIndex(last, len(c.elems), true)
		if !ok {
			return errNotFound
		}
		c.elems = slices.Insert(c.elems, i, v)
	default:
		return errNoParent
	}
	return nil
}

// remove takes out the value at p, which must exist, and returns it
// (§4.2).
func (st *state) remove(p pointer) (value, *opError) {
	if len(p) == 0 {
		return nil, errRemoveAll
	}
	parent, ok := resolve(st.root, p[:len(p)-1])
	if !ok {
		return nil, errNotFound
	}
	last := p[len(p)-1]
	switch c := parent.(type) {
	case *object:
		i := c.find(last)
		if i < 0 {
			return nil, errNotFound
		}
		v := c.members[i].val
		c.members = slices.Delete(c.members, i, i+1)
		return v, nil
	case *array:
		i, ok := arrayIndex(last, len(c.elems), false)
		if !ok {
			return nil, errNotFound
		}
		v := c.elems[i]
		c.elems = slices.Delete(c.elems, i, i+1)
		return v, nil
	}
	return nil, errNotFound
}

// replace sets the value at p, which must exist (§4.3).
func (st *state) replace(p pointer, v value) *opError {
	if len(p) == 0 {
		st.root = v
		return nil
	}
	parent, ok := resolve(st.root, p[:len(p)-1])
	if !ok {
		return errNotFound
	}
	last := p[len(p)-1]
	switch c := parent.(type) {
	case *object:
		i := c.find(last)
		if i < 0 {
			return errNotFound
		}
		c.members[i].val = v
	case *array:
		i, ok := arrayIndex(last, len(c.elems), false)
		if !ok {
			return errNotFound
		}
		c.elems[i] = v
	default:
		return errNotFound
	}
	return nil
}
