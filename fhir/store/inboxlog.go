package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// The inbox log: where Enqueue makes a message durable, outside bbolt.
//
// bbolt has one writer, and the transactions that apply queued messages
// are large: an acknowledgement committed through that writer waits behind
// whichever apply is running. The log is an append-only file of its own,
// with a goroutine of its own that writes and fdatasyncs every record
// appended while the previous sync ran, so concurrent Enqueues share a
// sync and none waits for bbolt. ApplyQueued then records in bbolt, in the
// transaction that applies the messages, that they are done (meta
// "inbox-applied"), together with their ACK records.
//
// The log is a directory next to the database, <db>.inbox, of segment
// files named by the first sequence number written to them (16 hex digits,
// ".log"). Records are appended to the newest segment, which is grown
// ahead with zeros (logAllocChunk) and written again from its start once
// every record in it is applied, so that a sync seldom changes its size: a
// new segment is started past logSegmentMax bytes, and an older one is
// deleted once every record in it is applied.
//
// A record is, integers big-endian:
//
//	seq(8) kind(1) length(4) body(length) crc(4)
//
// where crc is the CRC-32C (Castagnoli) of everything before it, kind 1 has
// the payload as body and kind 2 (a message with an ACK record) has
// payloadLength(4) payload time(8) keyLength(4) key record, time being the
// ACK record's (timeKey) and key its hl7ack key.
//
// Recovery (Open) reads every segment: a record whose seq "inbox-applied"
// covers is done; the others are queued again, with their ACK records. The
// newest segment may end in a record that is short or fails its CRC: its
// sync never returned, so it was never acknowledged, and it is cut off. A
// bad record anywhere else is corruption, and Open fails.
const (
	logSegmentMax  = 64 << 20
	logTruncateMin = 4 << 20   // a reused segment is shrunk to this
	logRecordMax   = 256 << 20 // a longer length field is a torn or bad record
	logAllocChunk  = 1 << 20   // the newest segment grows by this much at least

	logKindPayload = 1
	logKindACK     = 2
	logHeaderSize  = 13
	logDirSuffix   = ".inbox"
	logFileSuffix  = ".log"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logEntry is an accepted message that is not applied yet. Its byte slices
// are the log's own and never modified.
type logEntry struct {
	payload []byte
	ackKey  []byte // its hl7ack key; nil without an ACK record
	at      time.Time
	record  []byte
	inBolt  bool // queued by a version before the log, in the bbolt inbox bucket
}

// encodeRecord appends e's record, numbered seq, to dst.
func encodeRecord(dst []byte, seq uint64, e *logEntry) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	if e.ackKey == nil {
		dst = append(dst, logKindPayload)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.payload)))
		dst = append(dst, e.payload...)
	} else {
		n := 4 + len(e.payload) + 8 + 4 + len(e.ackKey) + len(e.record)
		dst = append(dst, logKindACK)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.payload)))
		dst = append(dst, e.payload...)
		dst = append(dst, timeKey(e.at)...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.ackKey)))
		dst = append(dst, e.ackKey...)
		dst = append(dst, e.record...)
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeRecord reads the record at the start of b: its seq, entry (whose
// slices alias b) and length. ok is false when b does not start with a
// complete record whose CRC matches.
func decodeRecord(b []byte) (seq uint64, e *logEntry, n int, ok bool) {
	if len(b) < logHeaderSize+4 {
		return 0, nil, 0, false
	}
	length := binary.BigEndian.Uint32(b[9:])
	if length > logRecordMax || uint64(len(b)) < uint64(logHeaderSize)+uint64(length)+4 {
		return 0, nil, 0, false
	}
	n = logHeaderSize + int(length) + 4
	if crc32.Checksum(b[:n-4], castagnoli) != binary.BigEndian.Uint32(b[n-4:]) {
		return 0, nil, 0, false
	}
	seq, body := binary.BigEndian.Uint64(b), b[logHeaderSize:n-4]
	switch b[8] {
	case logKindPayload:
		return seq, &logEntry{payload: body}, n, true
	case logKindACK:
		e, ok := decodeACKBody(body)
		return seq, e, n, ok
	}
	return 0, nil, 0, false
}

func decodeACKBody(body []byte) (*logEntry, bool) {
	if len(body) < 4 {
		return nil, false
	}
	pn := binary.BigEndian.Uint32(body)
	if uint64(len(body)) < 4+uint64(pn)+12 {
		return nil, false
	}
	e := &logEntry{payload: body[4 : 4+pn]}
	rest := body[4+pn:]
	e.at = timeOf(rest[:8])
	kn := binary.BigEndian.Uint32(rest[8:])
	if uint64(len(rest)) < 12+uint64(kn) || kn == 0 {
		return nil, false
	}
	e.ackKey, e.record = rest[12:12+kn], rest[12+kn:]
	return e, true
}

// segment is one file of the log.
type segment struct {
	path  string
	last  uint64   // the highest seq written to it (0: none)
	size  int64    // where its records end
	alloc int64    // its length: zeros or applied records past size
	f     *os.File // the newest segment only, open for writing
}

// logBatch is the records appended while the previous batch was written:
// they are written and synced together.
type logBatch struct {
	buf         []byte
	first, last uint64
	done        chan struct{} // closed once written and synced, or failed
	err         error         // set before done is closed
}

func newLogBatch() *logBatch { return &logBatch{done: make(chan struct{})} }

// inboxLog is the log and the accepted messages not applied yet.
type inboxLog struct {
	dir    string
	noSync bool
	log    *slog.Logger
	wake   chan struct{} // one pending wake-up of run
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	segs   []*segment // oldest first; only run touches them once it started
	// segMax and truncMin are logSegmentMax and logTruncateMin (tests
	// make them small).
	segMax, truncMin int64

	mu      sync.Mutex
	closed  bool
	err     error                // a write or sync failed: the log takes no more
	next    uint64               // the next sequence number
	durable uint64               // every seq up to it is synced (or failed)
	applied uint64               // every seq up to it is applied
	pending map[uint64]*logEntry // accepted or being accepted, not applied
	acks    map[string]uint64    // hl7ack key -> seq, for the pending entries with one
	cur     *logBatch            // appended and not written yet
}

// openInboxLog reads the log of the database db at dbPath and what db
// records of the inbox (see the recovery notes above), and starts the
// log's writer.
func openInboxLog(dbPath string, db *bolt.DB, noSync bool, log *slog.Logger) (*inboxLog, error) {
	l := &inboxLog{dir: dbPath + logDirSuffix, noSync: noSync, log: log,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		pending: map[uint64]*logEntry{}, acks: map[string]uint64{}, cur: newLogBatch(),
		segMax: logSegmentMax, truncMin: logTruncateMin}
	done, high, err := l.readBolt(db)
	if err != nil {
		return nil, err
	}
	if err := l.makeDir(); err != nil {
		return nil, err
	}
	names, err := l.segmentNames()
	if err != nil {
		return nil, err
	}
	for i, name := range names {
		last, err := l.readSegment(name, i == len(names)-1, done)
		if err != nil {
			l.closeFiles()
			return nil, err
		}
		high = max(high, last)
	}
	l.next = high + 1
	l.durable = high
	l.applied = high
	for seq := range l.pending {
		l.applied = min(l.applied, seq-1)
	}
	go l.run()
	return l, nil
}

// readBolt queues what a version before the log left in the bbolt inbox
// bucket, and returns what "inbox-applied" says is done and the highest
// sequence number bbolt knows of.
func (l *inboxLog) readBolt(db *bolt.DB) (done func(uint64) bool, high uint64, err error) {
	var w uint64
	var above []uint64
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		w, above, err = decodeApplied(tx.Bucket(bucketMeta).Get(keyInboxApplied))
		if err != nil {
			return err
		}
		high = max(w, tx.Bucket(bucketInbox).Sequence())
		if len(above) > 0 {
			high = max(high, above[len(above)-1])
		}
		if k, _ := tx.Bucket(bucketInboxFailed).Cursor().Last(); len(k) == 8 {
			high = max(high, binary.BigEndian.Uint64(k))
		}
		return tx.Bucket(bucketInbox).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return errBadKey
			}
			seq := binary.BigEndian.Uint64(k)
			l.pending[seq] = &logEntry{payload: bytes.Clone(v), inBolt: true}
			high = max(high, seq)
			return nil
		})
	})
	done = func(seq uint64) bool { _, ok := slices.BinarySearch(above, seq); return seq <= w || ok }
	return done, high, err
}

// makeDir creates the log's directory if needed, durably: a segment
// synced in a directory whose own entry is lost would be lost with it.
func (l *inboxLog) makeDir() error {
	if _, err := os.Stat(l.dir); err == nil {
		return nil
	}
	if err := os.Mkdir(l.dir, 0o700); err != nil {
		return err
	}
	if l.noSync {
		return nil
	}
	return syncDir(filepath.Dir(l.dir))
}

// segmentNames lists the segment files, oldest first.
func (l *inboxLog) segmentNames() ([]string, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), logFileSuffix)
		if _, err := strconv.ParseUint(base, 16, 64); ok && len(base) == 16 && err == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// readSegment queues the records of one segment that are not done and
// returns the highest seq in it. The newest segment (last) is cut after
// its last good record and kept open for appending; an older one with a
// bad record is an error.
func (l *inboxLog) readSegment(name string, last bool, done func(uint64) bool) (uint64, error) {
	path := filepath.Join(l.dir, name)
	first, _ := strconv.ParseUint(strings.TrimSuffix(name, logFileSuffix), 16, 64)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// A new segment is named after a seq above every name, even that of
	// a segment whose records were all cut off.
	seg := &segment{path: path, last: first}
	off, live := 0, 0
	for off < len(data) {
		seq, e, n, ok := decodeRecord(data[off:])
		if !ok {
			break
		}
		off += n
		seg.last = max(seg.last, seq)
		if done(seq) {
			continue
		}
		live++
		l.pending[seq] = e
		if e.ackKey != nil {
			l.acks[string(e.ackKey)] = seq
		}
	}
	seg.size = int64(off)
	switch {
	case off < len(data) && !last:
		return 0, fmt.Errorf("inbox log %s: bad record at offset %d", name, off)
	case !last && live == 0:
		return seg.last, os.Remove(path)
	case !last:
		l.segs = append(l.segs, seg)
		return seg.last, nil
	}
	if seg.f, err = os.OpenFile(path, os.O_RDWR, 0o600); err != nil {
		return 0, err
	}
	l.segs = append(l.segs, seg)
	// What follows the last good record is the space the segment grew
	// ahead, records already applied before it was reused, or a record
	// whose sync never returned, never acknowledged.
	seg.alloc = seg.size
	if off < len(data) {
		if err := seg.f.Truncate(int64(off)); err != nil {
			return 0, err
		}
		if err := l.sync(seg.f); err != nil {
			return 0, err
		}
	}
	return seg.last, nil
}

func (l *inboxLog) sync(f *os.File) error {
	if l.noSync {
		return nil
	}
	return fdatasync(f)
}

// errLogFailed is Enqueue's error once the log failed to write or sync:
// what it wrote since can no longer be trusted to be on disk.
var errLogFailed = outcome.New(outcome.Internal, "inbox log failed earlier: accepting no more messages until restart")

// append numbers e and adds its record to the batch being gathered, unless
// it is a resend: an ACK record for its key is pending or stored in bbolt
// (read with s.view), which is checked and reserved under the log's lock so
// that of two identical messages only one is accepted. The caller waits
// for the batch.
func (l *inboxLog) append(s *Store, e *logEntry) (uint64, *logBatch, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return 0, nil, ErrClosed
	case l.err != nil:
		return 0, nil, errors.Join(errLogFailed, l.err)
	}
	if e.ackKey != nil {
		stored, err := l.ackRecord(s, e.ackKey)
		if err != nil {
			return 0, nil, err
		}
		if stored != nil {
			return 0, nil, &ResentError{Record: stored}
		}
	}
	seq := l.next
	l.next++
	b := l.cur
	b.buf = encodeRecord(b.buf, seq, e)
	if b.first == 0 {
		b.first = seq
	}
	b.last = seq
	l.pending[seq] = e
	if e.ackKey != nil {
		l.acks[string(e.ackKey)] = seq
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return seq, b, nil
}

// run writes each gathered batch as soon as the previous one is synced:
// with nothing being synced, a record is written at once.
func (l *inboxLog) run() {
	defer close(l.done)
	for {
		stopping := false
		select {
		case <-l.wake:
		case <-l.stop:
			stopping = true
		}
		l.mu.Lock()
		b, applied := l.cur, l.applied
		l.cur = newLogBatch()
		l.closed = l.closed || stopping
		l.mu.Unlock()
		err := l.tidy(applied)
		if len(b.buf) > 0 {
			l.flush(b, err)
		}
		if stopping {
			return
		}
	}
}

// flush writes and syncs b, after err (a failure tidying the log) if any.
func (l *inboxLog) flush(b *logBatch, err error) {
	if err == nil {
		err = l.write(b)
	}
	l.mu.Lock()
	l.durable = b.last
	if err != nil && l.err == nil {
		l.err = err
	}
	if err != nil {
		for seq := b.first; seq <= b.last; seq++ {
			l.forget(seq)
		}
	}
	l.mu.Unlock()
	if err != nil {
		l.log.Error("inbox log write failed: accepting no more messages", "error", err)
	}
	b.err = err
	close(b.done)
}

func (l *inboxLog) write(b *logBatch) error {
	seg := l.active()
	if seg == nil || seg.size >= l.segMax {
		var err error
		if seg, err = l.rotate(b.first); err != nil {
			return err
		}
	}
	end := seg.size + int64(len(b.buf))
	if end > seg.alloc {
		// Zeros ahead of the records: the syncs of the records that go
		// there later change no file size or block map, so they need no
		// journal commit, which would wait for the database's.
		grow := max(logAllocChunk, end-seg.alloc)
		if _, err := seg.f.WriteAt(make([]byte, grow), seg.alloc); err != nil {
			return err
		}
		seg.alloc += grow
	}
	if _, err := seg.f.WriteAt(b.buf, seg.size); err != nil {
		return err
	}
	seg.size = end
	seg.last = b.last
	return l.sync(seg.f)
}

func (l *inboxLog) active() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// rotate starts a new segment named after first. The one it replaces is
// cut at its last record first, so that what follows (zeros, records
// written before it was reused) is not read as a bad record once it is no
// longer the newest. The new file's directory entry is synced before any
// record goes in, or a crash could lose the file with records that were
// acknowledged.
func (l *inboxLog) rotate(first uint64) (*segment, error) {
	if old := l.active(); old != nil {
		if err := old.f.Truncate(old.size); err != nil {
			return nil, err
		}
		if err := l.sync(old.f); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(l.dir, fmt.Sprintf("%016x%s", first, logFileSuffix))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if !l.noSync {
		if err := syncDir(l.dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	if old := l.active(); old != nil {
		old.f.Close()
		old.f = nil
	}
	seg := &segment{path: path, f: f}
	l.segs = append(l.segs, seg)
	return seg, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tidy deletes the segments whose records are all applied, except the
// newest, which it reuses from its start once its records are all
// applied (shrunk to truncMin first if it grew past it). Reuse overwrites
// without a sync of its own: a record written over applied ones ends the
// good records where it ends, since what follows fails its CRC or is an
// applied record; recovery cuts it off.
func (l *inboxLog) tidy(applied uint64) error {
	for len(l.segs) > 1 && l.segs[0].last <= applied {
		if err := os.Remove(l.segs[0].path); err != nil {
			l.log.Warn("inbox log: cannot delete an applied segment", "error", err)
			break
		}
		l.segs = l.segs[1:]
	}
	seg := l.active()
	if seg == nil || len(l.segs) > 1 || seg.last > applied || seg.size == 0 {
		return nil
	}
	seg.size = 0
	if seg.alloc > l.truncMin {
		if err := seg.f.Truncate(l.truncMin); err != nil {
			return err
		}
		seg.alloc = l.truncMin
	}
	return nil
}

// forget drops seq from the pending entries; l.mu is held.
func (l *inboxLog) forget(seq uint64) {
	e := l.pending[seq]
	if e == nil {
		return
	}
	delete(l.pending, seq)
	if e.ackKey != nil && l.acks[string(e.ackKey)] == seq {
		delete(l.acks, string(e.ackKey))
	}
}

// entries returns the pending entries of seqs (ascending; nil for one not
// pending)
// and the highest seq up to which every seq is applied or among seqs: what
// "inbox-applied" may say once seqs are applied. Sequence numbers given
// out later are higher, so it stays true until they commit.
func (l *inboxLog) entries(seqs []uint64) ([]*logEntry, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*logEntry, len(seqs))
	for i, seq := range seqs {
		out[i] = l.pending[seq]
	}
	low := l.next - 1
	for seq := range l.pending {
		if _, in := slices.BinarySearch(seqs, seq); seq <= low && !in {
			low = seq - 1
		}
	}
	return out, low
}

// markApplied drops seqs, applied and committed, from the pending entries;
// applied is "inbox-applied" as committed with them.
func (l *inboxLog) markApplied(seqs []uint64, applied uint64) {
	l.mu.Lock()
	for _, seq := range seqs {
		l.forget(seq)
	}
	l.applied = max(l.applied, applied)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}: // for tidy
	default:
	}
}

// storedACK returns a copy of the ACK record kept for key, or nil.
func (l *inboxLog) storedACK(s *Store, key []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ackRecord(s, key)
}

// ackRecord returns a copy of the ACK record of key: a pending entry's,
// else bbolt's (an entry leaves the pending ones only once its record is
// committed there), else nil. l.mu is held, so that a record is never
// missed between the two.
func (l *inboxLog) ackRecord(s *Store, key []byte) ([]byte, error) {
	if seq, ok := l.acks[string(key)]; ok {
		return bytes.Clone(l.pending[seq].record), nil
	}
	var rec []byte
	err := s.view(func(r *Snapshot) error {
		rec = bytes.Clone(r.tx.Bucket(bucketHL7Ack).Get(key))
		return nil
	})
	return rec, err
}

// count counts the pending entries that are synced.
func (l *inboxLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for seq := range l.pending {
		if seq <= l.durable {
			n++
		}
	}
	return n
}

// queued lists the pending entries that are synced, in order.
func (l *inboxLog) queued() []Queued {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Queued, 0, len(l.pending))
	for seq, e := range l.pending {
		if seq <= l.durable {
			out = append(out, Queued{Seq: seq, Payload: bytes.Clone(e.payload)})
		}
	}
	slices.SortFunc(out, func(a, b Queued) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// close writes what was appended, stops the writer and closes the files.
func (l *inboxLog) close() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.closeFiles()
	})
}

func (l *inboxLog) closeFiles() {
	for _, seg := range l.segs {
		if seg.f != nil {
			seg.f.Close()
			seg.f = nil
		}
	}
}

// The meta value "inbox-applied": seq(8), every seq up to which is
// applied, then in ascending order the seqs above it that are applied too
// (applied before an older one, which concurrent Enqueues can cause),
// seq(8) each.
func decodeApplied(v []byte) (uint64, []uint64, error) {
	if v == nil {
		return 0, nil, nil
	}
	if len(v) < 8 || len(v)%8 != 0 {
		return 0, nil, fmt.Errorf("meta %s: %w", keyInboxApplied, errBadKey)
	}
	w := binary.BigEndian.Uint64(v)
	var above []uint64
	for v = v[8:]; len(v) > 0; v = v[8:] {
		above = append(above, binary.BigEndian.Uint64(v))
	}
	return w, above, nil
}

// putApplied adds seqs to "inbox-applied", raised to low at least, and
// returns every seq up to which is now applied.
func putApplied(tx *bolt.Tx, low uint64, seqs []uint64) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	w, above, err := decodeApplied(meta.Get(keyInboxApplied))
	if err != nil {
		return 0, err
	}
	w = max(w, low)
	above = append(above, seqs...)
	slices.Sort(above)
	above = slices.Compact(above)
	i := 0
	for ; i < len(above) && above[i] <= w+1; i++ {
		w = max(w, above[i])
	}
	above = above[i:]
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8*(1+len(above))), w)
	for _, seq := range above {
		v = binary.BigEndian.AppendUint64(v, seq)
	}
	return w, meta.Put(keyInboxApplied, v)
}
