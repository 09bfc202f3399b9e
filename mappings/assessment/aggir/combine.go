package aggir

import "fmt"

// Sub-variables, as the guide de remplissage (CASF annexe 2-1, décret
// n° 2008-821) splits the variables; the keys are those of the JSON input.
var subvariables = map[Variable][]string{
	Coherence:    {"communication", "comportement"},
	Orientation:  {"temps", "espace"},
	Toilette:     {"haut", "bas"},
	Habillage:    {"haut", "moyen", "bas"},
	Alimentation: {"se_servir", "manger"},
	Elimination:  {"urinaire", "fecale"},
}

// Subvariables returns the sub-variable keys of v in the guide's order, or
// nil when v has none.
func Subvariables(v Variable) []string { return subvariables[v] }

// Combine gives the modality of v from its sub-variables (in the order of
// Subvariables), following the guide de remplissage:
//
//	toilette (haut, bas)             AA = A; CC = C; otherwise B
//	habillage (haut, moyen, bas)     AAA = A; CCC = C; otherwise B
//	alimentation (se servir, manger) AA = A; CC, BC, CB = C; otherwise B
//	                                 (so AC and CA give B)
//	élimination (urinaire, fécale)   AA = A; any C = C; otherwise B
//	cohérence (communication,        AA = A; any C = C; otherwise B
//	  comportement)
//	orientation (temps, espace)      AA = A; any C = C; otherwise B
func Combine(v Variable, subs ...Modality) (Modality, error) {
	want := subvariables[v]
	if want == nil {
		return 0, fmt.Errorf("aggir: %s has no sub-variables", v.Name())
	}
	if len(subs) != len(want) {
		return 0, fmt.Errorf("aggir: %s needs %d sub-variables, got %d", v.Name(), len(want), len(subs))
	}
	for i, m := range subs {
		if !m.Valid() {
			return 0, fmt.Errorf("aggir: %s.%s has no modality A, B or C", v.Name(), want[i])
		}
	}
	switch v {
	case Toilette, Habillage:
		return allOrB(subs), nil
	case Alimentation:
		return alimentation(subs[0], subs[1]), nil
	default: // Elimination, Coherence, Orientation
		return anyC(subs), nil
	}
}

// allOrB: all A gives A, all C gives C, anything else B.
func allOrB(subs []Modality) Modality {
	first := subs[0]
	for _, m := range subs[1:] {
		if m != first {
			return B
		}
	}
	if first == A || first == C {
		return first
	}
	return B
}

// anyC: all A gives A, any C gives C, anything else B.
func anyC(subs []Modality) Modality {
	all := true
	for _, m := range subs {
		if m == C {
			return C
		}
		all = all && m == A
	}
	if all {
		return A
	}
	return B
}

func alimentation(serve, eat Modality) Modality {
	switch {
	case serve == A && eat == A:
		return A
	case serve == C && eat == C, serve == B && eat == C, serve == C && eat == B:
		return C
	default:
		return B
	}
}
