// Package aggir computes the GIR (groupe iso-ressources) of the French
// national autonomy grid AGGIR exactly as the Code de l'action sociale et des
// familles prescribes:
//
//   - annexe 2-2 (article R232-3), « Algorithme de la grille AGGIR »: eight
//     discriminant variables, each coded A, B or C, are weighted and summed
//     for groups A to H in that order; the first group whose threshold is
//     reached gives a rank from 1 to 13, and ranks map to GIR 1 to 6;
//   - annexe 2-1, the « guide de remplissage » (décret n° 2008-821), for the
//     sub-variables that are combined into one modality (see Combine).
//
// The law's algorithm is not monotonic: with every other variable at A,
// transferts B gives rank 12 (GIR 5) while transferts C gives rank 13
// (GIR 6), because group H weighs transferts B at 2 000 and C at 1 000. This
// package reproduces the law, anomalies included; it must not be "fixed".
//
// Text followed: Légifrance, Code de l'action sociale et des familles,
// annexe 2-2 (weights and thresholds transcribed in tables.go). The two remaining discriminant variables of the grid,
// déplacement à l'extérieur and communication à distance (alerter), weigh 0
// in every group and the seven illustrative variables are not scored at all;
// callers record them but Compute never sees them.
package aggir

import "fmt"

// Modality is the coding of one variable: A (does alone, spontaneously,
// totally, habitually and correctly), B (partly) or C (does not).
type Modality byte

// The modalities.
const (
	A Modality = 'A'
	B Modality = 'B'
	C Modality = 'C'
)

// Valid reports whether m is A, B or C.
func (m Modality) Valid() bool { return m == A || m == B || m == C }

func (m Modality) String() string {
	if !m.Valid() {
		return fmt.Sprintf("Modality(%d)", byte(m))
	}
	return string(rune(m))
}

// ParseModality reads "A", "B" or "C" (upper case only, as the grid writes
// them).
func ParseModality(s string) (Modality, bool) {
	if len(s) != 1 {
		return 0, false
	}
	m := Modality(s[0])
	return m, m.Valid()
}

// Variable is one of the eight discriminant variables that the algorithm
// weighs, in the order of the law's tables.
type Variable int

// The eight scored variables.
const (
	Coherence Variable = iota
	Orientation
	Toilette
	Habillage
	Alimentation
	Elimination
	Transferts
	DeplacementInterieur
	NumVariables // number of scored variables
)

var variableNames = [NumVariables]string{
	"coherence", "orientation", "toilette", "habillage", "alimentation",
	"elimination", "transferts", "deplacement_interieur",
}

var variableLabels = [NumVariables]string{
	"Cohérence", "Orientation", "Toilette", "Habillage", "Alimentation",
	"Élimination", "Transferts", "Déplacements à l'intérieur",
}

// Name is the variable's key in the JSON input (e.g. "deplacement_interieur").
func (v Variable) Name() string { return variableNames[v] }

// Label is the variable's French name as the grid prints it.
func (v Variable) Label() string { return variableLabels[v] }

// Grid holds the modalities of the eight scored variables, indexed by
// Variable.
type Grid [NumVariables]Modality

// Validate reports the first variable that is not A, B or C.
func (g Grid) Validate() error {
	for v, m := range g {
		if !m.Valid() {
			return fmt.Errorf("aggir: %s has no modality A, B or C", Variable(v).Name())
		}
	}
	return nil
}

// Result is the outcome of the algorithm, with its working.
type Result struct {
	GIR   int    // 1 to 6
	Rank  int    // 1 to 13
	Group string // "A" to "H": the group whose threshold gave the rank
	// Sums holds the weighted sum of every group evaluated, in order; the
	// last one decided.
	Sums []int
}

// Compute runs the law's algorithm on g. It returns an error only when a
// variable is not A, B or C.
func Compute(g Grid) (Result, error) {
	if err := g.Validate(); err != nil {
		return Result{}, err
	}
	var res Result
	res.Sums = make([]int, 0, len(groups))
	for _, grp := range groups {
		sum := grp.sum(g)
		res.Sums = append(res.Sums, sum)
		if rank, ok := grp.rank(sum); ok {
			res.Rank, res.Group = rank, grp.name
			res.GIR = girOfRank[rank]
			return res, nil
		}
	}
	panic("aggir: group H has no catch-all rank") // unreachable: group H always ranks
}

// GIROfRank maps a rank (1–13) to its GIR (1–6) per annexe 2-2 §2, or 0.
func GIROfRank(rank int) int {
	if rank < 1 || rank >= len(girOfRank) {
		return 0
	}
	return girOfRank[rank]
}
