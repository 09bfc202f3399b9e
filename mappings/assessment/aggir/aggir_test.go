package aggir

import (
	"slices"
	"testing"
)

func grid(t testing.TB, s string) Grid {
	t.Helper()
	var g Grid
	if len(s) != int(NumVariables) {
		t.Fatalf("grid %q: want %d letters", s, NumVariables)
	}
	for i := range g {
		g[i] = Modality(s[i])
	}
	return g
}

// TestRanks works every rank 1–13 and every group threshold by hand. The
// grid letters are, in order: cohérence, orientation, toilette, habillage,
// alimentation, élimination, transferts, déplacement intérieur. The working
// lists, for every group evaluated, the values the law gives to each B or C
// (CASF annexe 2-2) and their sum; the test checks every sum, so the working
// is checked too.
func TestRanks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		grid    string
		rank    int
		gir     int
		group   string
		sums    []int
		working string
	}{
		{"rank 1: everything C", "CCCCCCCC", 1, 1, "A", []int{4440},
			"A: 2000 + 1200 + 40 + 40 + 60 + 100 + 800 + 200 = 4440"},
		{"rank 1: group A threshold 4 380 reached exactly", "CCCCACCC", 1, 1, "A", []int{4380},
			"A: 2000 + 1200 + 40 + 40 + 100 + 800 + 200 = 4380"},
		{"rank 2: group A just below 4 380", "CCABCCCC", 2, 2, "A", []int{4376},
			"A: 2000 + 1200 + 16 + 60 + 100 + 800 + 200 = 4376"},
		{"rank 2: group A threshold 4 140 reached exactly", "CCACACCA", 2, 2, "A", []int{4140},
			"A: 2000 + 1200 + 40 + 100 + 800 = 4140"},
		{"rank 3: group A just below 4 140", "CCABBCCA", 3, 2, "A", []int{4136},
			"A: 2000 + 1200 + 16 + 20 + 100 + 800 = 4136"},
		{"rank 3: group A lowest sum reaching 3 390 (sums step by 4)", "CCAACCAB", 3, 2, "A", []int{3392},
			"A: 2000 + 1200 + 60 + 100 + 32 = 3392"},
		{"rank 4: group A just below 3 390 falls to group B", "CCAABBBB", 4, 2, "B", []int{3388, 2796},
			"A: 2000 + 1200 + 20 + 16 + 120 + 32 = 3388; B: 1500 + 1200 + 16 + 120 - 40 = 2796"},
		{"rank 4: coherence and orientation C only", "CCAAAAAA", 4, 2, "B", []int{3200, 2700},
			"A: 2000 + 1200 = 3200; B: 1500 + 1200 = 2700"},
		{"rank 4: group B threshold 2 016 reached exactly", "ACAAABCA", 4, 2, "B", []int{2016, 2016},
			"A: 1200 + 16 + 800 = 2016; B: 1200 + 16 + 800 = 2016"},
		{"rank 6: group B just below 2 016 falls to group C", "ACABCBCC", 6, 2, "C", []int{2292, 2012, 1496},
			"A: 1200 + 16 + 60 + 16 + 800 + 200 = 2292; B: 1200 + 16 + 60 + 16 + 800 - 80 = 2012; C: 16 + 60 + 20 + 1000 + 400 = 1496"},
		{"rank 5: group C threshold 1 700 reached exactly", "AACCCCCC", 5, 2, "C", []int{1240, 960, 1700},
			"A: 40 + 40 + 60 + 100 + 800 + 200 = 1240; B: 40 + 40 + 60 + 100 + 800 - 80 = 960; C: 40 + 40 + 60 + 160 + 1000 + 400 = 1700"},
		{"rank 6: group C just below 1 700", "AABCCCCC", 6, 2, "C", []int{1216, 936, 1676},
			"A: 16 + 40 + 60 + 100 + 800 + 200 = 1216; B: 16 + 40 + 60 + 100 + 800 - 80 = 936; C: 16 + 40 + 60 + 160 + 1000 + 400 = 1676"},
		{"rank 6: group C threshold 1 432 reached exactly", "AABBAACC", 6, 2, "C", []int{1032, 752, 1432},
			"A: 16 + 16 + 800 + 200 = 1032; B: 16 + 16 + 800 - 80 = 752; C: 16 + 16 + 1000 + 400 = 1432"},
		{"rank 7: group C just below 1 432 falls to group D", "AAAAABCC", 7, 2, "D", []int{1016, 736, 1420, 2400},
			"A: 16 + 800 + 200 = 1016; B: 16 + 800 - 80 = 736; C: 20 + 1000 + 400 = 1420; D: 200 + 2000 + 200 = 2400"},
		{"rank 7: group D threshold 2 400 reached exactly", "AAAAACCA", 7, 2, "D", []int{900, 900, 1160, 2400},
			"A: 100 + 800 = 900; B: 100 + 800 = 900; C: 160 + 1000 = 1160; D: 400 + 2000 = 2400"},
		{"rank 12: group D just below 2 400 falls through to H", "AAAAAACC", 12, 5, "H", []int{1000, 720, 1400, 2200, 1000, 700, 600, 2000},
			"A: 800 + 200 = 1000; B: 800 - 80 = 720; C: 1000 + 400 = 1400; D: 2000 + 200 = 2200; E: 800 + 200 = 1000; F: 500 + 200 = 700; G: 400 + 200 = 600; H: 1000 + 1000 = 2000"},
		{"rank 8: group E threshold 1 200 reached exactly", "AAACAACA", 8, 3, "E", []int{840, 840, 1040, 2000, 1200},
			"A: 40 + 800 = 840; B: 40 + 800 = 840; C: 40 + 1000 = 1040; D: 2000 = 2000; E: 400 + 800 = 1200"},
		{"rank 9: group E just below 1 200; group F threshold 800 exactly", "AAAAACBC", 9, 3, "F", []int{420, 140, 760, 800, 1100, 800},
			"A: 100 + 120 + 200 = 420; B: 100 + 120 - 80 = 140; C: 160 + 200 + 400 = 760; D: 400 + 200 + 200 = 800; E: 800 + 100 + 200 = 1100; F: 500 + 100 + 200 = 800"},
		{"rank 10: group G threshold 650 reached exactly", "ACAACAAA", 10, 4, "G", []int{1260, 1260, 60, 2000, 800, 700, 650},
			"A: 1200 + 60 = 1260; B: 1200 + 60 = 1260; C: 60 = 60; D: 2000 = 2000; E: 400 + 400 = 800; F: 200 + 500 = 700; G: 150 + 500 = 650"},
		{"rank 11: group H threshold 4 000 reached exactly", "AAAAABBA", 11, 4, "H", []int{136, 136, 220, 400, 200, 200, 400, 4000},
			"A: 16 + 120 = 136; B: 16 + 120 = 136; C: 20 + 200 = 220; D: 200 + 200 = 400; E: 100 + 100 = 200; F: 100 + 100 = 200; G: 200 + 200 = 400; H: 2000 + 2000 = 4000"},
		{"rank 12: group H just below 4 000", "AAAAACAA", 12, 5, "H", []int{100, 100, 160, 400, 800, 500, 500, 3000},
			"A: 100 = 100; B: 100 = 100; C: 160 = 160; D: 400 = 400; E: 800 = 800; F: 500 = 500; G: 500 = 500; H: 3000 = 3000"},
		{"rank 12: group H threshold 2 000 reached exactly (transferts B)", "AAAAAABA", 12, 5, "H", []int{120, 120, 200, 200, 100, 100, 200, 2000},
			"A: 120 = 120; B: 120 = 120; C: 200 = 200; D: 200 = 200; E: 100 = 100; F: 100 = 100; G: 200 = 200; H: 2000 = 2000"},
		{"rank 13: group H just below 2 000", "AAAAAAAB", 13, 6, "H", []int{32, -40, 40, 0, 0, 0, 100, 1000},
			"A: 32 = 32; B: -40 = -40; C: 40 = 40; D: 0 = 0; E: 0 = 0; F: 0 = 0; G: 100 = 100; H: 1000 = 1000"},
		{"rank 13: everything A", "AAAAAAAA", 13, 6, "H", []int{0, 0, 0, 0, 0, 0, 0, 0},
			"A: 0 = 0; B: 0 = 0; C: 0 = 0; D: 0 = 0; E: 0 = 0; F: 0 = 0; G: 0 = 0; H: 0 = 0"},
		{"rank 13: transferts C scores lower than B in group H", "AAAAAACA", 13, 6, "H", []int{800, 800, 1000, 2000, 800, 500, 400, 1000},
			"A: 800 = 800; B: 800 = 800; C: 1000 = 1000; D: 2000 = 2000; E: 800 = 800; F: 500 = 500; G: 400 = 400; H: 1000 = 1000"},
		{"rank 13: cohérence B alone weighs nothing decisive", "BAAAAAAA", 13, 6, "H", []int{0, 320, 0, 0, 0, 100, 0, 0},
			"A: 0 = 0; B: 320 = 320; C: 0 = 0; D: 0 = 0; E: 0 = 0; F: 100 = 100; G: 0 = 0; H: 0 = 0"},
		{"rank 8: déplacement intérieur B (negative in group B) lowers group B", "ACAAABCB", 8, 3, "E", []int{2048, 1976, 1060, 2200, 1300},
			"A: 1200 + 16 + 800 + 32 = 2048; B: 1200 + 16 + 800 - 40 = 1976; C: 20 + 1000 + 40 = 1060; D: 200 + 2000 = 2200; E: 400 + 100 + 800 = 1300"},
	}
	seen := map[int]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Compute(grid(t, tt.grid))
			if err != nil {
				t.Fatal(err)
			}
			if got.Rank != tt.rank || got.GIR != tt.gir || got.Group != tt.group {
				t.Errorf("%s: rank %d GIR %d group %s, want rank %d GIR %d group %s",
					tt.grid, got.Rank, got.GIR, got.Group, tt.rank, tt.gir, tt.group)
			}
			if !slices.Equal(got.Sums, tt.sums) {
				t.Errorf("%s: sums %v, want %v (%s)", tt.grid, got.Sums, tt.sums, tt.working)
			}
		})
		seen[tt.rank] = true
	}
	for r := 1; r <= 13; r++ {
		if !seen[r] {
			t.Errorf("no case for rank %d", r)
		}
	}
}

// TestNotMonotonic pins the law's anomalies: a worse modality can give a
// better (higher) GIR. They must stay as the law writes them.
func TestNotMonotonic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		better, worse  string
		girBet, girWor int
		why            string
	}{
		{"transferts B then C", "AAAAAABA", "AAAAAACA", 5, 6,
			"group H values transferts B at 2 000 (rank 12) but C at 1 000 (rank 13)"},
		{"déplacement intérieur A then B", "ACAAABCA", "ACAAABCB", 2, 3,
			"group B values déplacement intérieur B at -40, so the sum drops from 2 016 (rank 4) to 1 976 and group E gives rank 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := Compute(grid(t, tt.better))
			b, _ := Compute(grid(t, tt.worse))
			if a.GIR != tt.girBet || b.GIR != tt.girWor {
				t.Errorf("%s → GIR %d, %s → GIR %d; want %d then %d: %s",
					tt.better, a.GIR, tt.worse, b.GIR, tt.girBet, tt.girWor, tt.why)
			}
		})
	}
}

func TestGIROfRank(t *testing.T) {
	t.Parallel()
	want := map[int]int{0: 0, 1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2, 8: 3, 9: 3, 10: 4, 11: 4, 12: 5, 13: 6, 14: 0}
	for r, g := range want {
		if got := GIROfRank(r); got != g {
			t.Errorf("GIROfRank(%d) = %d, want %d", r, got, g)
		}
	}
}

func TestComputeRejects(t *testing.T) {
	t.Parallel()
	g := grid(t, "AAAAAAAA")
	g[Transferts] = 'D'
	if _, err := Compute(g); err == nil {
		t.Error("modality D accepted")
	}
	if _, err := Compute(Grid{}); err == nil {
		t.Error("empty grid accepted")
	}
}

func TestAllGridsRank(t *testing.T) {
	t.Parallel()
	// Every one of the 3^8 grids gets a rank in 1..13 and the GIR of that
	// rank; every rank occurs.
	count := map[int]int{}
	letters := []Modality{A, B, C}
	var g Grid
	for n := 0; n < 6561; n++ {
		k := n
		for v := range g {
			g[v] = letters[k%3]
			k /= 3
		}
		r, err := Compute(g)
		if err != nil || r.Rank < 1 || r.Rank > 13 || r.GIR != GIROfRank(r.Rank) {
			t.Fatalf("%v: %+v %v", g, r, err)
		}
		count[r.Rank]++
	}
	if len(count) != 13 {
		t.Errorf("ranks reached: %v", count)
	}
}

func TestCombine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    Variable
		subs string
		want Modality
	}{
		{Toilette, "AA", A}, {Toilette, "CC", C}, {Toilette, "AB", B}, {Toilette, "AC", B},
		{Toilette, "CA", B}, {Toilette, "BB", B}, {Toilette, "BC", B},
		{Habillage, "AAA", A}, {Habillage, "CCC", C}, {Habillage, "AAC", B}, {Habillage, "CCB", B}, {Habillage, "BBB", B},
		{Alimentation, "AA", A}, {Alimentation, "CC", C}, {Alimentation, "BC", C}, {Alimentation, "CB", C},
		{Alimentation, "AC", B}, {Alimentation, "CA", B}, {Alimentation, "AB", B}, {Alimentation, "BB", B},
		{Elimination, "AA", A}, {Elimination, "CC", C}, {Elimination, "AC", C}, {Elimination, "CA", C},
		{Elimination, "BC", C}, {Elimination, "AB", B}, {Elimination, "BB", B},
		{Coherence, "AA", A}, {Coherence, "AC", C}, {Coherence, "BA", B}, {Coherence, "BB", B},
		{Orientation, "AA", A}, {Orientation, "CB", C}, {Orientation, "AB", B},
	}
	for _, tt := range tests {
		subs := make([]Modality, len(tt.subs))
		for i := range subs {
			subs[i] = Modality(tt.subs[i])
		}
		got, err := Combine(tt.v, subs...)
		if err != nil || got != tt.want {
			t.Errorf("Combine(%s, %s) = %v, %v; want %v", tt.v.Name(), tt.subs, got, err, tt.want)
		}
	}
	if _, err := Combine(Transferts, A); err == nil {
		t.Error("transferts has no sub-variables")
	}
	if _, err := Combine(Toilette, A); err == nil {
		t.Error("toilette needs two sub-variables")
	}
	if _, err := Combine(Toilette, A, 'x'); err == nil {
		t.Error("invalid sub-variable accepted")
	}
}

func TestParseModality(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{"A": true, "B": true, "C": true, "a": false, "": false, "AB": false, "D": false} {
		if _, got := ParseModality(in); got != ok {
			t.Errorf("ParseModality(%q) ok = %v", in, got)
		}
	}
}

func FuzzCompute(f *testing.F) {
	f.Add([]byte("CCCCCCCC"))
	f.Add([]byte("AAAAAABA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Grid
		for i := range g {
			if i < len(b) {
				g[i] = Modality(b[i])
			}
		}
		r, err := Compute(g)
		if err == nil && (r.GIR < 1 || r.GIR > 6) {
			t.Fatalf("%v: GIR %d", g, r.GIR)
		}
	})
}

func BenchmarkCompute(b *testing.B) {
	g := grid(b, "CBBCABBA")
	for b.Loop() {
		if _, err := Compute(g); err != nil {
			b.Fatal(err)
		}
	}
}
