package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/hl7v2"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// HL7 v2 rules (HL7 v2.5 chapter 2, acknowledgments; IHE PAM):
//
//   - Resends. A message whose sender (MSH-3, MSH-4) and control ID (MSH-10)
//     were already committed is answered with the ACK bytes sent the first
//     time, and nothing is stored, if it is the same message (its content
//     digest, contentDigest, is the one kept in the ACK record); another
//     message under a used control ID is refused (AR, ERR 205) and not
//     stored either. The ACK record is committed with the
//     message (store.Enqueue), so an ACK exists if and only if the data
//     does.
//   - Ordering. Each resource an HL7 v2 message writes remembers the event
//     time of that message (EVN-2, else MSH-7; store.TxEntry.EventTime). A
//     PUT from an older event is not applied: the resource keeps its newer
//     version, the Provenance of the message no longer claims it, and the
//     message is still accepted (its data is not wrong, only superseded).
//     Equal times apply in arrival order. A message without an event time
//     is not ordered.
//   - A discharged stay. An update that does not carry the discharge
//     never reopens a stay an A03 finished; only an A13 does
//     (discharge.go).
//   - MDM and the Encounter. The ADT feed owns the Encounter: an MDM
//     message creates its Encounter only when absent (so the
//     DocumentReference has a context) and never changes an existing one,
//     since its PV1 usually lacks the discharge (PV1-45) and status that
//     an A03 wrote, but for the discharge it states, which finishes a
//     stay not ended yet (discharge.go, documentDischarge). It records no
//     event time for it either, so that a delayed ADT event still applies.
//   - Referrals and their Task. A REF^I12 or I13 creates the Task
//     addressed to the referred-to provider only when absent: once sent,
//     its status is the recipient's (accepted, rejected), and a resend or
//     a modification of the referral must not set it back to requested.
//     An I14 (cancel) does replace it, cancelled.
//   - Durability. A message is acknowledged once it is durably in the
//     store's inbox together with its ACK record (store.Enqueue), in a
//     sync shared with the other connections; the resources it maps to
//     are written shortly after, in arrival order, many messages per
//     transaction (queue.go). Reads of the store wait for the messages
//     acknowledged before them, so a client never reads older data than it
//     was told is stored; after a crash the inbox is applied at start
//     (Start). A transport that gets an error must not acknowledge.

// Reply is the answer to one HL7 v2 message.
type Reply struct {
	// ACK is the acknowledgement: AA, AE or AR in original mode; in
	// enhanced mode the accept acknowledgement CA, CE or CR. Nil when the
	// message needs no answer (it is itself an ACK).
	ACK []byte
	// AppACK is the enhanced-mode application acknowledgement (AA, AE or
	// AR), nil in original mode.
	AppACK []byte
	// SendACK and SendAppACK say whether MSH-15 and MSH-16 ask for ACK and
	// AppACK given the outcome (AL, NE, ER, SU). In original mode SendACK
	// is true.
	SendACK, SendAppACK bool
	Code                er7.AckCode // MSA-1 of ACK (of AppACK in enhanced mode)
	// Resent: the message was already committed; the ACKs are the
	// original ones and nothing was stored.
	Resent bool
	// LogID identifies the message in logs without revealing it: a hash
	// of sender and control ID.
	LogID string
	// Writes lists the resources ("Type/id", in the mapping's order) the
	// accepted message writes; nil when it was not accepted or is a resend.
	Writes []string
}

// HL7v2 maps an HL7 v2 message, stores it unless it is a resend and
// returns the reply to send. Problems with the message become AE/AR (CE/CR)
// replies, not errors. The error is for what a transport must not
// acknowledge: authz refusing, or the store being unavailable (outcome
// kinds Forbidden, Busy), and ErrNotStarted or ErrClosed outside
// Start..Close.
func (in *Ingester) HL7v2(ctx context.Context, data []byte, authz Authorize) (*Reply, error) {
	switch in.state.Load() {
	case notStarted:
		return nil, ErrNotStarted
	case closed:
		return nil, ErrClosed
	}
	q := in.q
	q.accepting.Add(1) // the queue lingers for it (queue.go)
	defer q.accepting.Add(-1)
	msg, err := er7.Parse(data)
	if err != nil {
		nack := in.acker.Nack(data, err)
		return &Reply{ACK: nack, SendACK: true, Code: ackCode(nack), LogID: logID(nil)}, nil
	}
	r := &Reply{LogID: logID(msg)}
	if code, _, _ := msg.Type(); code == "ACK" {
		return r, nil // a sender's commit ACK of our application ACK
	}
	key := ackKey(msg)
	digest := contentDigest(msg)
	if rec, err := in.storedACK(key); err != nil {
		return nil, err
	} else if rec != nil {
		// A caller who may not ingest this message learns nothing of
		// the one received before: not whether it came, nor its ACK.
		if err := in.authorizeResend(msg, data, authz); err != nil {
			return nil, err
		}
		return in.resent(r, msg, rec, digest), nil
	}
	received := in.opts.Now()
	cv, err := hl7v2.ConvertMessage(msg, data, in.opts.hl7v2())
	if err != nil {
		return in.refuse(r, msg, err), nil
	}
	entries, err := Entries(cv.Result)
	var oe *outcome.Error
	if errors.As(err, &oe) && oe.Kind == outcome.Unprocessable && len(oe.Issues) > 0 {
		// a field longer than FHIR allows a string (HL7 table 0357: 102)
		err = &er7.Error{Offset: -1, Condition: er7.DataTypeError, Reason: oe.Summary + ": " + oe.Issues[0].Path}
	}
	if err == nil {
		order(entries, cv.Header)
		err = authorizeSource(authz, entries, documentOf(cv.Result))
	}
	if err == nil && mergesIn(entries) {
		err = in.checkMerge(entries, authz)
	}
	if err == nil {
		err = in.checkStay(entries, cv.Header)
	}
	if err == nil {
		err = in.enqueue(ctx, r, msg, cv, entries, key, digest, data, received)
	}
	var re *store.ResentError
	var ee *er7.Error
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &ee): // the message's content, as checkMerge or checkStay found it
		return in.refuse(r, msg, err), nil
	case errors.As(err, &re):
		r.ACK, r.AppACK, r.Code = nil, nil, ""
		return in.resent(r, msg, re.Record, digest), nil
	case outcome.KindOf(err) == outcome.Forbidden, outcome.KindOf(err) == outcome.Busy:
		return nil, err
	}
	in.log.Error("hl7v2 store failed", "msg", r.LogID, "error", summary(err))
	return in.refuse(r, msg, err), nil
}

// enqueue commits the message to the store's inbox with its ACK record,
// then hands it to the queue that writes its resources.
func (in *Ingester) enqueue(ctx context.Context, r *Reply, msg *er7.Message, cv *hl7v2.Converted, entries []store.TxEntry, key *store.MessageKey, digest [sha256.Size]byte, data []byte, received time.Time) error {
	r.buildACKs(in.acker, msg)
	var ack *store.MessageACK
	if key != nil {
		ack = &store.MessageACK{Key: *key, At: received, Record: encodeACKRecord(r, digest)}
	}
	q := in.q
	if err := q.admit(ctx); err != nil {
		return err
	}
	seq, err := in.store.Enqueue(ctx, encodeQueued(received, data), ack)
	if err != nil {
		return err
	}
	r.Writes = refs(entries)
	q.add(&queued{seq: seq, header: cv.Header, entries: entries, doc: documentOf(cv.Result), key: key, logID: r.LogID, received: received})
	return nil
}

// refs lists the "Type/id" of entries, in order.
func refs(entries []store.TxEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Type + "/" + e.ID
	}
	return out
}

// applyMessage writes one queued message in b, and returns how many
// resources kept a newer event's version.
func applyMessage(b *store.Batch, q *queued) (older int, err error) {
	results, err := b.Put(q.entries, true)
	return countOlder(results), err
}

func countOlder(results []store.TxResult) int {
	n := 0
	for _, r := range results {
		if r.Older {
			n++
		}
	}
	return n
}

// order marks the entries subject to event ordering with the message's
// event time: all but an MDM's Encounter and what the mapping asks to
// create only when absent (a referral's Task, whose recipient owns its
// status; see the package rules), which are only created when absent, and the message's own record (its
// source Binary, its Provenance, its warnings), whose ids come from the
// message itself: no other message writes them (a resend is answered
// before mapping), so they have no newer version to protect and need no
// event time kept.
func order(entries []store.TxEntry, h hl7v2.Header) {
	for i := range entries {
		e := &entries[i]
		ref := e.Type + "/" + e.ID
		switch {
		case h.MessageCode == "MDM" && ref == h.Encounter:
			e.IfAbsent = true
		case slices.Contains(h.IfAbsent, ref):
			e.IfAbsent = true
		case !ownRecord[e.Type]:
			e.EventTime = h.EventTime
		}
	}
}

var ownRecord = map[string]bool{"Binary": true, "Provenance": true, "OperationOutcome": true}

// buildACKs fills the accept ACKs for a message about to be committed.
func (r *Reply) buildACKs(a er7.Acker, msg *er7.Message) {
	if !msg.Enhanced() {
		r.Code, r.SendACK = er7.AA, true
		r.ACK = a.Ack(msg, er7.AA)
		return
	}
	r.Code = er7.AA
	r.ACK = a.Ack(msg, er7.CA)
	r.AppACK = a.Ack(msg, er7.AA)
	r.SendACK = wants(msg.MSH().Field(15).Text(), true)
	r.SendAppACK = wants(msg.MSH().Field(16).Text(), true)
}

// refuse answers a message that is not stored: AE/AR, or CE/CR and AE/AR.
func (in *Ingester) refuse(r *Reply, msg *er7.Message, err error) *Reply {
	code := er7.CodeFor(false, err)
	if !msg.Enhanced() {
		r.Code, r.SendACK, r.ACK = code, true, in.acker.Ack(msg, code, err)
		return r
	}
	r.Code = code
	r.ACK = in.acker.Ack(msg, er7.CodeFor(true, err), err)
	r.AppACK = in.acker.Ack(msg, code, err)
	r.SendACK = wants(msg.MSH().Field(15).Text(), false)
	r.SendAppACK = wants(msg.MSH().Field(16).Text(), false)
	return r
}

// wants applies an MSH-15/16 acknowledgement condition (HL7 table 0155):
// AL always, NE never, SU on success, ER on error. Empty means AL.
func wants(cond string, ok bool) bool {
	switch cond {
	case "NE":
		return false
	case "SU":
		return ok
	case "ER":
		return !ok
	}
	return true
}

// resent answers a message whose sender and control ID were already
// committed. The same message sent again (same content digest) gets the
// original ACK bytes. Another message reusing the control ID is refused
// (AR, or CR in enhanced mode, with ERR condition 205): MSH-10 must be
// unique for the sender (HL7 v2.5 section 2.14.9.10), so it is not the
// resend it claims to be, and it is not stored either, since storing it
// would leave two messages behind one ACK record. A record written before
// digests were kept (version 1) cannot tell them apart: its message is
// taken as resent, as it always was.
func (in *Ingester) resent(r *Reply, msg *er7.Message, rec []byte, digest [sha256.Size]byte) *Reply {
	ack, app, stored, err := decodeACKRecord(rec)
	if err == nil && stored != nil && !bytes.Equal(stored, digest[:]) {
		in.log.Warn("hl7v2 control ID reused for another message: refused", "msg", r.LogID, "control", msg.MSH().Field(10).Raw())
		return in.reused(r, msg)
	}
	if err != nil {
		ack = er7.Ack(msg, er7.AA) // unreadable record: still accepted
	}
	r.Resent, r.ACK, r.AppACK, r.Code = true, ack, app, er7.AA
	r.SendACK = !msg.Enhanced() || wants(msg.MSH().Field(15).Text(), true)
	r.SendAppACK = msg.Enhanced() && app != nil && wants(msg.MSH().Field(16).Text(), true)
	return r
}

// sourceTypes are what every mapped message writes besides its content:
// its source Binary, the mapping's Device and the Provenance linking them
// (mappings/bundle, Finish).
var sourceTypes = []string{"Binary", "Device", "Provenance"}

// authorizeResend asks authz about a message sent again as if it were new:
// its mapping's types, or, when it no longer maps, the types any message
// writes.
func (in *Ingester) authorizeResend(msg *er7.Message, data []byte, authz Authorize) error {
	if authz == nil {
		return nil
	}
	if cv, err := hl7v2.ConvertMessage(msg, data, in.opts.hl7v2()); err == nil {
		if entries, err := Entries(cv.Result); err == nil {
			return authorizeSource(authz, entries, documentOf(cv.Result))
		}
	}
	return authz(sourceTypes)
}

// errReused is the ERR of a refused reuse of a control ID.
var errReused = &er7.Error{
	Loc: er7.Location{Segment: "MSH", Seq: 1, Field: 10}, Offset: -1, Condition: er7.DuplicateKeyIdentifier,
	Reason: "message control ID already used by this sender for another message",
}

// reused refuses a message whose control ID names another message: AR in
// original mode; in enhanced mode CR, and no application ACK, since the
// message is not accepted for processing.
func (in *Ingester) reused(r *Reply, msg *er7.Message) *Reply {
	r.Code, r.AppACK, r.SendAppACK, r.Writes = er7.AR, nil, false, nil
	if !msg.Enhanced() {
		r.ACK, r.SendACK = in.acker.Ack(msg, er7.AR, errReused), true
		return r
	}
	r.ACK = in.acker.Ack(msg, er7.CR, errReused)
	r.SendACK = wants(msg.MSH().Field(15).Text(), false)
	return r
}

// storedACK returns the ACK record of a message already committed, or nil.
func (in *Ingester) storedACK(key *store.MessageKey) ([]byte, error) {
	if key == nil {
		return nil, nil
	}
	return in.store.StoredACK(*key)
}

// ackKey names a message for resend detection: MSH-3, MSH-4 and MSH-10 as
// sent (escapes kept). Nil when there is no control ID to recognise a
// resend by.
func ackKey(msg *er7.Message) *store.MessageKey {
	h := msg.MSH()
	ctl := h.Field(10).Raw()
	if ctl == "" {
		return nil
	}
	return &store.MessageKey{App: h.Field(3).Raw(), Facility: h.Field(4).Raw(), Control: ctl}
}

// contentDigest is what "the same message" means for resends: SHA-256 of
// its segments, field by field as sent (escapes kept, after character set
// decoding), whatever their terminators (CR, LF or CRLF), without MSH-7.
// A sender that sends a message again may stamp it with the time of the
// new attempt (MSH-7, date/time of message), which does not make it
// another message; any other difference does.
func contentDigest(msg *er7.Message) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range msg.Segments {
		h.Write([]byte(s.Name))
		for f := 1; f <= s.Len(); f++ {
			h.Write([]byte{0x1f})
			if s.Name == "MSH" && f == 7 {
				continue
			}
			h.Write([]byte(s.Field(f).Raw()))
		}
		h.Write([]byte{0x1e})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// The ACK record, version 2: version(1)=2, content digest (32), len(ACK)
// uint32 BE, ACK, AppACK (may be empty). Version 1, written before, has no
// digest: version(1)=1, len(ACK) uint32 BE, ACK, AppACK. Both are read.
func encodeACKRecord(r *Reply, digest [sha256.Size]byte) []byte {
	b := make([]byte, 1+sha256.Size+4, 1+sha256.Size+4+len(r.ACK)+len(r.AppACK))
	b[0] = 2
	copy(b[1:], digest[:])
	binary.BigEndian.PutUint32(b[1+sha256.Size:], uint32(len(r.ACK)))
	return append(append(b, r.ACK...), r.AppACK...)
}

// decodeACKRecord returns the ACKs of a record and its content digest (nil
// for a version 1 record).
func decodeACKRecord(b []byte) (ack, app, digest []byte, err error) {
	var body []byte // len(ACK), ACK, AppACK
	switch {
	case len(b) > sha256.Size && b[0] == 2:
		digest, body = b[1:1+sha256.Size], b[1+sha256.Size:]
	case len(b) > 0 && b[0] == 1:
		body = b[1:]
	default:
		return nil, nil, nil, errors.New("bad ACK record")
	}
	if len(body) < 4 {
		return nil, nil, nil, errors.New("bad ACK record")
	}
	n := binary.BigEndian.Uint32(body)
	if uint64(n) > uint64(len(body)-4) {
		return nil, nil, nil, errors.New("bad ACK record")
	}
	ack, app = body[4:4+n], body[4+n:]
	if len(app) == 0 {
		app = nil
	}
	return ack, app, digest, nil
}

// ackCode reads MSA-1 of an ACK we built.
func ackCode(ack []byte) er7.AckCode {
	if m, err := er7.Parse(ack); err == nil {
		return er7.AckCode(m.First("MSA").Field(1).Text())
	}
	return er7.AR
}

// logID hashes sender and control ID: enough to correlate log lines with a
// sender's records, useless to anyone else.
func logID(msg *er7.Message) string {
	if msg == nil {
		return "unparsed"
	}
	h := msg.MSH()
	sum := sha256.Sum256([]byte(h.Field(3).Raw() + "\x1f" + h.Field(4).Raw() + "\x1f" + h.Field(10).Raw()))
	return hex.EncodeToString(sum[:6])
}

// summary is the static, PHI-free text of an error.
func summary(err error) string {
	var oe *outcome.Error
	var ee *er7.Error
	if !errors.As(err, &oe) && errors.As(err, &ee) {
		return ee.Reason
	}
	return outcome.Summary(err)
}
