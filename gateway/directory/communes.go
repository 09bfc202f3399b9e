package directory

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"

	"github.com/relais-health/relais/fhir/search"
)

// communesGz is the table gen writes from @etalab/decoupage-administratif
// 6.0.0 (INSEE Code officiel géographique, millésime 2026, with La Poste postal codes):
// see gen/main.go for its layout.
//
//go:embed communes.tsv.gz
var communesGz []byte

// CommuneEdition names the edition of the embedded commune table.
const CommuneEdition = "@etalab/decoupage-administratif 6.0.0 (INSEE COG millésime 2026, communes.json)"

// Commune is one INSEE COG code: a commune, or a commune déléguée,
// associée or municipal arrondissement (Parent then names its commune).
type Commune struct {
	Code, Departement, Region, Parent string
	PostalCodes                       []string
	Name                              string // as published
	norm                              string // NormalizeName(Name)
}

// Communes is the commune table, read-only once loaded: safe for
// concurrent use.
type Communes struct {
	byCode   map[string]*Commune
	byPostal map[string][]*Commune
	// children lists the communes déléguées, associées and municipal
	// arrondissements of a commune: La Poste gives most of them no postal
	// code of their own (Lomme, in Lille, has none), an address names them
	// with their commune's.
	children map[string][]*Commune
	byName   map[string][]*Commune // by NormalizeName of the name
	all      []*Commune
}

// LoadCommunes decodes the embedded table (about 20 ms); load it once and
// share it.
func LoadCommunes() (*Communes, error) {
	zr, err := gzip.NewReader(bytes.NewReader(communesGz))
	if err != nil {
		return nil, fmt.Errorf("commune table: %w", err)
	}
	c := &Communes{byCode: map[string]*Commune{}, byPostal: map[string][]*Commune{}, children: map[string][]*Commune{}, byName: map[string][]*Commune{}}
	sc := bufio.NewScanner(zr)
	for n := 1; sc.Scan(); n++ {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 6 || len(f[0]) != 5 {
			return nil, fmt.Errorf("commune table: line %d malformed", n)
		}
		m := &Commune{Code: f[0], Departement: f[1], Region: f[2], Parent: f[3], Name: f[5], norm: NormalizeName(f[5])}
		if f[4] != "" {
			m.PostalCodes = strings.Split(f[4], ",")
		}
		c.byCode[m.Code] = m
		if m.Parent != "" {
			c.children[m.Parent] = append(c.children[m.Parent], m)
		}
		c.all = append(c.all, m)
		c.byName[m.norm] = append(c.byName[m.norm], m)
		for _, p := range m.PostalCodes {
			c.byPostal[p] = append(c.byPostal[p], m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("commune table: %w", err)
	}
	return c, nil
}

// Lookup returns the commune of an INSEE code.
func (c *Communes) Lookup(code string) (*Commune, bool) {
	m, ok := c.byCode[code]
	return m, ok
}

// ByPostalCode returns the communes a postal code serves (La Poste's
// codes often serve several communes, and a commune may have several).
func (c *Communes) ByPostalCode(pc string) []*Commune { return c.byPostal[pc] }

// All returns every code of the table, sorted by code. The slice is the
// table's own: do not modify it.
func (c *Communes) All() []*Commune { return c.all }

// NormalizeName folds a commune name for matching an address's city as
// string search folds it (search.Normalize: accents and case dropped,
// hyphens and apostrophes as spaces), with the abbreviations "St"/"Ste"
// written out, as addresses often carry them ("ST ETIENNE" matches
// "Saint-Étienne").
func NormalizeName(s string) string {
	words := strings.Fields(search.Normalize(s))
	for i, w := range words {
		switch w {
		case "st":
			words[i] = "saint"
		case "ste":
			words[i] = "sainte"
		}
	}
	return strings.Join(words, " ")
}
