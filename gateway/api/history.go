package api

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/relais-health/relais/fhir/bundlejson"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// systemHistory: GET /fhir/_history. Every type must be readable.
func (a *API) systemHistory(w http.ResponseWriter, r *http.Request) error {
	if err := allow(r, "*", auth.Read); err != nil {
		return err
	}
	return a.history(w, r, "/fhir/_history", false, func(o store.HistoryOptions) (*store.History, error) {
		return a.store.TypeHistory("", o)
	})
}

// typeHistory: GET /fhir/{type}/_history
func (a *API) typeHistory(w http.ResponseWriter, r *http.Request) error {
	typ, err := pathType(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Read); err != nil {
		return err
	}
	return a.history(w, r, "/fhir/"+typ+"/_history", false, func(o store.HistoryOptions) (*store.History, error) {
		return a.store.TypeHistory(typ, o)
	})
}

// instanceHistory: GET /fhir/{type}/{id}/_history
func (a *API) instanceHistory(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Read); err != nil {
		return err
	}
	// The history of a resource the caller may not read is that of one
	// that does not exist, whatever the page asked for (_since, _before,
	// _count): the resource is decided on as a read decides, first.
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	if _, err := a.readVisible(r, f, typ, id); err != nil && outcome.KindOf(err) != outcome.Gone {
		return err
	}
	return a.history(w, r, "/fhir/"+typ+"/"+id+"/_history", true, func(o store.HistoryOptions) (*store.History, error) {
		h, err := a.store.InstanceHistory(typ, id, o)
		if outcome.KindOf(err) == outcome.NotFound {
			return nil, errHidden()
		}
		return h, err
	})
}

// history writes one page of a history Bundle, newest first. Paging uses a
// cursor (_before), so writes between pages shift nothing. What the caller
// may not see is skipped before the page is counted (visibleHistory), so
// that a page, its next link and its cursor are those of a store without
// the hidden versions. An instance history's cursor is a version number,
// which the caller sees anyway; a type or system history's is a position
// in the store's log, sealed (sealCursor) so that the gaps between two
// cursors do not count the writes the caller may not see.
func (a *API) history(w http.ResponseWriter, r *http.Request, path string, instance bool, load func(store.HistoryOptions) (*store.History, error)) error {
	o, err := historyOptions(r)
	if err != nil {
		return err
	}
	if before := r.URL.Query().Get("_before"); before != "" {
		var ok bool
		if instance {
			if o.Before, err = strconv.ParseUint(before, 10, 64); err != nil {
				return outcome.New(outcome.Invalid, "_before must be a history cursor")
			}
		} else if o.Before, ok = openCursor(a.cursors, before); !ok {
			return outcome.New(outcome.Gone, "history cursor expired or unknown; read the history again")
		}
	}
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	h, err := a.visibleHistory(r, f, o, load)
	if err != nil {
		return err
	}
	base := a.base(r)
	b := &bundlejson.Bundle{Type: "history", ID: newRequestID(), Timestamp: a.now()}
	b.Links = append(b.Links, bundlejson.Link{Relation: "self", URL: selfURL(r, base+path)})
	if h.Next != 0 {
		cursor := strconv.FormatUint(h.Next, 10)
		if !instance {
			cursor = sealCursor(a.cursors, h.Next)
		}
		next := base + path + "?_count=" + strconv.Itoa(o.Count) + "&_before=" + cursor
		if !o.Since.IsZero() {
			next += "&_since=" + o.Since.UTC().Format(time.RFC3339Nano)
		}
		b.Links = append(b.Links, bundlejson.Link{Relation: "next", URL: next})
	}
	for _, rec := range h.Records {
		method, url, status := rec.HistoryRequest()
		b.Entries = append(b.Entries, bundlejson.Entry{
			FullURL:  base + "/fhir/" + rec.Type + "/" + rec.ID,
			Resource: a.shown(rec),
			Request:  &bundlejson.Request{Method: method, URL: url},
			Response: &bundlejson.Response{Status: status, ETag: rec.ETag(), LastModified: rec.LastUpdated},
		})
	}
	if instance && len(b.Entries) == 0 && o.Before == 0 && o.Since.IsZero() {
		// An instance history with nothing the caller may see is the
		// history of a resource that does not exist.
		return errHidden()
	}
	writeJSON(w, http.StatusOK, b.Marshal())
	return nil
}

// visibleHistory reads pages from load, outside its snapshots (deciding
// reads the store), keeping what the caller may see, until it has a page
// of o.Count and knows whether one more follows.
func (a *API) visibleHistory(r *http.Request, f *consent.Filter, o store.HistoryOptions, load func(store.HistoryOptions) (*store.History, error)) (*store.History, error) {
	out := &store.History{}
	for {
		h, err := load(o)
		if err != nil {
			return nil, err
		}
		for i, rec := range h.Records {
			if allow(r, rec.Type, auth.Read) != nil {
				continue
			}
			if ok, err := a.allowRecord(f, rec); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
			if len(out.Records) == o.Count {
				out.Next = out.Cursors[len(out.Cursors)-1] // the cursor excludes itself
				return out, nil
			}
			out.Records, out.Cursors = append(out.Records, rec), append(out.Cursors, h.Cursors[i])
		}
		if h.Next == 0 {
			return out, nil
		}
		o.Before = h.Next
	}
}

func historyOptions(r *http.Request) (store.HistoryOptions, error) {
	v := r.URL.Query()
	o := store.HistoryOptions{Count: search.DefaultCount}
	if s := v.Get("_count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return o, outcome.New(outcome.Invalid, "_count must be a positive integer")
		}
		o.Count = min(n, search.MaxCount)
	}
	if s := v.Get("_since"); s != "" {
		start, _, err := search.ParseDate(s)
		if err != nil {
			return o, err
		}
		o.Since = time.UnixMicro(start)
	}
	return o, nil // _before: history reads it, by the kind of history
}

// newCursorSeal is the key of this process's history cursors: a cursor
// from before a restart is answered as an expired one.
func newCursorSeal() (cipher.Block, error) {
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	return aes.NewCipher(key[:])
}

// sealCursor encrypts a log position with its 8 zero bytes of check (one
// AES block).
func sealCursor(c cipher.Block, n uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], n)
	c.Encrypt(b[:], b[:])
	return hex.EncodeToString(b[:])
}

// openCursor is sealCursor's inverse; false for anything it did not make.
func openCursor(c cipher.Block, s string) (uint64, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != aes.BlockSize {
		return 0, false
	}
	c.Decrypt(b, b)
	n := binary.BigEndian.Uint64(b[:8])
	return n, n != 0 && binary.BigEndian.Uint64(b[8:]) == 0
}
