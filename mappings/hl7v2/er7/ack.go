package er7

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// AckCode is MSA-1 (HL7 table 0008).
type AckCode string

// Acknowledgement codes: original mode (AA, AE, AR) and enhanced mode
// commit acknowledgements (CA, CE, CR).
const (
	AA AckCode = "AA" // accepted
	AE AckCode = "AE" // error: the content has a problem
	AR AckCode = "AR" // rejected: the message as a whole is refused
	CA AckCode = "CA"
	CE AckCode = "CE"
	CR AckCode = "CR"
)

// CodeFor chooses MSA-1 for a processing outcome: accept when err is nil;
// reject when err is an *Error whose condition rejects the message
// (structure, unsupported type, event, processing id or version) or that
// is marked Reject; error otherwise. enhanced selects the commit codes (CA/CE/CR).
func CodeFor(enhanced bool, err error) AckCode {
	var e *Error
	switch {
	case err == nil:
		return pick(enhanced, AA, CA)
	case errors.As(err, &e) && (e.Condition.Rejects() || e.Reject):
		return pick(enhanced, AR, CR)
	}
	return pick(enhanced, AE, CE)
}

func pick(enhanced bool, orig, enh AckCode) AckCode {
	if enhanced {
		return enh
	}
	return orig
}

// CodeOf returns MSA-1 of an acknowledgement, "" when it has no MSA
// segment. It scans the segments without parsing the message: it is meant
// for ACKs this package built (ASCII delimiters, one of the single-byte
// character sets), whose code a transport counts and logs as it sends
// them.
func CodeOf(ack []byte) AckCode {
	if len(ack) < 4 || string(ack[:3]) != "MSH" {
		return ""
	}
	fs := ack[3]
	for len(ack) > 0 {
		seg := ack
		if i := bytes.IndexAny(ack, "\r\n"); i >= 0 {
			seg, ack = ack[:i], ack[i+1:]
		} else {
			ack = nil
		}
		if len(seg) > 4 && string(seg[:3]) == "MSA" && seg[3] == fs {
			f := seg[4:]
			if i := bytes.IndexByte(f, fs); i >= 0 {
				f = f[:i]
			}
			return AckCode(f)
		}
	}
	return ""
}

// Acker builds acknowledgements. The zero Acker uses time.Now.
type Acker struct {
	Now func() time.Time
}

// Ack builds the ACK of m with MSA-1 = code, MSA-2 = m's MSH-10, and one
// ERR segment per error (location in ERR-2, table 0357 condition in ERR-3,
// reason in ERR-7; ERR-1 as well for versions before 2.5). Errors that are
// not *Error are reported as 207 "application internal error" without their
// text. The ACK uses m's delimiters, version and character set.
func Ack(m *Message, code AckCode, errs ...error) []byte { return Acker{}.Ack(m, code, errs...) }

// AckFor is Ack with the code CodeFor chooses for err in m's mode.
func AckFor(m *Message, err error) []byte {
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	return Ack(m, CodeFor(m.Enhanced(), err), errs...)
}

// Nack rejects input that Parse refused, echoing whatever of its MSH can be
// read (sender, receiver, control ID, version). MSA-1 is AR, or CR when the
// sender asked for enhanced mode.
func Nack(data []byte, errs ...error) []byte { return Acker{}.Nack(data, errs...) }

// Ack: see the package function Ack.
func (a Acker) Ack(m *Message, code AckCode, errs ...error) []byte {
	msh := m.MSH()
	h := ackHeader{
		d: m.Delims, charset: m.Charset,
		sendApp: msh.Field(3).Raw(), sendFac: msh.Field(4).Raw(),
		recvApp: msh.Field(5).Raw(), recvFac: msh.Field(6).Raw(),
		trigger: msh.Field(9).Comp(2).Raw(), control: msh.Field(10).Raw(),
		processing: msh.Field(11).Raw(), version: msh.Field(12).Raw(),
		charsetField: msh.Field(18).Raw(),
	}
	return a.build(h, code, errs)
}

// Nack: see the package function Nack.
func (a Acker) Nack(data []byte, errs ...error) []byte {
	h := readHeaderLoosely(data)
	if h.control == "" {
		// MSH-10 of the ACK identifies it (HL7 v2.5 section 2.14.9.10):
		// without the original's control ID, the input itself does, so
		// that two inputs refused alike do not share one
		h.input = data
	}
	return a.build(h, pick(h.enhanced, AR, CR), errs)
}

// ackHeader holds the original message's header fields, still encoded.
type ackHeader struct {
	d                                  Delimiters
	charset                            Charset
	sendApp, sendFac, recvApp, recvFac string
	trigger, control, processing       string
	version, charsetField              string
	enhanced                           bool
	input                              []byte // what names an input without MSH-10
}

func (a Acker) build(h ackHeader, code AckCode, errs []error) []byte {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	d := h.d
	msgType := d.Join(d.Component, "ACK", h.trigger, "ACK")
	if old(h.version) {
		msgType = d.Join(d.Component, "ACK", h.trigger)
	}
	w := writer{d: d}
	w.segment("MSH", trimEmpty([]string{
		d.encoding(), h.recvApp, h.recvFac, h.sendApp, h.sendFac,
		now().Format("20060102150405-0700"), "", msgType, ackControlID(h, code),
		h.processing, h.version, "", "", "", "", "", h.charsetField,
	})...)
	msa := []string{string(code), h.control}
	if len(errs) > 0 && old(h.version) {
		msa = append(msa, Escape(reasonOf(errs[0]).Reason, d))
	}
	w.segment("MSA", trimEmpty(msa)...)
	for _, err := range errs {
		w.segment("ERR", errFields(reasonOf(err), d, old(h.version))...)
	}
	return h.charset.fromUTF8(w.String())
}

// old reports whether version predates v2.5, where ERR-2..ERR-8 appeared.
func old(version string) bool {
	return version == "2.1" || version == "2.2" || version == "2.3" || version == "2.3.1" || version == "2.4"
}

// reasonOf finds the *Error in err's chain, or stands in a static one.
func reasonOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Offset: -1, Condition: ApplicationError, Reason: "application internal error"}
}

func errFields(e *Error, d Delimiters, old bool) []string {
	code := strconv.Itoa(int(e.Condition))
	l := e.Loc
	seq := l.Seq
	if seq == 0 && l.Segment != "" {
		seq = 1
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	if old {
		cond := d.Join(d.Subcomponent, code, e.Condition.Text(), "HL70357")
		return []string{d.Join(d.Component, l.Segment, num(seq), num(l.Field)) + string(d.Component) + cond}
	}
	var erl string
	if l.Segment != "" {
		rep := l.Rep
		if rep == 0 && l.Field > 0 {
			rep = 1
		}
		erl = d.Join(d.Component, l.Segment, num(seq), num(l.Field), num(rep), num(l.Component), num(l.Sub))
	}
	return trimEmpty([]string{"", erl, d.Join(d.Component, code, e.Condition.Text(), "HL70357"), "E", "", "", Escape(e.Reason, d)})
}

// ackControlID derives MSH-10 of the ACK from the original's sender,
// control ID (else the input itself) and the code, so that the same
// outcome gives the same ACK.
func ackControlID(h ackHeader, code AckCode) string {
	d := sha256.New()
	d.Write([]byte(h.sendApp + "\x1f" + h.sendFac + "\x1f" + h.control + "\x1f" + string(code)))
	if h.input != nil {
		d.Write([]byte{0x1f})
		d.Write(h.input)
	}
	return hex.EncodeToString(d.Sum(nil)[:10])
}

// maxEcho bounds each field echoed from an unparsable header.
const maxEcho = 256

// readHeaderLoosely reads what it can of the MSH of input Parse refused.
func readHeaderLoosely(data []byte) ackHeader {
	h := ackHeader{d: DefaultDelimiters(), charset: ASCII, version: "2.5"}
	data = bytes.TrimPrefix(data, bom)
	if !bytes.HasPrefix(data, []byte("MSH")) || len(data) < 8 {
		return h
	}
	line := data[:segmentEnd(data, 0)]
	d, err := readDelimiters(line[3:])
	if err != nil {
		return h
	}
	h.d = d
	get := func(field int) string {
		b := nthBytes(line, d.Field, field-1)
		if len(b) > maxEcho || !isASCII(b) || hasCtl(b) {
			return ""
		}
		if _, _, ok := checkEscapes(b, d); !ok {
			return ""
		}
		return string(b)
	}
	h.sendApp, h.sendFac, h.recvApp, h.recvFac = get(3), get(4), get(5), get(6)
	h.trigger = nth(get(9), d.Component, 1)
	h.control, h.processing = get(10), get(11)
	if v := get(12); v != "" {
		h.version = v
	}
	h.enhanced = strings.TrimSpace(get(15)) != "" || strings.TrimSpace(get(16)) != ""
	return h
}

func hasCtl(b []byte) bool {
	for _, c := range b {
		if c < ' ' {
			return true
		}
	}
	return false
}
