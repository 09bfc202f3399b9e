package er7

import "strconv"

// Condition is an HL7 message error condition code (HL7 table 0357), carried
// in ERR-3 of an acknowledgement.
type Condition int

// The table 0357 codes. 0 means "message accepted".
const (
	SegmentSequenceError   Condition = 100
	RequiredFieldMissing   Condition = 101
	DataTypeError          Condition = 102
	TableValueNotFound     Condition = 103
	UnsupportedMessageType Condition = 200
	UnsupportedEventCode   Condition = 201
	UnsupportedProcessing  Condition = 202
	UnsupportedVersion     Condition = 203
	UnknownKeyIdentifier   Condition = 204
	DuplicateKeyIdentifier Condition = 205
	ApplicationRecordLock  Condition = 206
	ApplicationError       Condition = 207
)

var conditionText = map[Condition]string{
	SegmentSequenceError:   "Segment sequence error",
	RequiredFieldMissing:   "Required field missing",
	DataTypeError:          "Data type error",
	TableValueNotFound:     "Table value not found",
	UnsupportedMessageType: "Unsupported message type",
	UnsupportedEventCode:   "Unsupported event code",
	UnsupportedProcessing:  "Unsupported processing id",
	UnsupportedVersion:     "Unsupported version id",
	UnknownKeyIdentifier:   "Unknown key identifier",
	DuplicateKeyIdentifier: "Duplicate key identifier",
	ApplicationRecordLock:  "Application record locked",
	ApplicationError:       "Application internal error",
}

// Text is the table 0357 display text of c.
func (c Condition) Text() string { return conditionText[c] }

// Rejects reports whether c means the message as a whole is refused (AR/CR)
// rather than accepted with an error in its content (AE/CE): unsupported
// message type, event, processing id or version, and unreadable structure.
func (c Condition) Rejects() bool {
	return c == SegmentSequenceError || (c >= UnsupportedMessageType && c <= UnsupportedVersion)
}

// Location points into a message the way an HL7 ERL (ERR-2) does. Numbers are
// 1-based; 0 means "not narrowed down to this level".
type Location struct {
	Segment   string // segment ID, e.g. "PID"; "" when the segment is unreadable
	Seq       int    // which occurrence of that segment, 1 for the first
	Field     int
	Rep       int
	Component int
	Sub       int
}

// String renders the location as "PID-3[2].4.1", or "OBX(3)-5" for the third
// occurrence of a segment.
func (l Location) String() string {
	var buf [32]byte
	return string(l.appendTo(buf[:0]))
}

// AppendText appends String's rendering to b.
func (l Location) AppendText(b []byte) ([]byte, error) { return l.appendTo(b), nil }

func (l Location) appendTo(b []byte) []byte {
	b = append(b, l.Segment...)
	if l.Segment == "" {
		b = append(b, "segment"...)
	}
	if l.Seq > 1 {
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(l.Seq), 10)
		b = append(b, ')')
	}
	if l.Field == 0 {
		return b
	}
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(l.Field), 10)
	if l.Rep > 1 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(l.Rep), 10)
		b = append(b, ']')
	}
	if l.Component > 0 {
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(l.Component), 10)
		if l.Sub > 0 {
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(l.Sub), 10)
		}
	}
	return b
}

// Error is a problem with a message: where it is, which table 0357 condition
// it is, and a static reason. It never contains message content, so it may
// be logged; Ack turns it into an ERR segment.
type Error struct {
	Loc       Location
	Offset    int // byte offset in the input, -1 when not known
	Condition Condition
	Reason    string // static, free of patient data
	// Reject refuses the message as a whole (AR/CR) whatever its
	// condition: it asks for what the receiver will never do, such as
	// merging a patient into itself, so sending it again cannot succeed.
	Reject bool
}

func (e *Error) Error() string {
	s := "hl7v2: " + e.Loc.String()
	if e.Offset >= 0 {
		s += " at byte " + strconv.Itoa(e.Offset)
	}
	return s + ": " + e.Reason
}

func errAt(loc Location, off int, c Condition, reason string) *Error {
	return &Error{Loc: loc, Offset: off, Condition: c, Reason: reason}
}
