package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/fhir/store"
)

func TestCapacityOf(t *testing.T) {
	t.Parallel()
	pos := func(n uint32) *dtpb.Extension {
		return &dtpb.Extension{Url: &dtpb.Uri{Value: ExtOpenTaskCapacity},
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_PositiveInt{PositiveInt: &dtpb.PositiveInt{Value: n}}}}
	}
	str := &dtpb.Extension{Url: &dtpb.Uri{Value: ExtOpenTaskCapacity},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: "3"}}}}
	other := &dtpb.Extension{Url: &dtpb.Uri{Value: "https://example.org/other"},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_UnsignedInt{UnsignedInt: &dtpb.UnsignedInt{Value: 1}}}}
	tests := []struct {
		name string
		exts []*dtpb.Extension
		want int64
	}{
		{"none", nil, noCapacity},
		{"unsignedInt", []*dtpb.Extension{capacityExt(4)}, 4},
		{"zero takes none", []*dtpb.Extension{capacityExt(0)}, 0},
		{"positiveInt", []*dtpb.Extension{pos(2)}, 2},
		{"the smallest of several", []*dtpb.Extension{capacityExt(5), pos(3)}, 3},
		{"another value type is no constraint", []*dtpb.Extension{str}, noCapacity},
		{"another extension", []*dtpb.Extension{other}, noCapacity},
		{"capped", []*dtpb.Extension{capacityExt(1<<32 - 1)}, 1<<31 - 1},
	}
	for _, tt := range tests {
		if got := capacityOf(tt.exts); got != tt.want {
			t.Errorf("%s: capacity %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestCandidatesCapacity adds to the fixture's two Rhône nurses (no
// capacity) three that state one, gives them open Tasks in a real store,
// and expects the full ones skipped with the reason and the others ranked
// by load, then by reference; a Task closed frees its owner.
func TestCandidatesCapacity(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	importFile(t, d, "testdata/directory.json")
	var nd strings.Builder
	for _, n := range []struct {
		id  string
		cap int
	}{{"nurse-cap0", 0}, {"nurse-cap1", 1}, {"nurse-cap2", 2}} {
		fmt.Fprintf(&nd, `{"resourceType":"PractitionerRole","id":%q,"active":true,"organization":{"reference":"Organization/ssiad-rhone"},`+
			`"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"60"}]}],`+
			`"extension":[{"url":%q,"valueUnsignedInt":%d}]}`+"\n", n.id, ExtOpenTaskCapacity, n.cap)
	}
	if s, err := Import(context.Background(), st, testCodec, strings.NewReader(nd.String()), nil); err != nil || s.Created != 3 {
		t.Fatalf("import: %v, %v", s, err)
	}
	task := func(id, status, owner string) {
		t.Helper()
		js := fmt.Sprintf(`{"resourceType":"Task","id":%q,"status":%q,"intent":"order","owner":{"reference":"PractitionerRole/%s"}}`, id, status, owner)
		m, err := testCodec.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Update(context.Background(), m, 0); err != nil {
			t.Fatal(err)
		}
	}
	task("t1", "requested", "nurse-cap1")
	task("t2", "accepted", "nurse-cap2")
	task("t3", "completed", "nurse-cap2") // closed: not counted
	task("t4", "in-progress", "nurse-fr-rhone")
	place := communes(t).PlaceOf(patient(t, `{"postalCode":"69100","city":"Villeurbanne"}`))
	check := func(want []string, skipped map[string]string) {
		t.Helper()
		got, ex, err := d.Candidates(context.Background(), Query{Role: Nurse, Place: place})
		if err != nil {
			t.Fatal(err)
		}
		var refs []string
		for _, c := range got {
			refs = append(refs, strings.TrimPrefix(c.Ref, "PractitionerRole/"))
		}
		if !slices.Equal(refs, want) {
			t.Errorf("candidates %v, want %v (explanation %+v)", refs, want, ex)
		}
		for ref, why := range skipped {
			i := slices.IndexFunc(ex.Skipped, func(r Reason) bool { return r.Ref == "PractitionerRole/"+ref })
			if i < 0 || ex.Skipped[i].Why != why {
				t.Errorf("%s not skipped for %q: %+v", ref, why, ex.Skipped)
				continue
			}
			// coded too: the open Tasks and the capacity, as numbers
			var n, c string
			fmt.Sscanf(why, "at capacity: %s open Tasks of %s", &n, &c)
			if r := ex.Skipped[i]; r.Code != ReasonAtCapacity || !slices.Equal(r.Detail, []string{n, c}) {
				t.Errorf("%s skipped as %s %v, want %s [%s %s]", ref, r.Code, r.Detail, ReasonAtCapacity, n, c)
			}
		}
	}
	// nurse-fr-rhone's open Task counts for nothing: she states no capacity.
	check([]string{"nurse-en-rhone", "nurse-fr-rhone", "nurse-cap2"}, map[string]string{
		"nurse-cap0": "at capacity: 0 open Tasks of 0",
		"nurse-cap1": "at capacity: 1 open Tasks of 1",
	})
	task("t1", "completed", "nurse-cap1")
	task("t5", "received", "nurse-cap2")
	check([]string{"nurse-cap1", "nurse-en-rhone", "nurse-fr-rhone"}, map[string]string{
		"nurse-cap0": "at capacity: 0 open Tasks of 0",
		"nurse-cap2": "at capacity: 2 open Tasks of 2",
	})
	// Loads read in a snapshot the caller holds see what it sees.
	x, err := d.Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	task("t2", "failed", "nurse-cap2")
	_ = st.View(func(r *store.Snapshot) error {
		got, ex, err := x.Candidates(Query{Role: Nurse, Place: place}, r)
		if err != nil || len(got) != 4 || got[3].Ref != "PractitionerRole/nurse-cap2" {
			t.Errorf("with one of two open Tasks: %+v, %+v, %v", got, ex, err)
		}
		if i := slices.IndexFunc(ex.Kept, func(k Reason) bool { return k.Ref == "PractitionerRole/nurse-cap2" }); i < 0 || !strings.HasSuffix(ex.Kept[i].Why, "; 1 open Tasks of 2") ||
			ex.Kept[i].Code != ReasonCoversDepartement || !slices.Equal(ex.Kept[i].Detail, []string{"69", "1", "2"}) {
			t.Errorf("kept reasons: %+v", ex.Kept)
		}
		return nil
	})
}
