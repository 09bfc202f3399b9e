package store

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/search"
)

// walked collects, by walking Groups, what the IndexValues methods return.
func walked(b []byte, param string, k search.Kind) (texts []string, dates [][2]int64) {
	gs := (&storedValues{b: b}).Groups()
	return collect(&gs, gs.Next, param, k)
}

// walkedOf is walked with NextOf, asked for param and one more parameter.
func walkedOf(b []byte, param string, k search.Kind) (texts []string, dates [][2]int64) {
	gs := (&storedValues{b: b}).Groups()
	return collect(&gs, func() bool { return gs.NextOf("status", param) }, param, k)
}

// collect reads the values of param in the groups next moves gs through.
func collect(gs *Groups, next func() bool, param string, k search.Kind) (texts []string, dates [][2]int64) {
	for next() {
		if !gs.Is(param, k) {
			continue
		}
		for t, ok := gs.Text(); ok; t, ok = gs.Text() {
			texts = append(texts, string(t))
		}
		for s, e, ok := gs.Date(); ok; s, e, ok = gs.Date() {
			dates = append(dates, [2]int64{s, e})
		}
	}
	return texts, dates
}

func groupsFixture() []search.Value {
	return []search.Value{
		{Param: "patient", Kind: search.Reference, Text: "Patient/p1"},
		{Param: "patient", Kind: search.Reference, Text: "Patient/p2"},
		{Param: "subject", Kind: search.Reference, Text: "Patient/p1"},
		{Param: "subject", Kind: search.Reference, Text: "Group/g1"},
		{Param: "code", Kind: search.Token, Text: "http://loinc.org|1234-5"},
		{Param: "code", Kind: search.Token, Text: "1234-5"},
		{Param: "date", Kind: search.Date, Start: 10, End: 20},
		{Param: "date", Kind: search.Date, Start: -5, End: 30},
		{Param: "_security", Kind: search.Token, Text: "http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY"},
		{Param: "_security", Kind: search.Token, Text: ""},
		{Param: "status", Kind: search.Token, Text: "final"},
		// a second group of a parameter already seen
		{Param: "_security", Kind: search.Token, Text: "https://relais.health/category|CLIN"},
		{Param: "_lastUpdated", Kind: search.Date, Start: 1, End: 2},
	}
}

// TestGroupsAgreeWithIndexValues requires a walk over Groups to find what
// Tokens, Refs and Dates return, for well-formed values and for every
// truncation and single-byte corruption of them.
func TestGroupsAgreeWithIndexValues(t *testing.T) {
	t.Parallel()
	good := encodeValues(groupsFixture())
	inputs := [][]byte{good, nil}
	for i := range good {
		inputs = append(inputs, good[:i])
		for _, x := range []byte{0, 1, 0x7f, 0x80, 0xff} {
			bad := slices.Clone(good)
			bad[i] = x
			inputs = append(inputs, bad)
		}
	}
	lookups := []struct {
		param string
		kind  search.Kind
	}{
		{"patient", search.Reference}, {"subject", search.Reference}, {"code", search.Token},
		{"_security", search.Token}, {"status", search.Token}, {"date", search.Date},
		{"_lastUpdated", search.Date}, {"missing", search.Token},
	}
	for n, b := range inputs {
		for _, l := range lookups {
			v := &storedValues{b: b}
			var want []string
			var wantDates [][2]int64
			switch l.kind {
			case search.Token:
				want = v.Tokens(l.param)
			case search.Reference:
				want = v.Refs(l.param)
			case search.Date:
				wantDates = v.Dates(l.param)
			}
			got, gotDates := walked(b, l.param, l.kind)
			if !slices.Equal(got, want) || !slices.Equal(gotDates, wantDates) {
				t.Errorf("input %d, %s: walk found %q %v, IndexValues %q %v", n, l.param, got, gotDates, want, wantDates)
			}
			got, gotDates = walkedOf(b, l.param, l.kind)
			if !slices.Equal(got, want) || !slices.Equal(gotDates, wantDates) {
				t.Errorf("input %d, %s: NextOf found %q %v, IndexValues %q %v", n, l.param, got, gotDates, want, wantDates)
			}
		}
	}
	if texts, _ := walked(good, "_security", search.Token); len(texts) != 3 {
		t.Errorf("walk found %q, want the three _security tokens of both groups", texts)
	}
}

// TestGroupsRaw requires Raw to be a group's values as stored: equal
// lists of values give equal bytes, and a changed value changes them.
func TestGroupsRaw(t *testing.T) {
	t.Parallel()
	raw := func(vs []search.Value, param string) []byte {
		v := &storedValues{b: encodeValues(vs)}
		gs := v.Groups()
		for gs.Next() {
			if gs.Is(param, search.Token) {
				return slices.Clone(gs.Raw())
			}
		}
		return nil
	}
	a := groupsFixture()
	b := groupsFixture()
	b[6].Start++ // another date: other groups unchanged
	if x, y := raw(a, "_security"), raw(b, "_security"); x == nil || !slices.Equal(x, y) {
		t.Errorf("equal _security values give %q and %q", x, y)
	}
	b[8].Text = "http://terminology.hl7.org/CodeSystem/v3-ActCode|HIV"
	if x, y := raw(a, "_security"), raw(b, "_security"); slices.Equal(x, y) {
		t.Errorf("different _security values give the same raw bytes %q", x)
	}
}

// TestGroupsDoNotAllocate holds the point of Groups: reading the patient
// and _security of a resource as a consent filter does (the patient's
// references as texts, the labels as stored, for its verdict key) costs
// no allocation.
func TestGroupsDoNotAllocate(t *testing.T) {
	v := &storedValues{b: encodeValues(groupsFixture())}
	var n int
	allocs := testing.AllocsPerRun(100, func() {
		gs := v.Groups()
		for gs.Next() {
			switch {
			case gs.Is("patient", search.Reference):
				for t, ok := gs.Text(); ok; t, ok = gs.Text() {
					n += len(t)
				}
			case gs.Is("_security", search.Token):
				n += len(gs.Raw())
			}
		}
	})
	if allocs != 0 || n == 0 {
		t.Errorf("walk: %v allocations, %d bytes read", allocs, n)
	}
}

// TestNextLeading: in stored order (orderValues) a walk for leading
// parameters finds what a walk over every group finds, and stops at the
// first group of another parameter.
func TestNextLeading(t *testing.T) {
	t.Parallel()
	vs := groupsFixture()
	vs = slices.DeleteFunc(vs, func(v search.Value) bool { return v.Text == "" && v.Kind != search.Date })
	vs = slices.DeleteFunc(vs, func(v search.Value) bool { return v.Text == "https://relais.health/category|CLIN" })
	slices.SortStableFunc(vs, func(a, b search.Value) int { return strings.Compare(a.Param, b.Param) })
	orderValues(vs)
	b := encodeValues(vs)
	for _, pair := range [][2]string{{"patient", "_security"}, {"subject", "_security"}, {"", "_security"}} {
		var got, want []string
		gs := (&storedValues{b: b}).Groups()
		for gs.NextLeading(pair[0], pair[1]) {
			for t, ok := gs.Text(); ok; t, ok = gs.Text() {
				got = append(got, string(gs.b[gs.param0:gs.param1])+"="+string(t))
			}
		}
		if gs.next != len(b) {
			t.Errorf("%v: walk ends at %d of %d", pair, gs.next, len(b))
		}
		all := (&storedValues{b: b}).Groups()
		for all.Next() {
			p := string(all.b[all.param0:all.param1])
			if p != pair[0] && p != pair[1] {
				continue
			}
			for t, ok := all.Text(); ok; t, ok = all.Text() {
				want = append(want, p+"="+string(t))
			}
		}
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("%v: NextLeading found %q, a full walk %q", pair, got, want)
		}
	}
	// "code" is not leading: its group ends the walk before "status".
	gs := (&storedValues{b: b}).Groups()
	for gs.NextLeading("status", "_security") {
		if p := string(gs.b[gs.param0:gs.param1]); p == "status" {
			t.Errorf("NextLeading went past the leading groups to %s", p)
		}
	}
}

// TestLeading: Leading is exactly the encoding of the leading parameters'
// values, whichever of them are present.
func TestLeading(t *testing.T) {
	t.Parallel()
	base := groupsFixture()
	base = slices.DeleteFunc(base, func(v search.Value) bool { return v.Text == "" && v.Kind != search.Date })
	base = slices.DeleteFunc(base, func(v search.Value) bool { return v.Text == "https://relais.health/category|CLIN" })
	leads, all := map[string][]byte{}, map[string]Groups{}
	for _, drop := range []string{"", "_security", "patient", "subject", "code"} {
		vs := slices.DeleteFunc(slices.Clone(base), func(v search.Value) bool { return v.Param == drop })
		slices.SortStableFunc(vs, func(a, b search.Value) int { return strings.Compare(a.Param, b.Param) })
		orderValues(vs)
		lead := slices.DeleteFunc(slices.Clone(vs), func(v search.Value) bool { return leadRank(v.Param) == len(leading) })
		gs := (&storedValues{b: encodeValues(vs)}).Groups()
		if got, want := gs.Leading(), encodeValues(lead); !bytes.Equal(got, want) {
			t.Errorf("without %q: Leading %q, want %q", drop, got, want)
		}
		leads[drop] = gs.Leading()
		all[drop] = gs
	}
	for a, ga := range all {
		for b, lb := range leads {
			if got, want := ga.HasLeading(lb), bytes.Equal(leads[a], lb); got != want {
				t.Errorf("values without %q, Leading of those without %q: HasLeading %v, want %v", a, b, got, want)
			}
		}
	}
}
