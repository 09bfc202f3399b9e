package aggir

// group is one of the law's groups A to H: the value of each variable coded
// C and coded B (A is always 0), and the thresholds that give a rank.
type group struct {
	name string
	c, b [NumVariables]int
	// cuts lists (threshold, rank) pairs from the highest threshold down: the
	// first threshold the sum reaches gives the rank. floor, when non-zero,
	// is the rank given below every threshold (group H only); otherwise the
	// next group is tested.
	cuts  []cut
	floor int
}

type cut struct{ min, rank int }

// groups transcribes CASF annexe 2-2 §1, « Calcul des rangs ». Columns, as
// in the law: cohérence, orientation, toilette, habillage, alimentation,
// élimination, transferts, déplacement intérieur. (Déplacement extérieur and
// communication are listed in the law with value 0 in every group.)
var groups = [...]group{
	{name: "A",
		c:    [NumVariables]int{2000, 1200, 40, 40, 60, 100, 800, 200},
		b:    [NumVariables]int{0, 0, 16, 16, 20, 16, 120, 32},
		cuts: []cut{{4380, 1}, {4140, 2}, {3390, 3}}},
	{name: "B",
		c:    [NumVariables]int{1500, 1200, 40, 40, 60, 100, 800, -80},
		b:    [NumVariables]int{320, 120, 16, 16, 0, 16, 120, -40},
		cuts: []cut{{2016, 4}}},
	{name: "C",
		c:    [NumVariables]int{0, 0, 40, 40, 60, 160, 1000, 400},
		b:    [NumVariables]int{0, 0, 16, 16, 20, 20, 200, 40},
		cuts: []cut{{1700, 5}, {1432, 6}}},
	{name: "D",
		c:    [NumVariables]int{0, 0, 0, 0, 2000, 400, 2000, 200},
		b:    [NumVariables]int{0, 0, 0, 0, 200, 200, 200, 0},
		cuts: []cut{{2400, 7}}},
	{name: "E",
		c:    [NumVariables]int{400, 400, 400, 400, 400, 800, 800, 200},
		b:    [NumVariables]int{0, 0, 100, 100, 100, 100, 100, 0},
		cuts: []cut{{1200, 8}}},
	{name: "F",
		c:    [NumVariables]int{200, 200, 500, 500, 500, 500, 500, 200},
		b:    [NumVariables]int{100, 100, 100, 100, 100, 100, 100, 0},
		cuts: []cut{{800, 9}}},
	{name: "G",
		c:    [NumVariables]int{150, 150, 300, 300, 500, 500, 400, 200},
		b:    [NumVariables]int{0, 0, 200, 200, 200, 200, 200, 100},
		cuts: []cut{{650, 10}}},
	{name: "H",
		c:     [NumVariables]int{0, 0, 3000, 3000, 3000, 3000, 1000, 1000},
		b:     [NumVariables]int{0, 0, 2000, 2000, 2000, 2000, 2000, 1000},
		cuts:  []cut{{4000, 11}, {2000, 12}},
		floor: 13},
}

// girOfRank is annexe 2-2 §2, « Passage des rangs aux groupes »: rank 1 →
// GIR 1; 2–7 → 2; 8–9 → 3; 10–11 → 4; 12 → 5; 13 → 6. Index 0 is unused.
var girOfRank = [...]int{0, 1, 2, 2, 2, 2, 2, 2, 3, 3, 4, 4, 5, 6}

func (grp *group) sum(g Grid) int {
	total := 0
	for v, m := range g {
		switch m {
		case C:
			total += grp.c[v]
		case B:
			total += grp.b[v]
		}
	}
	return total
}

func (grp *group) rank(sum int) (int, bool) {
	for _, c := range grp.cuts {
		if sum >= c.min {
			return c.rank, true
		}
	}
	if grp.floor != 0 {
		return grp.floor, true
	}
	return 0, false
}
