package directory

import (
	"regexp"
	"strings"

	"github.com/relais-health/relais/fhir/store"
)

// localRefs resolves the references an export's entries make to each
// other by fullUrl, "urn:uuid:…" (R4 bundle.html#references: a
// transaction, a batch or a collection Bundle built by a tool names its
// resources so), across the batches of one import, with the store's
// resolution of a transaction's references (store.RefMap, store.URNRefs):
// such a reference names the entry of the file read with that fullUrl,
// before or after it, and is stored as that entry's "Type/id". An entry
// naming one not read yet waits, in memory, until it is; one naming an
// entry that was refused, or still waiting at the end of the file (no
// entry has that fullUrl), is refused: stored, its reference would point
// nowhere. A reference is resolved once its target is read, not once it
// is stored: a resource naming a waiting entry that is refused at the end
// keeps its reference to that entry's id, which a later import may write.
//
// NDJSON has no fullUrl: a line's resource is named "urn:uuid:<id>" when
// its id is a UUID (the id a Bundle's tool gave it with that fullUrl), and
// so is a Bundle entry without a fullUrl.
type localRefs struct {
	ids     store.RefMap         // a urn read -> the "Type/id" its entry is stored as
	refused map[string]bool      // urns of refused entries
	waiting map[string][]*waiter // a urn not read yet -> the entries naming it
	byKey   map[string]*waiter   // "Type/id" -> its entry, while it waits
	order   []*waiter            // the entries that waited, in file order
}

// waiter is an entry waiting for entries it names by urn.
type waiter struct {
	e       store.TxEntry
	urn     string // its own
	missing int    // urns it names not read yet
	done    bool   // released, refused or replaced
}

func newLocalRefs() *localRefs {
	return &localRefs{ids: store.RefMap{}, refused: map[string]bool{}, waiting: map[string][]*waiter{}, byKey: map[string]*waiter{}}
}

var uuidID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// entryURN is the urn an entry is named by: its fullUrl when that is a
// URN, else, without a fullUrl, "urn:uuid:<id>" when id is a UUID (the
// FHIR uuid type is lower case); "" when other entries cannot name it so.
func entryURN(fullURL, id string) string {
	switch {
	case strings.HasPrefix(fullURL, "urn:"):
		return fullURL
	case fullURL == "" && uuidID.MatchString(id):
		return "urn:uuid:" + id
	}
	return ""
}

// add takes e, named urn, and returns the entries now ready to be written,
// their references by urn resolved (e, and those that waited for urn), and
// those refused because they name a refused entry (e, and those that
// waited for e).
func (l *localRefs) add(urn string, e store.TxEntry) (ready, refused []store.TxEntry) {
	var missing []string
	for _, u := range store.URNRefs(e.Resource) {
		switch {
		case l.refused[u]:
			return nil, append([]store.TxEntry{e}, l.refuse(urn)...)
		case u != urn && l.ids[u] == "":
			missing = append(missing, u)
		}
	}
	if urn != "" {
		l.ids[urn] = e.Type + "/" + e.ID
	}
	if len(missing) == 0 {
		l.ids.Rewrite(e.Resource)
		ready = append(ready, e)
	} else {
		w := &waiter{e: e, urn: urn, missing: len(missing)}
		for _, u := range missing {
			l.waiting[u] = append(l.waiting[u], w)
		}
		l.byKey[e.Type+"/"+e.ID] = w
		l.order = append(l.order, w)
	}
	if urn == "" {
		return ready, nil
	}
	for _, w := range l.waiting[urn] {
		if w.missing--; w.missing == 0 && !w.done {
			w.done = true
			delete(l.byKey, w.e.Type+"/"+w.e.ID)
			l.ids.Rewrite(w.e.Resource)
			ready = append(ready, w.e)
		}
	}
	delete(l.waiting, urn)
	return ready, nil
}

// refuse records that the entry named urn was refused, and returns the
// entries waiting for it, refused with it (and so on: an entry naming one
// of those later is refused too).
func (l *localRefs) refuse(urn string) []store.TxEntry {
	if urn == "" {
		return nil
	}
	l.refused[urn] = true
	delete(l.ids, urn)
	var out []store.TxEntry
	for _, w := range l.waiting[urn] {
		if !w.done {
			w.done = true
			delete(l.byKey, w.e.Type+"/"+w.e.ID)
			out = append(append(out, w.e), l.refuse(w.urn)...)
		}
	}
	delete(l.waiting, urn)
	return out
}

// supersede drops the waiting entry that writes key, which a later copy in
// the file replaces, and reports whether there was one.
func (l *localRefs) supersede(key string) bool {
	w, ok := l.byKey[key]
	if ok {
		w.done = true
		delete(l.byKey, key)
	}
	return ok
}

// unresolved returns the entries still waiting, in file order: the file
// has no entry with a fullUrl they name.
func (l *localRefs) unresolved() []store.TxEntry {
	var out []store.TxEntry
	for _, w := range l.order {
		if !w.done {
			out = append(out, w.e)
		}
	}
	return out
}
