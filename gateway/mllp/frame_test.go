package mllp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// frames reads every frame of input: the frames, or "ERR:too large".
func frames(input []byte, max int) (out []string, err error) {
	f := newFrameReader(bytes.NewReader(input), max)
	for {
		if err := f.waitStart(); err != nil {
			return out, err
		}
		b, err := f.readFrame()
		switch {
		case errors.Is(err, errTooLarge):
			out = append(out, "ERR:too large")
		case err != nil:
			return out, err
		default:
			out = append(out, string(b))
		}
	}
}

func TestFrameReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		max      int
		want     []string
	}{
		{"one", "\x0bMSH|1\x1c\r", 100, []string{"MSH|1"}},
		{"two, CRLF between", "\x0bA\x1c\r\r\n\x0bB\x1c\r", 100, []string{"A", "B"}},
		{"FS without CR", "\x0bA\x1c\x0bB\x1c", 100, []string{"A", "B"}},
		{"junk before", "GET /\r\n\x0bA\x1c\r", 100, []string{"A"}},
		{"cut short by a new start", "\x0bPARTIAL\x0bB\x1c\r", 100, []string{"B"}},
		{"too large, then fine", "\x0b" + string(bytes.Repeat([]byte("x"), 50)) + "\x1c\r\x0bB\x1c\r", 10, []string{"ERR:too large", "B"}},
		{"unterminated", "\x0bA", 100, nil},
		{"empty frame", "\x0b\x1c\r", 100, []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := frames([]byte(tc.in), tc.max)
			if !errors.Is(err, io.EOF) {
				t.Errorf("ended with %v, want EOF", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("frames %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFrameReaderLarge: frames bigger than the read buffer are reassembled.
func TestFrameReaderLarge(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("OBX|1|TX|||0123456789\r"), 20000) // ~440 KB
	got, err := frames(appendFrame(appendFrame(nil, body), []byte("next")), 1<<20)
	if !errors.Is(err, io.EOF) || len(got) != 2 || got[0] != string(body) || got[1] != "next" {
		t.Errorf("got %d frames (%v), first %d bytes", len(got), err, len(got[0]))
	}
}

// FuzzFrameReader: any byte stream is read without panicking; frames never
// exceed the limit and never contain framing bytes.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte("\x0bMSH|^~\\&|A\x1c\r"))
	f.Add([]byte("junk\x0bA\x0bB\x1c\x0bC"))
	f.Add(bytes.Repeat([]byte{0x0b, 0x1c, 0x0d}, 10))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		r := newFrameReader(bytes.NewReader(in), max)
		for {
			if err := r.waitStart(); err != nil {
				return
			}
			b, err := r.readFrame()
			if err != nil && !errors.Is(err, errTooLarge) {
				return
			}
			if len(b) > max || bytes.IndexByte(b, startBlock) >= 0 || bytes.IndexByte(b, endBlock) >= 0 {
				t.Fatalf("bad frame %q", b)
			}
		}
	})
}
