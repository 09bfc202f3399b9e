package identity

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// Linker is the store follower that resolves the logical references of
// the stored directory resources waiting for their target: a
// PractitionerRole naming by FINESS an Organization not stored yet points
// at it, in the transaction that writes the Organization, whatever writes
// it (an import, a FHIR create, update or transaction, an HL7 v2 or CDA
// source). ResolveLogical resolves a resource's references when the
// resource itself is written; the Linker, when their target is: the link
// then does not depend on the order the two arrive in (R4
// references.html section 2.3.0.3 leaves the resolution of a logical
// reference to the server). It also points the stored directory resources
// naming an Organization that a directory import merged into another
// (MergedFrom) at the one it was merged into, in the transaction that
// writes that one.
//
// It keeps in memory which stored resources wait for which identifiers,
// read from the store at its first write and kept from every write it
// follows, so that a write of an Organization or a Practitioner, which
// every HL7 v2 message makes, looks up a few identifiers and reads
// nothing else. What a transaction adds is kept at once (a rolled-back
// one leaves a waiter that is read and found not to wait); what it
// removes, once it commits. A Linker follows one Store; register it
// before the followers that read the directory (routing), which then see
// the links.
type Linker struct {
	codec *codec.Codec

	mu      sync.Mutex
	loaded  bool
	waiting map[waitKey]map[string]bool // a target's identifier -> the "Type/id" waiting for it
	keys    map[string][]waitKey        // "Type/id" -> the identifiers it waits for
}

// waitKey is one identifier a logical reference names, in the target
// type: a national identifier stands for each NationalIDs gives.
type waitKey struct{ typ, system, value string }

// NewLinker builds the Linker of one store, decoding stored versions with c.
func NewLinker(c *codec.Codec) *Linker {
	return &Linker{codec: c, waiting: map[waitKey]map[string]bool{}, keys: map[string][]waitKey{}}
}

// Follow links, in the transaction f follows, the stored directory
// resources waiting for a resource it wrote (a store.Follower).
func (l *Linker) Follow(_ context.Context, f *store.Following) error {
	if !l.concerned(f.Written()) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	snap := f.Snapshot()
	var candidates []string
	if !l.loaded {
		if err := l.load(snap); err != nil {
			return err
		}
		l.loaded = true
		// Those whose target was stored before a Linker followed the
		// store (a file written by an earlier relais) are linked now.
		for key := range l.keys {
			candidates = append(candidates, key)
		}
	}
	current := map[string]proto.Message{} // as this transaction wrote them
	for _, w := range f.Written() {
		if isDirectoryType(w.Type) {
			current[w.Type+"/"+w.ID] = w.Resource
			l.note(f, w.Type+"/"+w.ID, w.Resource)
		}
	}
	var entries []store.TxEntry
	for _, key := range l.waitersOf(f.Written(), candidates) {
		m, seen := current[key]
		if !seen {
			var err error
			if m, err = l.read(snap, key); err != nil {
				return err
			}
		}
		if m == nil {
			l.note(f, key, nil)
			continue
		}
		typ, id, _ := strings.Cut(key, "/")
		entries = append(entries, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: m})
	}
	changed := ResolveLogical(snap, entries)
	linked := entries[:0]
	for i, e := range entries {
		if changed[i] {
			linked = append(linked, e)
		}
	}
	linked, err := l.followMerges(snap, f.Written(), current, linked)
	if err != nil {
		return err
	}
	if len(linked) == 0 {
		return nil
	}
	for _, e := range linked {
		l.note(f, e.Type+"/"+e.ID, e.Resource)
	}
	_, err = f.Put(linked)
	return err
}

// referrers are the search parameters by which a directory resource
// names an Organization.
var referrers = []struct{ typ, param string }{
	{"PractitionerRole", "organization"}, {"HealthcareService", "organization"},
	{"Location", "organization"}, {"Endpoint", "organization"}, {"Organization", "partof"},
}

// followMerges adds to linked the stored directory resources naming an
// Organization that a written one now stands for (a directory import
// merged it in: MergedFrom), each pointed at the written one: a role that
// an earlier batch or import wrote with the ROR's id of an establishment
// the Annuaire Santé's Organization now holds is then found by that
// Organization's territory. current holds the resources as this
// transaction wrote them.
func (l *Linker) followMerges(snap *store.Snapshot, written []store.Written, current map[string]proto.Message, linked []store.TxEntry) ([]store.TxEntry, error) {
	moved := map[string]string{}
	for _, w := range written {
		for _, from := range MergedFrom(w.Resource) {
			if from != w.ID {
				moved["Organization/"+from] = "Organization/" + w.ID
			}
		}
	}
	if len(moved) == 0 {
		return linked, nil
	}
	logical := len(linked)
	at := map[string]int{} // "Type/id" -> index in linked
	for i, e := range linked {
		at[e.Type+"/"+e.ID] = i
	}
	for _, from := range slices.Sorted(maps.Keys(moved)) {
		for _, rf := range referrers {
			q, err := search.Parse(rf.typ, url.Values{rf.param: {from}}, false)
			if err != nil {
				return nil, err
			}
			hits, err := snap.Search(q, nil)
			if err != nil {
				return nil, err
			}
			for _, h := range hits {
				key := rf.typ + "/" + h.ID
				if _, ok := at[key]; !ok {
					m, seen := current[key]
					if !seen {
						if m, err = l.read(snap, key); err != nil {
							return nil, err
						}
					}
					if m == nil {
						continue
					}
					at[key] = len(linked)
					linked = append(linked, store.TxEntry{Method: "PUT", Type: rf.typ, ID: h.ID, Resource: m})
				}
			}
		}
	}
	// Those added are written only if they still name a merged id (a hit
	// may be an index entry of a version this transaction replaced); the
	// resources ResolveLogical changed are its copies already.
	out := linked[:0]
	for i, e := range linked {
		if !refersTo(e.Resource, moved) {
			if i < logical {
				out = append(out, e)
			}
			continue
		}
		if i >= logical {
			e.Resource = proto.Clone(e.Resource)
		}
		pointAt(e.Resource, moved)
		out = append(out, e)
	}
	return out, nil
}

// concerned reports whether written holds a directory resource: a
// waiter, or a target, of a logical reference.
func (l *Linker) concerned(written []store.Written) bool {
	for _, w := range written {
		if isDirectoryType(w.Type) {
			return true
		}
	}
	return false
}

// load reads which stored directory resources wait, once.
func (l *Linker) load(snap *store.Snapshot) error {
	for _, typ := range DirectoryTypes {
		q, err := search.Parse(typ, url.Values{}, false)
		if err != nil {
			return err
		}
		hits, err := snap.Search(q, nil)
		if err != nil {
			return err
		}
		for _, h := range hits {
			rec, err := snap.Read(typ, h.ID)
			// A reference's identifier is an object, a resource's a list.
			if err != nil || rec.Deleted || !bytes.Contains(rec.JSON, []byte(`"identifier":{`)) {
				continue
			}
			m, err := l.codec.DecodeStored(rec.JSON)
			if err != nil {
				continue
			}
			l.add(typ+"/"+h.ID, waitKeys(typ, m))
		}
	}
	return nil
}

// read is the current resource key names, nil when absent or deleted.
func (l *Linker) read(snap *store.Snapshot, key string) (proto.Message, error) {
	typ, id, _ := strings.Cut(key, "/")
	rec, err := snap.Read(typ, id)
	switch {
	case errors.Is(err, outcome.ErrNotFound) || errors.Is(err, outcome.ErrGone):
		return nil, nil // gone: it waits for nothing
	case err != nil:
		return nil, err
	}
	return l.codec.DecodeStored(rec.JSON)
}

// note records what key (m, nil when deleted) now waits for: what it adds
// at once, what it no longer waits for once f's transaction commits.
func (l *Linker) note(f *store.Following, key string, m proto.Message) {
	var now []waitKey
	if m != nil {
		typ, _, _ := strings.Cut(key, "/")
		now = waitKeys(typ, m)
	}
	var gone []waitKey
	for _, k := range l.keys[key] {
		if !containsKey(now, k) {
			gone = append(gone, k)
		}
	}
	l.add(key, now)
	if len(gone) > 0 {
		f.AfterCommit(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.remove(key, gone)
		})
	}
}

func (l *Linker) add(key string, ks []waitKey) {
	for _, k := range ks {
		if l.waiting[k] == nil {
			l.waiting[k] = map[string]bool{}
		}
		if !l.waiting[k][key] {
			l.waiting[k][key] = true
			l.keys[key] = append(l.keys[key], k)
		}
	}
}

func (l *Linker) remove(key string, ks []waitKey) {
	kept := l.keys[key][:0]
	for _, k := range l.keys[key] {
		if containsKey(ks, k) {
			delete(l.waiting[k], key)
			if len(l.waiting[k]) == 0 {
				delete(l.waiting, k)
			}
			continue
		}
		kept = append(kept, k)
	}
	if len(kept) == 0 {
		delete(l.keys, key)
		return
	}
	l.keys[key] = kept
}

// waitersOf lists the resources waiting for an identifier of a resource
// written, and those of more, each once, in a stable order.
func (l *Linker) waitersOf(written []store.Written, more []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, key := range more {
		if !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	for _, w := range written {
		if w.Deleted || w.Resource == nil || !isDirectoryType(w.Type) {
			continue
		}
		for _, id := range resource.Identifiers(w.Resource) {
			for _, k := range keysOf(w.Type, id.GetSystem().GetValue(), id.GetValue().GetValue()) {
				for key := range l.waiting[waitKey{w.Type, k[0], k[1]}] {
					if !seen[key] {
						seen[key] = true
						out = append(out, key)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// waitKeys lists the identifiers m's logical references wait for.
func waitKeys(typ string, m proto.Message) []waitKey {
	var out []waitKey
	for _, lr := range logicalRefs(typ, m, nil) {
		id := lr.ref.GetIdentifier()
		for _, k := range keysOf(lr.typ, id.GetSystem().GetValue(), id.GetValue().GetValue()) {
			if wk := (waitKey{lr.typ, k[0], k[1]}); !containsKey(out, wk) {
				out = append(out, wk)
			}
		}
	}
	return out
}

// keysOf is what an identifier of a resource of typ stands for, as
// resolveLogical and holds compare them: its national identifiers, else
// itself.
func keysOf(typ, system, value string) [][2]string {
	if system == "" || value == "" {
		return nil
	}
	if keys := NationalIDs(typ, system, value); len(keys) > 0 {
		return keys
	}
	return [][2]string{{system, value}}
}

func containsKey(ks []waitKey, k waitKey) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}
