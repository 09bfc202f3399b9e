package store_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// TestStartup measures how long a store takes to open and answer its first
// read, and how much memory the process then holds, on a database of
// RELAIS_STARTUP_MB megabytes (skipped when unset; `make test` leaves it
// out). The database is built once through the store's own writes and kept
// in RELAIS_STARTUP_DIR when that is set (built again only if missing),
// else in a temporary directory:
//
//	RELAIS_STARTUP_MB=200 RELAIS_STARTUP_DIR=/var/tmp/relais-startup \
//	  go test -run '^TestStartup$' -v -timeout 2h ./fhir/store
//
// Each open runs in a fresh process (this test binary again, running
// TestStartupChild only), so the memory measured is what opening and one
// read cost on top of an idle process. The opens are timed with the file in
// the page cache (a restart) and, when the file's pages can be dropped from
// the cache, without (a start after a reboot); RELAIS_STARTUP_OPENS sets
// how many of each (default 5).
//
// The figures a change is judged by are open-to-first-read (the median and
// the range) and VmRSS and VmHWM of the process after that read.
func TestStartup(t *testing.T) {
	path := startupDB(t)
	opens, _ := strconv.Atoi(os.Getenv("RELAIS_STARTUP_OPENS"))
	if opens <= 0 {
		opens = 5
	}
	first := openChild(t, path) // an older file may be converted here
	t.Logf("first open: %s", first)
	for _, cold := range []bool{false, true} {
		if !cold {
			readFile(t, path)
		}
		var runs []startupRun
		for range opens {
			if cold && !dropCache(t, path) {
				break
			}
			runs = append(runs, openChild(t, path))
		}
		if len(runs) > 0 {
			t.Logf("%s", summarize(runs, cold))
		}
	}
}

// BenchmarkCreate5KB16Grown is BenchmarkCreate5KB16 on TestStartup's
// database (skipped unless RELAIS_STARTUP_MB and RELAIS_STARTUP_DIR are
// set, so that the database is built once): what a commit costs in a file
// that has grown and has free pages, whose list bbolt writes at each
// commit. Every create adds a version to that file.
//
//	RELAIS_STARTUP_MB=200 RELAIS_STARTUP_DIR=/var/tmp/relais-startup \
//	  go test -run '^$' -bench 'Create5KB16Grown' -benchtime 3000x ./fhir/store
func BenchmarkCreate5KB16Grown(b *testing.B) {
	if os.Getenv("RELAIS_STARTUP_DIR") == "" {
		b.Skip("set RELAIS_STARTUP_MB and RELAIS_STARTUP_DIR to run the create benchmark on a grown database")
	}
	s, err := store.Open(startupDB(b), store.Options{Codec: benchCodec})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchCreates(b, s)
	free, _ := store.FreelistStats(s)
	b.ReportMetric(float64(free), "free-pages")
}

// startupDB returns the path of the database of RELAIS_STARTUP_MB megabytes
// in RELAIS_STARTUP_DIR (else a temporary directory), building it if it is
// missing; without RELAIS_STARTUP_MB it skips.
func startupDB(tb testing.TB) string {
	tb.Helper()
	mb, _ := strconv.Atoi(os.Getenv("RELAIS_STARTUP_MB"))
	if mb <= 0 {
		tb.Skip("set RELAIS_STARTUP_MB (e.g. 200 or 2048) to measure on a database of that size")
	}
	dir := os.Getenv("RELAIS_STARTUP_DIR")
	if dir == "" {
		dir = tb.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("startup-%dmb.db", mb))
	if _, err := os.Stat(path); os.IsNotExist(err) {
		buildStartupDB(tb, path, int64(mb)<<20)
	} else if err != nil {
		tb.Fatal(err)
	}
	return path
}

// startupRun is what one child process measured.
type startupRun struct {
	OpenMS, ReadMS, ReadyMS float64 // store.Open; the first Read; both
	// Memory of the process in KiB (/proc/self/status), before Open and
	// after the first read: VmRSS, the file-backed part of it (RssFile:
	// the database pages the process touched, and its own text), and
	// VmHWM, the peak.
	BaseRSS, RSS, RSSFile, HWM int64
	FileMB                     int64
	FreePages, FreelistBytes   int // bbolt's free pages and their freelist's encoded size
}

func (r startupRun) String() string {
	return fmt.Sprintf("%d MB file, %d free pages (freelist %d B): open %.1f ms, first read %.2f ms, ready %.1f ms; VmRSS %d MiB (file-backed %d MiB, %d MiB before Open), VmHWM %d MiB",
		r.FileMB, r.FreePages, r.FreelistBytes, r.OpenMS, r.ReadMS, r.ReadyMS, r.RSS>>10, r.RSSFile>>10, r.BaseRSS>>10, r.HWM>>10)
}

func summarize(runs []startupRun, cold bool) string {
	cache := "file in page cache"
	if cold {
		cache = "file dropped from page cache"
	}
	ready := make([]float64, len(runs))
	var rss, hwm []int64
	for i, r := range runs {
		ready[i] = r.ReadyMS
		rss, hwm = append(rss, r.RSS>>10), append(hwm, r.HWM>>10)
	}
	slices.Sort(ready)
	slices.Sort(rss)
	slices.Sort(hwm)
	return fmt.Sprintf("%s, %d opens: ready median %.1f ms (%.1f–%.1f), VmRSS %d–%d MiB, VmHWM %d–%d MiB; last: %s",
		cache, len(runs), ready[len(ready)/2], ready[0], ready[len(ready)-1], rss[0], rss[len(rss)-1], hwm[0], hwm[len(hwm)-1], runs[len(runs)-1])
}

// openChild runs TestStartupChild on path in a new process.
func openChild(t *testing.T, path string) startupRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartupChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RELAIS_STARTUP_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "startup-run: "); ok {
			var r startupRun
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("child printed no result:\n%s", out)
	return startupRun{}
}

// readFile reads the whole file, which leaves it in the page cache.
func readFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		t.Fatal(err)
	}
}

// dropCache writes the file's pages out and asks the kernel to drop them
// from the page cache, so that the next open reads from the disk.
func dropCache(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Logf("cannot drop the file from the page cache (%v): cold opens not measured", err)
		return false
	}
	return true
}

// probeType and probeID name the resource the child reads: written in the
// first batch, so it lies on a page written long before the end of the file.
const probeType, probeID = "Patient", "startup-probe"

// TestStartupChild is TestStartup's measured process: it opens the store at
// RELAIS_STARTUP_CHILD, reads one resource and prints what it measured.
func TestStartupChild(t *testing.T) {
	path := os.Getenv("RELAIS_STARTUP_CHILD")
	if path == "" {
		t.Skip("run by TestStartup in a process of its own")
	}
	c := benchCodec // built at package init, before the clock starts
	base := procStatus(t)["VmRSS"]
	t0 := time.Now()
	s, err := store.Open(path, store.Options{Codec: c})
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	rec, err := s.Read(probeType, probeID)
	if err != nil {
		t.Fatal(err)
	}
	t2 := time.Now()
	if len(rec.JSON) == 0 {
		t.Fatal("empty probe")
	}
	st := procStatus(t)
	free, freelist := store.FreelistStats(s)
	r := startupRun{
		OpenMS: ms(t1.Sub(t0)), ReadMS: ms(t2.Sub(t1)), ReadyMS: ms(t2.Sub(t0)),
		BaseRSS: base, RSS: st["VmRSS"], RSSFile: st["RssFile"], HWM: st["VmHWM"],
		FileMB: s.Stats().FileSize >> 20, FreePages: free, FreelistBytes: freelist,
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	fmt.Printf("startup-run: %s\n", b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procStatus reads the kB fields of /proc/self/status.
func procStatus(t *testing.T) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if f := strings.Fields(v); ok && len(f) == 2 && f[1] == "kB" {
			out[k], _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return out
}

// startupTemplates are the corpus examples of a few KB (no Bundles), each
// with its patient references pointed at one of patients synthetic
// patients: template i, patient p is templates[i][p].
func startupTemplates(t testing.TB, patients int) [][]proto.Message {
	t.Helper()
	files, err := filepath.Glob("../../../shared/corpus/fhir/r4-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus examples (%v)", err)
	}
	ref := regexp.MustCompile(`"reference"\s*:\s*"Patient/[^"]*"`)
	var out [][]proto.Message
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(f, "-Bundle-") || len(b) < 1<<10 || len(b) > 8<<10 {
			continue
		}
		var variants []proto.Message
		for p := range patients {
			js := ref.ReplaceAll(b, fmt.Appendf(nil, `"reference":"Patient/p%d"`, p))
			m, err := benchCodec.Decode(js)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			variants = append(variants, m)
		}
		out = append(out, variants)
	}
	return out
}

// startupResource is one resource of the built database.
type startupResource struct {
	tmpl, patient int // startupTemplates' indexes; tmpl -1 is the probe
	id            string
}

// buildStartupDB fills a new store at path until the file holds size bytes:
// corpus resources of 1–8 KB under fresh ids (as the server assigns them),
// three writes in ten creating one and the others writing a new version of
// a resource picked at random, so that resources have a few versions each,
// pages fill as they do under random inserts and updates leave free pages
// behind. Writes go in transactions of 250 from three goroutines, each
// updating only its own resources so that they never conflict, without
// fsync; the file is renamed into place once complete.
func buildStartupDB(t testing.TB, path string, size int64) {
	t.Helper()
	const workers, patients = 3, 32
	b := &startupBuilder{templates: startupTemplates(t, patients), size: size}
	js, err := os.ReadFile("../../../shared/corpus/fhir/r4-Patient-example.json")
	if err != nil {
		t.Fatal(err)
	}
	b.probe = decode(t, string(js))
	tmp := path + ".building"
	os.Remove(tmp)
	if b.s, err = store.Open(tmp, store.Options{Codec: benchCodec, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	errs := make(chan error, workers)
	for w := range workers {
		go func() { errs <- b.fill(w, patients) }()
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for done := 0; done < workers; {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
			done++
		case <-tick.C:
			t.Logf("building: %d MB, %d versions, %s", b.s.Stats().FileSize>>20, b.versions.Load(), time.Since(t0).Round(time.Second))
		}
	}
	st := b.s.Stats()
	if err := b.s.Check(); err != nil {
		t.Fatal(err)
	}
	free, _ := store.FreelistStats(b.s)
	if err := b.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s: %d MB, %d resources, %d versions in %d commits, %d free pages, in %s",
		path, st.FileSize>>20, b.resources.Load(), b.versions.Load(), st.Commits, free, time.Since(t0).Round(time.Second))
}

// startupBuilder is buildStartupDB's state shared by its goroutines.
type startupBuilder struct {
	s                   *store.Store
	templates           [][]proto.Message
	probe               proto.Message
	size                int64
	resources, versions atomic.Int64
}

// fill writes transactions until the file reaches b.size. Worker 0 writes
// the probe first.
func (b *startupBuilder) fill(worker, patients int) error {
	const perTx = 250
	rng := rand.New(rand.NewPCG(uint64(worker), 2))
	var mine []startupResource
	for n := 0; b.s.Stats().FileSize < b.size; n++ {
		seen := map[string]bool{}
		var entries []store.TxEntry
		for len(entries) < perTx {
			var r startupResource
			switch {
			case worker == 0 && n == 0 && len(entries) == 0:
				r = startupResource{tmpl: -1, id: probeID}
			case len(mine) < perTx || rng.IntN(10) < 3:
				r = startupResource{tmpl: rng.IntN(len(b.templates)), patient: rng.IntN(patients), id: store.NewID()}
				mine = append(mine, r)
			default:
				r = mine[rng.IntN(len(mine))]
			}
			if seen[r.id] {
				continue
			}
			seen[r.id] = true
			m := b.probe
			if r.tmpl >= 0 {
				m = b.templates[r.tmpl][r.patient]
			}
			m = proto.Clone(m)
			resource.SetID(m, r.id)
			entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: r.id, Resource: m})
		}
		if _, err := b.s.TransactionWith(context.Background(), entries, store.TxOptions{}); err != nil {
			return err
		}
		b.versions.Add(int64(len(entries)))
	}
	b.resources.Add(int64(len(mine)))
	return nil
}
