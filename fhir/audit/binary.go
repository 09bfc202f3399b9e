package audit

import (
	"encoding/binary"
	"errors"
	"time"
)

// The stored form of an event: Encode and Decode.
//
// The audit log keeps an event as its fields rather than its JSON: a read's
// AuditEvent is about 2.4 KB of JSON, mostly code systems and displays
// every event repeats, and about 350 bytes encoded. Every read writes
// one, to the journal and to the database, so that is most of what
// auditing costs a read. The JSON (Render) is what the log's Merkle leaf
// hashes and what /fhir/AuditEvent serves; it is rendered from the stored
// form when needed.
//
// A leaf hash commits to the rendered bytes, so Render's output for an
// encoded event is frozen: a change to Render that alters the JSON of an
// event already stored would make every such entry look modified to
// `relais audit verify`. TestRenderFrozen pins it. A new rendering needs a
// new format byte, with the old renderer kept for the old one.
//
// Format 2 (format byte 0x02) is what Encode writes: format 1 with, per
// agent, str networkType after network, and per entity, its type as a
// code and str description and str query after name. Decode reads a
// format 1 event as the same fields that render it as format 1 did: an
// agent's network type 1 (machine name, the only one it rendered), an
// entity's type its audit-entity-type code.
//
// Format 1, after its format byte 0x01 (a JSON body starts with '{', so
// the two never mix up):
//
//	str id; varint time (Unix µs); str kind
//	code type; uvarint n, code × n (subtype)
//	str action; str outcome; str outcomeDesc
//	uvarint n, str × n (purposes)
//	uvarint n, agent × n: code type; str who; str client; str display;
//	  byte requestor (0 or 1); uvarint n, str × n (policy); str network
//	uvarint n, entity × n: str what; str idSystem; str idValue; str type;
//	  str role; str name; uvarint n, (str type; str value) × n (details)
//	byte breakGlass (0 or 1)
//
// where str is a uvarint length then the bytes, and code is a uvarint k:
// 0 then str system, str code, str display for a literal coding, or the
// k-th entry of knownCodes. knownCodes only grows: an entry, once stored,
// names its coding for ever.
const (
	format1 = 1
	format2 = 2
)

// knownCodes are the codings a code names by number (from 1), in a fixed
// order that only grows at its end. A coding added to the patterns since
// format 2 (AgentUserOrg, EntityOther) is stored literally instead: a
// Relais of the same storage version that does not know its number could
// not decode the entry, while a literal coding it reads and renders as
// written.
var knownCodes = []Code{
	TypeRest, TypeAlert, TypeExport, TypeImport, TypeAuth,
	SubAuthZ, SubLogin, SubRead, SubVRead, SubSearch, SubHistory, SubCreate, SubUpdate, SubDelete, SubTransmit,
	AgentOAuth, AgentServer, AgentSource, AgentDest, AgentRecip, AgentCustody, SubEmergencyStart,
	// format 2
	SubPatch, AgentApplication, AgentAuthor, AgentAuthorizer, AgentCustodian, EntityPerson, EntityObject, EntityConsent,
	SubGetToken,
}

var codeNumbers = func() map[Code]uint64 {
	m := make(map[Code]uint64, len(knownCodes))
	for i, c := range knownCodes {
		m[c] = uint64(i + 1)
	}
	return m
}()

// Encode appends e's stored form to dst.
func Encode(dst []byte, e *Event) []byte {
	b := append(dst, format2)
	b = putStr(b, e.ID)
	b = binary.AppendVarint(b, e.Time.UnixMicro())
	b = putStr(b, string(e.Kind))
	b = putCode(b, e.Type)
	b = binary.AppendUvarint(b, uint64(len(e.Subtype)))
	for _, c := range e.Subtype {
		b = putCode(b, c)
	}
	for _, s := range [...]string{e.Action, e.Outcome, e.OutcomeDesc} {
		b = putStr(b, s)
	}
	b = putStrs(b, e.Purpose)
	b = binary.AppendUvarint(b, uint64(len(e.Agents)))
	for i := range e.Agents {
		a := &e.Agents[i]
		b = putCode(b, a.Type)
		for _, s := range [...]string{a.Who, a.Client, a.Display} {
			b = putStr(b, s)
		}
		b = putBool(b, a.Requestor)
		b = putStrs(b, a.Policy)
		b = putStr(b, a.Network)
		b = putStr(b, a.NetworkType)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Entities)))
	for i := range e.Entities {
		en := &e.Entities[i]
		for _, s := range [...]string{en.What, en.IDSystem, en.IDValue} {
			b = putStr(b, s)
		}
		b = putCode(b, en.Type)
		for _, s := range [...]string{en.Role, en.Name, en.Description, string(en.Query)} {
			b = putStr(b, s)
		}
		b = binary.AppendUvarint(b, uint64(len(en.Details)))
		for _, d := range en.Details {
			b = putStr(b, d.Type)
			b = putStr(b, d.Value)
		}
	}
	return putBool(b, e.BreakGlass)
}

func putStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func putStrs(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = putStr(b, s)
	}
	return b
}

func putBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func putCode(b []byte, c Code) []byte {
	if n, ok := codeNumbers[c]; ok {
		return binary.AppendUvarint(b, n)
	}
	b = append(b, 0)
	b = putStr(b, c.System)
	b = putStr(b, c.Code)
	return putStr(b, c.Display)
}

// ErrEncoding is Decode's answer for bytes that are no stored event.
var ErrEncoding = errors.New("audit event: malformed stored form")

// Decode reads an event Encode stored.
func Decode(b []byte) (Event, error) {
	d := decoder{b: b}
	format := d.byte()
	if format != format1 && format != format2 {
		return Event{}, ErrEncoding
	}
	var e Event
	e.ID = d.str()
	e.Time = time.UnixMicro(d.varint()).UTC()
	e.Kind = Kind(d.str())
	e.Type = d.code()
	if n := d.count(); n > 0 {
		e.Subtype = make([]Code, n)
		for i := range e.Subtype {
			e.Subtype[i] = d.code()
		}
	}
	e.Action, e.Outcome, e.OutcomeDesc = d.str(), d.str(), d.str()
	e.Purpose = d.strs()
	if n := d.count(); n > 0 {
		e.Agents = make([]Agent, n)
		for i := range e.Agents {
			a := &e.Agents[i]
			a.Type = d.code()
			a.Who, a.Client, a.Display = d.str(), d.str(), d.str()
			a.Requestor = d.bool()
			a.Policy = d.strs()
			a.Network = d.str()
			if format == format2 {
				a.NetworkType = d.str()
			} else if a.Network != "" {
				a.NetworkType = NetworkName
			}
		}
	}
	if n := d.count(); n > 0 {
		e.Entities = make([]Entity, n)
		for i := range e.Entities {
			en := &e.Entities[i]
			en.What, en.IDSystem, en.IDValue = d.str(), d.str(), d.str()
			if format == format2 {
				en.Type = d.code()
				en.Role, en.Name, en.Description = d.str(), d.str(), d.str()
				if q := d.str(); q != "" {
					en.Query = []byte(q)
				}
			} else {
				if t := d.str(); t != "" {
					en.Type = Code{System: SystemEntityType, Code: t}
				}
				en.Role, en.Name = d.str(), d.str()
			}
			if n := d.count(); n > 0 {
				en.Details = make([]Detail, n)
				for j := range en.Details {
					en.Details[j] = Detail{d.str(), d.str()}
				}
			}
		}
	}
	e.BreakGlass = d.bool()
	if d.bad || len(d.b) != 0 {
		return Event{}, ErrEncoding
	}
	return e, nil
}

// decoder reads Encode's fields; a read past the end or a malformed value
// sets bad and returns zeros from then on.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if d.bad || len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.bad = true
	return false
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return readVarint(d, binary.Varint) }

// readVarint reads one varint with read (binary.Uvarint, binary.Varint).
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.bad {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count is a list's length: each element takes a byte at least, so a
// count past the bytes left is malformed (and allocates nothing).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad = true
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count()
	if d.bad {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.str()
	}
	return l
}

func (d *decoder) code() Code {
	k := d.uvarint()
	switch {
	case d.bad:
		return Code{}
	case k == 0:
		return Code{d.str(), d.str(), d.str()}
	case k <= uint64(len(knownCodes)):
		return knownCodes[k-1]
	}
	d.bad = true
	return Code{}
}
