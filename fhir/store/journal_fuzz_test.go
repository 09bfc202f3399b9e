package store

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/audit"
)

// FuzzDecodeJournal: the audit journal's reader (what Open reads from the
// journal files after a crash) never panics on a record whose CRC holds,
// whatever its body: it refuses the body (corruption, Open fails), or
// reads one record and stops at the tail a crash left (a torn record or
// zeros); an audit entry it reads encodes back to the bytes it was read
// from. The fuzzer mutates the body and the record is framed around it,
// since a mutated CRC would stop the reader before the body.
func FuzzDecodeJournal(f *testing.F) {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	e := testEvent("d1", at, "Patient/p1", "PractitionerRole/r1")
	r, err := auditRecordOf(&e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.encode(nil)[8:], false)
	f.Add(legacyJournalRecord(audit.Decision{ID: "old", Time: at, Patient: "Patient/p1", Actor: "PractitionerRole/r1", Permit: true})[8:], true)
	f.Add([]byte{0, 1, 'x', 0}, false)
	f.Add([]byte{9, 1, 2, 3}, true)
	f.Fuzz(func(t *testing.T, body []byte, tornTail bool) {
		if len(body) == 0 || len(body) > 1<<16 {
			return
		}
		rec := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(body, castagnoli))
		rec = append(rec, body...)
		in := bytes.Clone(rec)
		if tornTail {
			in = append(in, rec[:len(rec)/2]...)
		} else {
			in = append(in, make([]byte, 16)...)
		}
		recs, err := decodeJournal(in)
		if err != nil {
			return
		}
		if len(recs) != 1 {
			t.Fatalf("%d records read from one and a tail", len(recs))
		}
		if body[0] == 0 { // an audit entry, not a decision of storage version 7
			if again := recs[0].encode(nil); !bytes.Equal(again, rec) {
				t.Fatalf("record read encodes to %x, was %x", again, rec)
			}
		}
	})
}
