package er7

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var fixed = Acker{Now: func() time.Time { return time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC) }}

func segs(ack []byte) []string {
	return strings.Split(strings.TrimSuffix(string(ack), "\r"), "\r")
}

func TestAck(t *testing.T) {
	t.Parallel()
	v25 := "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240301||ADT^A03^ADT_A03|CTRL1|P|2.5\rPID|1\r"
	v25enh := "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240301||ADT^A03^ADT_A03|CTRL1|P|2.5|||AL|NE\r"
	v23 := "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240301||ADT^A03|CTRL1|P|2.3\r"
	bad := &Error{Loc: Location{Segment: "PID", Seq: 1, Field: 3, Rep: 2, Component: 4}, Condition: DataTypeError, Reason: "bad | value"}
	unsupported := &Error{Loc: Location{Segment: "MSH", Seq: 1, Field: 9}, Condition: UnsupportedMessageType, Reason: "unsupported"}
	tests := []struct {
		name string
		msg  string
		err  error
		want []string
	}{
		{"accept original", v25, nil, []string{
			"MSH|^~\\&|RCV|RFAC|SND|SFAC|20240301120000+0000||ACK^A03^ACK|*|P|2.5",
			"MSA|AA|CTRL1"}},
		{"accept enhanced", v25enh, nil, []string{"*", "MSA|CA|CTRL1"}},
		{"content error", v25, bad, []string{"*", "MSA|AE|CTRL1",
			"ERR||PID^1^3^2^4|102^Data type error^HL70357|E|||bad \\F\\ value"}},
		{"reject enhanced", v25enh, fmt.Errorf("convert: %w", unsupported), []string{"*", "MSA|CR|CTRL1",
			"ERR||MSH^1^9^1|200^Unsupported message type^HL70357|E|||unsupported"}},
		{"other error hides its text", v25, errors.New("disk full at /var/patient-42"), []string{"*", "MSA|AE|CTRL1",
			"ERR|||207^Application internal error^HL70357|E|||application internal error"}},
		{"v2.3 uses ERR-1 and MSA-3", v23, bad, []string{
			"MSH|^~\\&|RCV|RFAC|SND|SFAC|20240301120000+0000||ACK^A03|*|P|2.3",
			"MSA|AE|CTRL1|bad \\F\\ value",
			"ERR|PID^1^3^102&Data type error&HL70357"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mustParse(t, tt.msg)
			var errs []error
			if tt.err != nil {
				errs = append(errs, tt.err)
			}
			got := segs(fixed.Ack(m, CodeFor(m.Enhanced(), tt.err), errs...))
			checkSegs(t, got, tt.want)
			// An ACK is itself a valid message.
			if _, err := Parse(fixed.Ack(m, AA)); err != nil {
				t.Errorf("ACK does not parse: %v", err)
			}
		})
	}
}

// checkSegs compares segments; "*" matches any segment and a trailing "|*"
// in MSH matches the generated control ID and what follows.
func checkSegs(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("ACK segments:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w == "*" {
			continue
		}
		if before, after, ok := strings.Cut(w, "|*|"); ok {
			gb, ga, _ := strings.Cut(g, "|ACK")
			_ = gb
			if !strings.HasPrefix(g, before) || !strings.HasSuffix(g, "|"+after) || ga == "" {
				t.Errorf("segment %d = %q, want %q", i, g, w)
			}
			continue
		}
		if g != w {
			t.Errorf("segment %d = %q, want %q", i, g, w)
		}
	}
}

func TestAckKeepsCharset(t *testing.T) {
	t.Parallel()
	m := mustParse(t, "MSH|^~\\&|\xc9MET|FAC|||1||ADT^A01|C\xc91|P|2.5||||||8859/1\r")
	ack := string(fixed.Ack(m, AA))
	if !strings.Contains(ack, "|8859/1\r") || !strings.Contains(ack, "MSA|AA|C\xc91\r") {
		t.Errorf("ACK not in ISO 8859-1: %q", ack)
	}
}

func TestAckControlIDDeterministic(t *testing.T) {
	t.Parallel()
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|1||ADT^A01|X1|P|2.5\r")
	a, b := segs(fixed.Ack(m, AA))[0], segs(fixed.Ack(m, AA))[0]
	c := segs(fixed.Ack(m, AE))[0]
	if a != b || a == c {
		t.Errorf("ACK control IDs: same outcome %q vs %q, other outcome %q", a, b, c)
	}
}

func TestNack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"escape error, original mode", "MSH|^~\\&|SND|SFAC|RCV|RFAC|1||ADT^A01^ADT_A01|C9|P|2.5\rNTE|1||\\X1\\\r", []string{
			"MSH|^~\\&|RCV|RFAC|SND|SFAC|20240301120000+0000||ACK^A01^ACK|*|P|2.5",
			"MSA|AR|C9",
			"ERR||NTE^1^3^1^1|102^Data type error^HL70357|E|||malformed \\E\\X\\E\\ escape sequence: expected pairs of hex digits"}},
		{"enhanced mode", "MSH|^~\\&|SND|SFAC|RCV|RFAC|1||ADT^A01|C9|P|2.5|||AL|AL\rpid|\r", []string{
			"*", "MSA|CR|C9",
			"ERR|||100^Segment sequence error^HL70357|E|||invalid segment ID: expected 3 upper-case letters or digits then the field separator"}},
		{"garbage", "\x00\x01hello", []string{
			"MSH|^~\\&|||||20240301120000+0000||ACK|*|2.5",
			"MSA|AR",
			"ERR|||100^Segment sequence error^HL70357|E|||message does not start with an MSH segment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatal("Parse accepted broken input")
			}
			checkSegs(t, segs(fixed.Nack([]byte(tt.in), err)), tt.want)
		})
	}
}

// TestNackControlIDs: the NACKs of two inputs without a control ID
// (MSH-10) have different control IDs (HL7 v2.5 section 2.14.9.10: MSH-10
// identifies the message), and the same input gets the same one.
func TestNackControlIDs(t *testing.T) {
	t.Parallel()
	ctl := func(in string) string {
		_, err := Parse([]byte(in))
		return strings.Split(segs(fixed.Nack([]byte(in), err))[0], "|")[9]
	}
	a, b := ctl("\x00garbage one"), ctl("\x00garbage two")
	if a == "" || a == b {
		t.Errorf("NACK control IDs of two inputs: %q and %q", a, b)
	}
	if again := ctl("\x00garbage one"); again != a {
		t.Errorf("NACK control IDs of one input: %q then %q", a, again)
	}
	if c, d := ctl("MSH|^~\\&|S|F|R|G|1||ADT^A01|C9|P|2.5\rpid|\r"), ctl("MSH|^~\\&|S|F|R|G|1||ADT^A01|C9|P|2.5\rpid|x\r"); c != d {
		t.Errorf("NACKs of one control ID differ: %q and %q", c, d)
	}
}

// TestCodeOf reads MSA-1 back from ACKs and NACKs, whatever the delimiters
// and character set, and gives "" for what is no ACK.
func TestCodeOf(t *testing.T) {
	t.Parallel()
	orig := mustParse(t, "MSH|^~\\&|A|B|C|D|1||ADT^A01|X1|P|2.5\r")
	enh := mustParse(t, "MSH#^~\\&#A#B#C#D#1##ADT^A01#X2#P#2.5###AL#AL#8859/1\r")
	tests := []struct {
		name string
		ack  []byte
		want AckCode
	}{
		{"AA", fixed.Ack(orig, AA), AA},
		{"AE with ERR", fixed.Ack(orig, AE, errors.New("x")), AE},
		{"CA, other field separator, Latin-1", fixed.Ack(enh, CA), CA},
		{"AR NACK of garbage", fixed.Nack([]byte("\x00garbage")), AR},
		{"CR NACK in enhanced mode", fixed.Nack([]byte("MSH|^~\\&|S|F|R|G|1||ADT^A01|C9|P|2.5|||AL|AL\rpid|\r")), CR},
		{"no MSA", []byte("MSH|^~\\&|A\rPID|1\r"), ""},
		{"no MSH", []byte("MSA|AA|X\r"), ""},
		{"empty", nil, ""},
		{"MSA last, no terminator", []byte("MSH|^~\\&|A\nMSA|AR"), AR},
	}
	for _, tt := range tests {
		if got := CodeOf(tt.ack); got != tt.want {
			t.Errorf("%s: CodeOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}
