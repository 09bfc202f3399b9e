package store

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeRecord: the inbox log's record decoder (what recovery reads
// from disk after a crash) never panics, never reads past its input, and a
// record it accepts encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)
	f.Add(encodeRecord(nil, 1, &logEntry{payload: []byte("MSH|^~\\&|HIS|CHU|||20260301||ADT^A01|1|P|2.5\r")}))
	f.Add(encodeRecord(nil, 42, &logEntry{payload: []byte("x"), ackKey: []byte("HIS\x00CHU\x001"), at: at, record: []byte("ack")}))
	f.Add(encodeRecord(nil, 7, &logEntry{payload: nil, ackKey: []byte("k"), at: at}))
	f.Add(make([]byte, 64)) // the zeros a segment is grown with
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, e, n, ok := decodeRecord(b)
		if !ok {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("record length %d of %d bytes", n, len(b))
		}
		if again := encodeRecord(nil, seq, e); !bytes.Equal(again, b[:n]) {
			t.Fatalf("decoded record encodes to %x, read %x", again, b[:n])
		}
	})
}

// FuzzDecodeACKBody: the body of an ACK record, past the CRC that guards
// it in FuzzDecodeRecord, decodes without panicking, and an accepted body
// is what encodeRecord writes for the entry.
func FuzzDecodeACKBody(f *testing.F) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rec := encodeRecord(nil, 42, &logEntry{payload: []byte("x"), ackKey: []byte("HIS\x00CHU\x001"), at: at, record: []byte("ack")})
	f.Add(rec[logHeaderSize : len(rec)-4])
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		e, ok := decodeACKBody(body)
		if !ok {
			return
		}
		again := encodeRecord(nil, 1, e)
		if !bytes.Equal(again[logHeaderSize:len(again)-4], body) {
			t.Fatalf("decoded body encodes to %x, read %x", again[logHeaderSize:len(again)-4], body)
		}
	})
}
