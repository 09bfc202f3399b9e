package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	var ids []string
	seen := map[string]bool{}
	for range 50 {
		id := NewID()
		if !ValidID(id) || len(id) != 32 || seen[id] {
			t.Fatalf("NewID() = %q (seen: %v)", id, seen[id])
		}
		seen[id] = true
		ids = append(ids, id)
		time.Sleep(2 * time.Millisecond)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids made 2 ms apart do not sort in creation order: %v", ids)
	}
}

// TestPreparingCount checks that every write, failed or not, stops counting
// as being prepared, so the writer never waits for writes that will not come.
func TestPreparingCount(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, decode(t, `{"resourceType":"Patient"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"p1"}`), 7); err == nil {
		t.Fatal("Update with a wrong If-Match succeeded")
	}
	if _, err := s.Delete(ctx, "Patient", "nobody", 0); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = s.Create(cancelled, decode(t, `{"resourceType":"Patient"}`))
	if n := s.preparing.Load(); n != 0 {
		t.Errorf("%d writes still counted as being prepared", n)
	}
}

// TestLargeVersionsCompressed: a large version is stored compressed and
// read back byte for byte, in reads, vreads and histories; a small one and
// one written uncompressed (before storage version 5) read as stored.
func TestLargeVersionsCompressed(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	var issues []string
	for i := range 200 {
		issues = append(issues, fmt.Sprintf(`{"severity":"warning","code":"not-supported","diagnostics":"PV1-%d not mapped"}`, i))
	}
	big := decode(t, `{"resourceType":"OperationOutcome","id":"oo","issue":[`+strings.Join(issues, ",")+`]}`)
	rec, _, err := s.Update(ctx, big, 0)
	if err != nil {
		t.Fatal(err)
	}
	small, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"p"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	// A Condition as a discharge stores it (about 900 bytes, labelled):
	// without the dictionary, compressing it saved less than a fifth.
	cond, _, err := s.Update(ctx, decode(t, `{"resourceType":"Condition","id":"c","meta":{"security":[`+
		`{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"CLIN","display":"Clinical: diagnoses, procedures, results, allergies"},`+
		`{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"}]},`+
		`"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},`+
		`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis","display":"Encounter Diagnosis"}]}],`+
		`"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"I50.1","display":"Insuffisance ventriculaire gauche"}],"text":"Insuffisance cardiaque gauche"},`+
		`"subject":{"reference":"Patient/3f9c2a7e41d05b6a8c1e2f4d7a9b0c13"},"encounter":{"reference":"Encounter/b71e04c9d2a35f68e1c0a9b4d7f2e813"},`+
		`"asserter":{"reference":"Practitioner/5a0d8e3c7b1f49a2e6d4c8b0f1a3e579"},"recordedDate":"2026-11-30T16:20:00+01:00"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(typ, id string) []byte {
		var v []byte
		_ = s.db.View(func(tx *bolt.Tx) error {
			p, _ := decodePointer(tx.Bucket(bucketCurrent).Get(currentKey(typ, id)))
			v = bytes.Clone(tx.Bucket(bucketHistory).Get(historyKey(typ, p.created, id, 1)))
			return nil
		})
		return v
	}
	if v := raw("OperationOutcome", "oo"); v[0]&flagCompressed == 0 || len(v) > len(rec.JSON)/4 {
		t.Errorf("large version stored in %d bytes (flags %d) for %d of JSON", len(v), v[0], len(rec.JSON))
	}
	// The smallest version the store writes still carries its labels,
	// which the dictionary holds.
	if v := raw("Patient", "p"); v[0]&flagCompressed == 0 || len(v) > len(small.JSON)/3 {
		t.Errorf("a %d-byte Patient stored in %d bytes (flags %d)", len(small.JSON), len(v), v[0])
	}
	if got, err := s.Read("Patient", "p"); err != nil || !bytes.Equal(got.JSON, small.JSON) {
		t.Errorf("Patient read back: %v", err)
	}
	if v := raw("Condition", "c"); v[0]&flagCompressed == 0 || float64(len(v)) > 0.45*float64(len(cond.JSON)) {
		t.Errorf("a %d-byte Condition stored in %d bytes (flags %d), want under 45%%", len(cond.JSON), len(v), v[0])
	}
	// Small versions are S2 blocks, large ones Zstandard frames.
	if v := raw("Condition", "c"); v[0]&flagS2 == 0 {
		t.Errorf("a %d-byte version is not an S2 block (flags %d)", len(cond.JSON), v[0])
	}
	if v := raw("OperationOutcome", "oo"); v[0]&flagS2 != 0 {
		t.Errorf("a %d-byte version is an S2 block", len(rec.JSON))
	}
	if got, err := s.Read("Condition", "c"); err != nil || !bytes.Equal(got.JSON, cond.JSON) {
		t.Errorf("Condition read back: %v", err)
	}
	got, err := s.Read("OperationOutcome", "oo")
	if err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got.JSON), err, len(rec.JSON))
	}
	h, err := s.InstanceHistory("OperationOutcome", "oo", HistoryOptions{})
	if err != nil || len(h.Records) != 1 || !bytes.Equal(h.Records[0].JSON, rec.JSON) {
		t.Errorf("history of the compressed version: %v", err)
	}
	// A version written by storage version 4: in versions, uncompressed.
	err = s.db.Update(func(tx *bolt.Tx) error {
		p, _ := decodePointer(tx.Bucket(bucketCurrent).Get(currentKey("OperationOutcome", "oo")))
		if err := tx.Bucket(bucketHistory).Delete(historyKey("OperationOutcome", p.created, "oo", 1)); err != nil {
			return err
		}
		return tx.Bucket(bucketVersions).Put(versionKey("OperationOutcome", "oo", 1), encodeVersion(false, 'C', rec.LastUpdated.UnixMicro(), rec.JSON, nil))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.VRead("OperationOutcome", "oo", 1); err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Errorf("uncompressed version read back: %v", err)
	}
}

// TestBase64DataDecodedBeforeCompressing: a Binary holding a real HL7 v2
// message (the corpus A03, as every ingest stores its source) is stored
// as the message's bytes compressed, about half what its base64 text
// compressed takes, and reads back byte for byte; base64 the codec would
// not write (unpadded, line breaks, a short value) is compressed as it is.
func TestBase64DataDecodedBeforeCompressing(t *testing.T) {
	t.Parallel()
	msg, err := os.ReadFile("../../../shared/corpus/hl7v2/ms-ADT-A03-01.hl7")
	if err != nil {
		t.Skip(err)
	}
	s := openTest(t)
	ctx := context.Background()
	data := base64.StdEncoding.EncodeToString(msg)
	rec, _, err := s.Update(ctx, decode(t, `{"resourceType":"Binary","id":"m","contentType":"x-application/hl7-v2+er7","data":"`+data+`"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		p, _ := decodePointer(tx.Bucket(bucketCurrent).Get(currentKey("Binary", "m")))
		v = bytes.Clone(tx.Bucket(bucketHistory).Get(historyKey("Binary", p.created, "m", 1)))
		return nil
	})
	asText := len(s.zip.enc.EncodeAll(rec.JSON, nil))
	if v[0]&flagDecoded == 0 || len(v)-versionHeader > asText*2/3 {
		t.Errorf("stored in %d bytes (flags %d); its base64 compressed takes %d", len(v)-versionHeader, v[0], asText)
	}
	got, err := s.Read("Binary", "m")
	if err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got.JSON), err, len(rec.JSON))
	}
	for name, js := range map[string]string{
		"unpadded":    `{"resourceType":"Binary","data":"` + strings.TrimRight(base64.RawStdEncoding.EncodeToString(msg[:2000]), "=") + `"}`,
		"line breaks": `{"resourceType":"Binary","data":"` + strings.Repeat("QUJD\\n", 400) + `"}`,
		"short":       `{"resourceType":"Binary","data":"` + base64.StdEncoding.EncodeToString(msg[:300]) + `","note":"` + strings.Repeat("z", 2000) + `"}`,
		"second":      `{"resourceType":"DocumentReference","content":[{"attachment":{"data":"QUJD"}},{"attachment":{"data":"` + data + `"}}]}`,
	} {
		if d, ok := decodeData([]byte(js)); ok {
			back, err := encodeData(d)
			if err != nil || string(back) != js {
				t.Errorf("%s: decoded, and read back as %.80q (%v)", name, back, err)
			}
			if name != "second" {
				t.Errorf("%s: decoded", name)
			}
		} else if name == "second" {
			t.Errorf("%s: the large value after a small one was not decoded", name)
		}
	}
}

// FuzzBase64Data: whatever JSON decodeData takes apart, encodeData puts
// back byte for byte.
func FuzzBase64Data(f *testing.F) {
	f.Add([]byte(`{"data":"` + strings.Repeat("QUJD", 300) + `"}`))
	f.Add([]byte(`{"data":"` + strings.Repeat("QUJD", 299) + `QQ=="}`))
	f.Add([]byte(`{"data":"` + strings.Repeat("QUJD", 299) + `QR=="}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		d, ok := decodeData(js)
		if !ok {
			return
		}
		back, err := encodeData(d)
		if err != nil || !bytes.Equal(back, js) {
			t.Fatalf("%q read back as %q (%v)", js, back, err)
		}
	})
}

// idRule is R4's id datatype as the specification writes it: the oracle
// ValidID's loop is checked against.
var idRule = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "A-1.b", strings.Repeat("x", 64), "", strings.Repeat("x", 65), "a b", "a/b", "é", "a_b", "a\x00", "0"} {
		if got, want := ValidID(id), idRule.MatchString(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// FuzzValidID: ValidID accepts exactly what R4's id rule does.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"a", "A-1.b", strings.Repeat("x", 64), "", "a b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidID(id), idRule.MatchString(id); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", id, got, want)
		}
	})
}

// TestVersionDictFrozen: the dictionary is part of the storage format; a
// version compressed with it reads back only with the same bytes.
func TestVersionDictFrozen(t *testing.T) {
	const want = "4231ff1c7670b4f57d70cb10d5563bce78664ce73812b82c00b327c149fde5a4"
	if got := fmt.Sprintf("%x", sha256.Sum256([]byte(versionDict))); got != want {
		t.Fatalf("versionDict hashes to %s: the dictionary of stored versions changed; give a new one a new id and keep this one for reading", got)
	}
}

// TestFramesWithoutDictionaryRead: a version compressed before the
// dictionary (storage versions 5 to 9: a frame that names none) reads
// back as it was written.
func TestFramesWithoutDictionaryRead(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	rec, _, err := s.Update(context.Background(), decode(t, `{"resourceType":"Patient","id":"p","name":[{"family":"`+strings.Repeat("Dupont-", 300)+`"}]}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	old, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		p, _ := decodePointer(tx.Bucket(bucketCurrent).Get(currentKey("Patient", "p")))
		v := encodeVersion(false, 'U', rec.LastUpdated.UnixMicro(), nil, nil)
		v[0] |= flagCompressed
		return tx.Bucket(bucketHistory).Put(historyKey("Patient", p.created, "p", 1), old.EncodeAll(rec.JSON, v))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read("Patient", "p"); err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Fatalf("a frame without dictionary read back: %v", err)
	}
}

// TestDamagedS2BlockRefused: an S2 block whose stated length is past what
// a version may decompress to is an error, not an allocation.
func TestDamagedS2BlockRefused(t *testing.T) {
	t.Parallel()
	z, err := newCodecs()
	if err != nil {
		t.Fatal(err)
	}
	block := binary.AppendUvarint(nil, 1<<40)
	block = append(block, 0, 'x')
	if _, err := z.decompress(block, flagCompressed|flagS2); err == nil {
		t.Fatal("a block stating 1 TiB decompressed")
	}
	good, flags := z.compress(nil, []byte(`{"resourceType":"Patient","id":"p","meta":{"security":[{"code":"ADM","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"}]}}`))
	if flags&flagS2 == 0 {
		t.Fatalf("a small version compressed with flags %d", flags)
	}
	if _, err := z.decompress(good[:len(good)-3], flags); err == nil {
		t.Error("a truncated block decompressed")
	}
}

// FuzzCompressRoundTrip: whatever a version holds, what compress makes of
// it (an S2 block, a Zstandard frame, either after decoding a base64
// value, or nothing) decompresses to the same bytes.
func FuzzCompressRoundTrip(f *testing.F) {
	z, err := newCodecs()
	if err != nil {
		f.Fatal(err)
	}
	label := `"meta":{"security":[{"code":"CLIN","display":"Clinical: diagnoses, procedures, results, allergies","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"}],"versionId":"1"}`
	f.Add([]byte(`{"id":"c",` + label + `,"resourceType":"Condition","subject":{"reference":"Patient/p"}}`))
	f.Add([]byte(`{"contentType":"x-application/hl7-v2+er7","data":"` + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("PID|1||PATID1234^^^MR||DUPONT^JEANNE\r", 40))) + `","id":"b","resourceType":"Binary"}`))
	f.Add([]byte(`{"id":"oo","issue":[` + strings.Repeat(`{"code":"not-supported","details":{"text":"field not mapped"},"expression":["PID-9"],"severity":"warning"},`, 24) + `{}],"resourceType":"OperationOutcome"}`))
	f.Add([]byte(strings.Repeat("x", 2500)))
	f.Fuzz(func(t *testing.T, js []byte) {
		// Both codecs and the base64 path are reached below 4 KiB; larger
		// inputs only make each run, and minimising, slow.
		if len(js) > 4<<10 {
			return
		}
		out, flags := z.compress(nil, js)
		if flags == 0 {
			if len(out) != 0 {
				t.Fatalf("not compressed, yet %d bytes written", len(out))
			}
			return
		}
		// (a decoded value is an S2 block when its bytes are few enough)
		if flags&flagCompressed == 0 || flags&flagDecoded == 0 && (flags&flagS2 != 0) != (len(js) < s2Max) {
			t.Fatalf("flags %d for %d bytes", flags, len(js))
		}
		back, err := z.decompress(out, flags)
		if err != nil || !bytes.Equal(back, js) {
			t.Fatalf("flags %d: %d bytes back (%v) for %d", flags, len(back), err, len(js))
		}
	})
}

// TestClockGoesBack: when the clock goes back (an NTP step, a virtual
// machine restored), each new version of a resource is still stamped
// after the one it replaces, through every write path (update, delete,
// a transaction's PUT and DELETE, TransactionWith's PUT): a version
// stamped an hour before its predecessor was answered 304 Not Modified to
// the client holding the predecessor (If-Modified-Since) and listed out
// of order in its history. A new resource takes the clock as it is.
func TestClockGoesBack(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clock := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	back := func() { mu.Lock(); clock = clock.Add(-time.Hour); mu.Unlock() }
	s, err := Open(filepath.Join(t.TempDir(), "relais.db"), Options{Codec: testCodec, NoSync: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	patient := func(id, family string) proto.Message {
		return decode(t, `{"resourceType":"Patient","id":"`+id+`","name":[{"family":"`+family+`"}]}`)
	}
	last := map[string]time.Time{}
	check := func(what, id string, rec *Record) {
		t.Helper()
		if rec == nil {
			t.Fatalf("%s: no record", what)
		}
		if prev, ok := last[id]; ok && !rec.LastUpdated.After(prev) {
			t.Errorf("%s: version %d stamped %v, not after version %d's %v", what, rec.Version, rec.LastUpdated, rec.Version-1, prev)
		}
		got, err := s.Read("Patient", id)
		if err == nil && !got.Deleted && !got.LastUpdated.Equal(rec.LastUpdated) {
			t.Errorf("%s: read gives %v, the write %v", what, got.LastUpdated, rec.LastUpdated)
		}
		last[id] = rec.LastUpdated
	}
	for _, id := range []string{"a", "b", "c"} {
		rec, _, err := s.Update(ctx, patient(id, "One"), 0)
		if err != nil {
			t.Fatal(err)
		}
		check("create "+id, id, rec)
	}
	back()
	rec, _, err := s.Update(ctx, patient("a", "Two"), 0)
	if err != nil {
		t.Fatal(err)
	}
	check("update", "a", rec)
	back()
	if rec, err = s.Delete(ctx, "Patient", "a", 0); err != nil {
		t.Fatal(err)
	}
	check("delete", "a", rec)
	back()
	res, err := s.Transaction(ctx, []TxEntry{
		{Method: "PUT", Type: "Patient", ID: "b", Resource: patient("b", "Two")},
		{Method: "DELETE", Type: "Patient", ID: "c"},
	})
	if err != nil {
		t.Fatal(err)
	}
	check("transaction PUT", "b", res[0].Record)
	check("transaction DELETE", "c", res[1].Record)
	back()
	res, err = s.TransactionWith(ctx, []TxEntry{{Method: "PUT", Type: "Patient", ID: "b", Resource: patient("b", "Three")}}, TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("TransactionWith PUT", "b", res[0].Record)
	rec, _, err = s.Update(ctx, patient("d", "New"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.LastUpdated.Equal(now()) {
		t.Errorf("a new resource is stamped %v, the clock says %v", rec.LastUpdated, now())
	}
}
