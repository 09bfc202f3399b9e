package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

// closedStore writes a few hundred Patients to a new database and closes
// it, returning its path and the bytes its last commit used.
func closedStore(t *testing.T) (path string, used int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		p := &ppb.Patient{Id: &dtpb.Id{Value: fmt.Sprintf("p%d", i)}}
		if _, _, err := s.Update(context.Background(), p, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := newestMeta(f, fi.Size())
	if !ok {
		t.Fatal("no valid meta page")
	}
	return path, int64(m.pgid) * int64(m.pageSize)
}

// TestOpenRefusesTruncatedFile: a database file cut short (a restore that
// stopped half-way) is refused with a reason naming it, by Open and by the
// offline audit verification, instead of bbolt mapping it past its end and
// the process dying of SIGBUS; the file is left as it is.
func TestOpenRefusesTruncatedFile(t *testing.T) {
	t.Parallel()
	path, used := closedStore(t)
	if err := os.Truncate(path, used/2); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{Codec: testCodec})
	if err == nil || !strings.Contains(err.Error(), "is truncated") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a truncated file: %v", err)
	}
	if _, err := VerifyAudit(path); err == nil || !strings.Contains(err.Error(), "is truncated") {
		t.Errorf("VerifyAudit of a truncated file: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != used/2 {
		t.Errorf("the file was changed: %v %v", fi.Size(), err)
	}
}

// TestOpenTornMeta: when the newer meta page is damaged (a crash while
// bbolt wrote it), the older one decides how long the file must be, as it
// decides for bbolt: an intact file opens, a truncated one is refused.
func TestOpenTornMeta(t *testing.T) {
	t.Parallel()
	path, used := closedStore(t)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	m0, _ := readMeta(f, 0)
	m1, _ := readMeta(f, int64(m0.pageSize))
	newer := int64(0)
	if m1.txid > m0.txid {
		newer = int64(m0.pageSize)
	}
	// its checksum no longer matches
	if _, err := f.WriteAt([]byte{0xff, 0xff}, newer+metaOffset+metaSumBytes); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatalf("Open with a torn meta page: %v", err)
	}
	if _, err := s.Read("Patient", "p0"); err != nil {
		t.Errorf("read after a torn meta page: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, used/2); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{Codec: testCodec}); err == nil || !strings.Contains(err.Error(), "is truncated") {
		t.Errorf("Open of a truncated file with a torn meta page: %v", err)
	}
}

// TestOpenRefusesEmptyFile: an empty database file lost its content; bbolt
// would make a new database of it and the server would serve that. Open
// refuses it and leaves it empty.
func TestOpenRefusesEmptyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{Codec: testCodec}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("Open of an empty file: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was written: %v %v", fi.Size(), err)
	}
}

// TestOpenInUse: a database another process holds (a running server) is
// named as such, not as bbolt's bare "timeout".
func TestOpenInUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// flock locks belong to the open file, so a second Open in this
	// process waits for the lock as another process's would.
	_, err = Open(path, Options{Codec: testCodec})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open: %v, want ErrInUse naming the file", err)
	}
	if _, err := VerifyAudit(path); !errors.Is(err, ErrInUse) {
		t.Errorf("VerifyAudit of a file in use: %v, want ErrInUse", err)
	}
}

// TestOpenExisting: with Options.Existing a missing database is an error
// and none is created (relais backup of a mistyped data directory).
func TestOpenExisting(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	if _, err := Open(path, Options{Codec: testCodec, Existing: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(Existing) of no file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a database was created: %v", err)
	}
}

// TestStatsFileSize: Stats.FileSize (relais_store_size_bytes, "size of
// the database file") is the file's size on disk, what an operator's disk
// alert compares with df; it was the pages the database used, which the
// file outgrows by bbolt's allocation ahead (16 MiB on a new file).
func TestStatsFileSize(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Update(context.Background(), &ppb.Patient{Id: &dtpb.Id{Value: "p1"}}, 0); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().FileSize; got != fi.Size() {
		t.Errorf("Stats().FileSize = %d, the file is %d bytes", got, fi.Size())
	}
}
