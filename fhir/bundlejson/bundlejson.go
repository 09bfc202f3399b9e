// Package bundlejson writes the Bundles a FHIR server returns (searchset,
// history, batch- and transaction-response) by splicing the stored JSON of
// each resource into the envelope, so that no resource is parsed or
// marshalled again on the read path.
package bundlejson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Bundle is a response Bundle under construction.
type Bundle struct {
	Type      string // searchset, history, batch-response, transaction-response
	ID        string
	Timestamp time.Time
	Total     int // written when HasTotal
	HasTotal  bool
	Links     []Link
	Entries   []Entry
}

// Link is a Bundle.link.
type Link struct{ Relation, URL string }

// Entry is a Bundle.entry; Resource is raw resource JSON (may be nil).
type Entry struct {
	FullURL  string
	Resource []byte
	Search   string // search mode: match, include, outcome
	Request  *Request
	Response *Response
}

// Request is Bundle.entry.request (history bundles).
type Request struct{ Method, URL string }

// Response is Bundle.entry.response. Outcome is raw OperationOutcome JSON.
type Response struct {
	Status       string
	Location     string
	ETag         string
	LastModified time.Time
	Outcome      []byte
}

// Marshal renders the Bundle as JSON.
func (b *Bundle) Marshal() []byte {
	size := 256
	for _, e := range b.Entries {
		size += len(e.Resource) + 192
	}
	w := &writer{buf: bytes.NewBuffer(make([]byte, 0, size))}
	w.raw(`{"resourceType":"Bundle"`)
	if b.ID != "" {
		w.field("id", b.ID)
	}
	if !b.Timestamp.IsZero() {
		w.raw(`,"meta":{"lastUpdated":`)
		w.str(instant(b.Timestamp))
		w.raw(`}`)
	}
	w.field("type", b.Type)
	if !b.Timestamp.IsZero() {
		w.field("timestamp", instant(b.Timestamp))
	}
	if b.HasTotal {
		w.raw(`,"total":` + strconv.Itoa(b.Total))
	}
	if len(b.Links) > 0 {
		w.raw(`,"link":[`)
		for i, l := range b.Links {
			w.comma(i)
			w.raw(`{"relation":`)
			w.str(l.Relation)
			w.raw(`,"url":`)
			w.str(l.URL)
			w.raw(`}`)
		}
		w.raw(`]`)
	}
	if len(b.Entries) > 0 {
		w.raw(`,"entry":[`)
		for i := range b.Entries {
			w.comma(i)
			w.entry(&b.Entries[i])
		}
		w.raw(`]`)
	}
	w.raw(`}`)
	return w.buf.Bytes()
}

type writer struct{ buf *bytes.Buffer }

func (w *writer) raw(s string) { w.buf.WriteString(s) }

func (w *writer) comma(i int) {
	if i > 0 {
		w.buf.WriteByte(',')
	}
}

// str writes s as a JSON string (without HTML escaping: URLs keep their &).
func (w *writer) str(s string) {
	enc := json.NewEncoder(w.buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)               // a string always encodes
	w.buf.Truncate(w.buf.Len() - 1) // Encode appends a newline
}

// field writes ,"name":"value".
func (w *writer) field(name, value string) {
	w.raw(`,"` + name + `":`)
	w.str(value)
}

func (w *writer) entry(e *Entry) {
	w.raw(`{`)
	first := true
	sep := func() {
		if !first {
			w.buf.WriteByte(',')
		}
		first = false
	}
	if e.FullURL != "" {
		sep()
		w.raw(`"fullUrl":`)
		w.str(e.FullURL)
	}
	if e.Resource != nil {
		sep()
		w.raw(`"resource":`)
		w.buf.Write(e.Resource)
	}
	if e.Search != "" {
		sep()
		w.raw(`"search":{"mode":`)
		w.str(e.Search)
		w.raw(`}`)
	}
	if e.Request != nil {
		sep()
		w.raw(`"request":{"method":`)
		w.str(e.Request.Method)
		w.raw(`,"url":`)
		w.str(e.Request.URL)
		w.raw(`}`)
	}
	if r := e.Response; r != nil {
		sep()
		w.raw(`"response":{"status":`)
		w.str(r.Status)
		if r.Location != "" {
			w.field("location", r.Location)
		}
		if r.ETag != "" {
			w.field("etag", r.ETag)
		}
		if !r.LastModified.IsZero() {
			w.field("lastModified", instant(r.LastModified))
		}
		if r.Outcome != nil {
			w.raw(`,"outcome":`)
			w.buf.Write(r.Outcome)
		}
		w.raw(`}`)
	}
	w.raw(`}`)
}

// instant renders t as a FHIR instant.
func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }
