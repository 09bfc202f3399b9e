// Command gen writes the commune table of package directory (communes.tsv.gz)
// from the communes.json of the npm package @etalab/decoupage-administratif
// (the INSEE Code officiel géographique with La Poste postal codes):
//
//	npm pack @etalab/decoupage-administratif@6.0.0 && tar xzf etalab-decoupage-administratif-6.0.0.tgz
//	go run ./gateway/directory/gen -in package/data/communes.json -out gateway/directory/communes.tsv.gz
//
// One line per code, sorted: INSEE code, département, région, the code of
// the commune it belongs to (a commune déléguée or associée, a municipal
// arrondissement of Paris, Lyon or Marseille; empty for a commune), postal
// codes separated by commas, name. Names are kept as published; the
// package normalises them when it loads the table.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

type commune struct {
	Code        string   `json:"code"`
	Name        string   `json:"nom"`
	Type        string   `json:"type"`
	Departement string   `json:"departement"`
	Region      string   `json:"region"`
	ChefLieu    string   `json:"chefLieu"`
	Commune     string   `json:"commune"`
	PostalCodes []string `json:"codesPostaux"`
}

func main() {
	in := flag.String("in", "communes.json", "communes.json of @etalab/decoupage-administratif")
	out := flag.String("out", "communes.tsv.gz", "table to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var cs []commune
	if err := json.Unmarshal(b, &cs); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	lines := map[string]string{}
	for _, c := range cs {
		parent := ""
		switch c.Type {
		case "commune-actuelle":
		case "arrondissement-municipal":
			parent = c.Commune
		case "commune-deleguee", "commune-associee":
			parent = c.ChefLieu
		default:
			continue
		}
		if parent == c.Code {
			continue // the same code as its commune, which carries it
		}
		if _, dup := lines[c.Code]; dup && parent != "" {
			continue // a current commune keeps its code
		}
		if strings.ContainsAny(c.Name, "\t\n") || len(c.Code) != 5 {
			return fmt.Errorf("commune %q: unexpected code or name", c.Code)
		}
		lines[c.Code] = strings.Join([]string{c.Code, c.Departement, c.Region, parent, strings.Join(c.PostalCodes, ","), c.Name}, "\t")
	}
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	for _, k := range keys {
		fmt.Fprintln(zw, lines[k])
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
