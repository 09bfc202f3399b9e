package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The database file is checked before bbolt maps it. bbolt trusts the
// newest valid meta page: a file cut short behind it (a copy or restore
// that stopped, a disk that filled up meanwhile) is mapped past its end and
// the process dies of SIGBUS on the first page read there, with a Go stack
// trace instead of a reason; an empty file is taken for a new one and
// started afresh, so that a server would serve and write an empty database
// where the hospital's was. Both are refused here, naming the file.

// ErrInUse means another process holds the database file's lock: a
// running server, or an offline command (relais backup, client add…).
// bbolt itself only reports a timeout.
var ErrInUse = errors.New("the database is in use by another process (a running relais holds its lock)")

// openBolt opens the bbolt file at path after checkFile. existing refuses
// a file that does not exist instead of creating it.
func openBolt(path string, existing bool, o *bolt.Options) (*bolt.DB, error) {
	if err := checkFile(path, existing); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, o)
	var pe *fs.PathError
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrInUse)
	case errors.Is(err, berrors.ErrInvalid):
		return nil, fmt.Errorf("open %s: not a database, or both of its meta pages are damaged (%w): restore it from a backup", path, err)
	case errors.As(err, &pe) && pe.Path == path:
		return nil, err // names the file already
	}
	return nil, fmt.Errorf("open %s: %w", path, err)
}

// checkFile refuses a database file that is empty or shorter than its
// newest valid meta page says (see above). A file it cannot read a valid
// meta page from is left to bbolt, which refuses it as invalid. existing
// refuses a file that does not exist; without it, bbolt creates one.
func checkFile(path string, existing bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !existing {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return fmt.Errorf("%s is empty: a database file always holds its meta pages, so its content was lost (a copy or restore that failed?): restore it from a backup, or remove it to start an empty database", path)
	}
	m, ok := newestMeta(f, size)
	if !ok {
		return nil
	}
	if need := int64(m.pgid) * int64(m.pageSize); size < need {
		return fmt.Errorf("%s is truncated: %d bytes, where its last commit wrote %d (a copy or restore that stopped, or a full disk?): restore it from a backup", path, size, need)
	}
	return nil
}

// metaPage is what checkFile reads of a bbolt meta page: the page size,
// the high-water mark (pgid: the pages in use, the file holds at least
// pgid pages) and the transaction id that wrote it.
type metaPage struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// bbolt's meta page (go.etcd.io/bbolt internal/common/meta.go and
// page.go), in host byte order: a 16-byte page header, then magic,
// version, page size and flags (uint32), the root bucket (pgid, sequence),
// the freelist pgid, the high-water pgid, the txid and the FNV-64a
// checksum of the fields before it (uint64).
const (
	metaOffset   = 16
	metaMagic    = 0xED0CDAED
	metaVersion  = 2
	metaSumBytes = 56 // the meta's bytes the checksum covers
	metaBytes    = metaSumBytes + 8
)

// readMeta decodes the meta page at off; ok is false when there is none
// there or it fails its checksum (a meta page torn by a crash: bbolt then
// uses the other one).
func readMeta(r io.ReaderAt, off int64) (metaPage, bool) {
	var b [metaOffset + metaBytes]byte
	if n, _ := r.ReadAt(b[:], off); n < len(b) {
		return metaPage{}, false
	}
	m := b[metaOffset:]
	u32 := func(i int) uint32 { return binary.NativeEndian.Uint32(m[i:]) }
	u64 := func(i int) uint64 { return binary.NativeEndian.Uint64(m[i:]) }
	h := fnv.New64a()
	h.Write(m[:metaSumBytes])
	if u32(0) != metaMagic || u32(4) != metaVersion || u64(metaSumBytes) != h.Sum64() {
		return metaPage{}, false
	}
	return metaPage{pageSize: u32(8), pgid: u64(40), txid: u64(48)}, true
}

// newestMeta finds the meta page bbolt would use: of the two (pages 0 and
// 1), the valid one with the higher txid. The second page's offset is the
// page size the first states, or, when the first is damaged, each size
// bbolt tries (1 KiB to 16 MiB).
func newestMeta(r io.ReaderAt, size int64) (metaPage, bool) {
	m0, ok0 := readMeta(r, 0)
	var m1 metaPage
	ok1 := false
	if ok0 {
		m1, ok1 = readMeta(r, int64(m0.pageSize))
	} else {
		for i := 0; i <= 14 && !ok1; i++ {
			if off := int64(1024) << i; off < size {
				m1, ok1 = readMeta(r, off)
				ok1 = ok1 && int64(m1.pageSize) == off
			}
		}
	}
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		return m1, true
	case ok0:
		return m0, true
	}
	return metaPage{}, false
}
