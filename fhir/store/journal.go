package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// The audit journal: where AppendAudit makes an audit entry durable,
// outside bbolt.
//
// Every consent-filtered read records its decision and its disclosure
// before it answers.
// Committed through bbolt, each group of records cost what any commit
// costs: two fdatasyncs (the pages, then the meta page), the B+tree pages
// rewritten, and a wait behind whatever write was running, such as a large
// batch of ingested messages. The journal is an append-only file with a
// goroutine of its own that writes every record appended while the
// previous sync ran and fdatasyncs once, so that concurrent reads share
// one sync and none waits for bbolt. Records reach the audit log (and
// become leaves of its tree, numbered in the order they arrive there)
// later, in large groups (journalMoveMax records, or journalMoveAge after
// the first), through the writer; the file is emptied once bbolt holds
// them.
//
// Two files, <db>.decisions.0 and <db>.decisions.1, take turns: appends go
// to one while the records of the other are moved, so that a file is only
// emptied once every record in it is in bbolt.
//
// A record is length(4) crc(4) body, integers big-endian, crc the CRC-32C
// (Castagnoli) of body; body is a zero byte, then the AuditEvent id and
// the audit entry (keys.go: encodeAuditValue), each as a uvarint length
// then its bytes. Before storage version 8 the body was a decision
// record: the consentlog key, the stored record, the patient and the
// actor, each as a uvarint length then its bytes, then one byte, 1 for
// break-the-glass; its first byte, the key's length, is never zero.
// Recovery reads those as the migration reads the consentlog
// (legacyDecision).
//
// Recovery (Open) puts every record of both files into bbolt and empties
// them. The puts are idempotent: a record moved before a crash that left
// its file unemptied is known by its id and not appended again. A file
// may end in a short record, one that fails its CRC, or zeros: its sync
// never returned, so it was never acknowledged, and reading the file stops
// there.
//
// Decisions moves what is pending first, so that it sees every record
// appended before it was called.
const (
	journalMoveMax = 4096
	journalMoveAge = 250 * time.Millisecond
	journalSuffix  = ".decisions."
	journalMaxBody = 16 << 20
	// journalMaxLinger is how long a group waits for more appends.
	journalMaxLinger = time.Millisecond
	// journalMaxSpare bounds the buffer kept for the next group.
	journalMaxSpare = 1 << 20
)

// journalRecord is one audit entry as the journal holds it.
type journalRecord = auditRecord

func (r *auditRecord) encode(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...)
	dst = append(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(len(r.id)))
	dst = append(dst, r.id...)
	dst = binary.AppendUvarint(dst, uint64(len(r.value)))
	dst = append(dst, r.value...)
	body := dst[start+8:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

// decodeJournal reads the records of a journal file's contents, up to the
// first short or torn one. A record whose CRC holds but whose body does
// not parse is corruption.
func decodeJournal(b []byte) ([]journalRecord, error) {
	var out []journalRecord
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		// No record is empty: zeros are a tail a crash left unwritten.
		if n == 0 || n > journalMaxBody || n > len(b)-8 {
			break
		}
		body := b[8 : 8+n]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
			break
		}
		r, err := decodeJournalBody(body)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		b = b[8+n:]
	}
	return out, nil
}

// decodeJournalBody reads one record's body: an audit entry, or a
// decision record of storage version 7.
func decodeJournalBody(body []byte) (journalRecord, error) {
	legacy := body[0] != 0
	if !legacy {
		body = body[1:]
	}
	nf := 2
	if legacy {
		nf = 4
	}
	fields := make([][]byte, nf)
	for i := range fields {
		l, k := binary.Uvarint(body)
		if k <= 0 || l > uint64(len(body)-k) {
			return journalRecord{}, errors.New("audit journal: malformed record")
		}
		fields[i], body = body[k:k+int(l)], body[k+int(l):]
	}
	if !legacy {
		if len(body) != 0 || len(fields[0]) == 0 {
			return journalRecord{}, errors.New("audit journal: malformed record")
		}
		return journalRecord{id: string(fields[0]), value: bytes.Clone(fields[1])}, nil
	}
	if len(body) != 1 || len(fields[0]) < 8 {
		return journalRecord{}, errors.New("audit journal: malformed record")
	}
	r, err := legacyDecision(fields[1])
	if err != nil {
		return journalRecord{}, fmt.Errorf("audit journal: decision record: %w", err)
	}
	return r, nil
}

// journalGroup is the records appended while the previous sync ran; done
// is closed once they are durable (or failed: err).
type journalGroup struct {
	done chan struct{}
	err  error
}

type journal struct {
	s      *Store
	log    *slog.Logger
	noSync bool
	files  [2]*os.File

	mu      sync.Mutex
	buf     []byte          // the encoded records of group, to write
	spare   []byte          // the buffer of the group written before, for the next
	recs    []journalRecord // the same records
	group   *journalGroup
	flushes []chan error // Decisions and Close waiting for every record to be in bbolt
	closed  bool
	wake    chan struct{} // cap 1: something to do

	// Owned by the run goroutine.
	cur       int             // the file appended to
	unmoved   []journalRecord // in files[cur], not in bbolt
	since     time.Time       // when the first of unmoved was synced
	failed    []journalRecord // in files[1-cur], being moved or whose move failed: moved before any swap
	retry     time.Time       // when to move failed again
	moving    bool
	moved     chan error // the running move's result
	lastGroup int        // the size of the last sync (linger)
	stopped   chan struct{}
	stopOnce  sync.Once
}

// openJournal opens the journal files of the database at dbPath, moving
// what they hold into db.
func openJournal(dbPath string, db *bolt.DB, noSync bool, log *slog.Logger) (*journal, error) {
	j := &journal{log: log, noSync: noSync, wake: make(chan struct{}, 1), moved: make(chan error, 1), stopped: make(chan struct{})}
	var recs []journalRecord
	for i := range j.files {
		f, err := os.OpenFile(dbPath+journalSuffix+fmt.Sprint(i), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			j.closeFiles()
			return nil, err
		}
		j.files[i] = f
		data, err := io.ReadAll(f)
		if err != nil {
			j.closeFiles()
			return nil, err
		}
		rs, err := decodeJournal(data)
		if err != nil {
			j.closeFiles()
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		recs = append(recs, rs...)
	}
	if len(recs) > 0 {
		if err := db.Update(func(tx *bolt.Tx) error { return putAudit(tx, recs) }); err != nil {
			j.closeFiles()
			return nil, fmt.Errorf("audit journal: %w", err)
		}
	}
	for _, f := range j.files {
		if err := f.Truncate(0); err != nil {
			j.closeFiles()
			return nil, err
		}
	}
	if err := syncDir(filepath.Dir(dbPath)); err != nil {
		j.closeFiles()
		return nil, err
	}
	return j, nil
}

// start runs the journal for s.
func (j *journal) start(s *Store) {
	j.s = s
	go j.run()
}

// append makes recs durable and returns once they are (or failed).
func (j *journal) append(recs []journalRecord) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if j.buf == nil {
		// the previous group's buffer: a group is about as large as the
		// one before it, so appends rarely grow it
		j.buf, j.spare = j.spare, nil
	}
	for i := range recs {
		j.buf = recs[i].encode(j.buf)
	}
	j.recs = append(j.recs, recs...)
	g := j.group
	if g == nil {
		g = &journalGroup{done: make(chan struct{})}
		j.group = g
	}
	j.mu.Unlock()
	j.poke()
	<-g.done
	return g.err
}

func (j *journal) poke() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// flush returns once every record appended before the call is in bbolt.
func (j *journal) flush() error {
	ch := make(chan error, 1)
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil // close moved everything
	}
	j.flushes = append(j.flushes, ch)
	j.mu.Unlock()
	j.poke()
	return <-ch
}

// close moves what is left into bbolt and closes the files; appends fail
// from then on. It must run before the writer stops.
func (j *journal) close() {
	j.stopOnce.Do(func() {
		_ = j.flush()
		j.mu.Lock()
		j.closed = true
		j.mu.Unlock()
		j.poke()
		<-j.stopped
		j.closeFiles()
	})
}

func (j *journal) closeFiles() {
	for _, f := range j.files {
		if f != nil {
			f.Close()
		}
	}
}

// run writes and syncs each group, and moves synced records into bbolt.
func (j *journal) run() {
	defer close(j.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-j.wake:
			j.linger()
		case <-timer.C:
		case err := <-j.moved:
			j.moving = false
			if err == nil {
				j.failed = nil
			} else {
				// The records stay in their file, which is not
				// appended to until they are moved (move).
				j.log.Error("audit journal: move into the database failed; retrying", "err", err)
				j.retry = time.Now().Add(journalMoveAge)
				j.replyFlushes(-1, err)
			}
		}
		j.mu.Lock()
		buf, recs, g, closed := j.buf, j.recs, j.group, j.closed
		j.buf, j.recs, j.group = nil, nil, nil
		flushes := j.flushes
		j.mu.Unlock()
		if g != nil {
			g.err = j.write(buf)
			j.lastGroup = len(recs)
			if g.err == nil {
				if len(j.unmoved) == 0 {
					j.since = time.Now()
				}
				j.unmoved = append(j.unmoved, recs...)
			}
			close(g.done)
			j.mu.Lock()
			if j.spare == nil && cap(buf) <= journalMaxSpare {
				j.spare = buf[:0]
			}
			j.mu.Unlock()
		}
		if closed && !j.moving {
			return
		}
		now := time.Now()
		switch {
		case j.moving:
		case len(j.failed) > 0:
			if now.After(j.retry) {
				j.move()
			} else {
				timer.Reset(j.retry.Sub(now))
			}
		case len(flushes) > 0 && len(j.unmoved) == 0:
			j.replyFlushes(len(flushes), nil)
		case len(flushes) > 0 || len(j.unmoved) >= journalMoveMax || len(j.unmoved) > 0 && now.Sub(j.since) >= journalMoveAge:
			j.move()
		case len(j.unmoved) > 0:
			timer.Reset(journalMoveAge - now.Sub(j.since))
		}
	}
}

// replyFlushes answers the first n flushes waiting (-1: all): those whose
// records run has written. A flush that came later may have records in
// the next group.
func (j *journal) replyFlushes(n int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n < 0 || n > len(j.flushes) {
		n = len(j.flushes)
	}
	for _, ch := range j.flushes[:n] {
		ch <- err
	}
	j.flushes = j.flushes[n:]
}

// linger waits journalMaxLinger when the last sync was shared, so that
// the appends on their way share the next one: under load a sync's CPU
// (on a virtual disk, more than the rest of a read's recording) is then
// spread over about twice as many records. Lingering only as long as the
// last sync took (≈ 0.35 ms under load here) made groups of about 13
// reads and capped 64 concurrent readers below what the CPU could serve;
// 1 ms (groups of about 25) served 10–15% more, 2 ms fewer. A lone append
// is not delayed.
func (j *journal) linger() {
	if j.lastGroup >= 2 {
		time.Sleep(journalMaxLinger)
	}
}

// write appends buf to the current file and syncs it.
func (j *journal) write(buf []byte) error {
	f := j.files[j.cur]
	if _, err := f.Write(buf); err != nil {
		return outcome.Wrap(outcome.Internal, "audit journal write failed", err)
	}
	if j.noSync {
		return nil
	}
	if err := fdatasync(f); err != nil {
		return outcome.Wrap(outcome.Internal, "audit journal sync failed", err)
	}
	return nil
}

// move starts moving into bbolt the records of the file whose move failed,
// else those of the current file, after which appends go to the other
// (empty) file. The file is emptied once the commit returns.
func (j *journal) move() {
	recs, file := j.failed, j.files[1-j.cur]
	if len(recs) == 0 {
		if len(j.unmoved) == 0 {
			return
		}
		recs, file = j.unmoved, j.files[j.cur]
		j.unmoved, j.cur = nil, 1-j.cur
	}
	j.failed, j.moving = recs, true
	go func() {
		err := j.s.commit(context.Background(), nil, func(tx *bolt.Tx) error { return putAudit(tx, recs) }, true)
		if err == nil {
			// Unsynced: after a crash the records come back and are put
			// again, which changes nothing.
			err = file.Truncate(0)
		}
		j.moved <- err
	}()
}
