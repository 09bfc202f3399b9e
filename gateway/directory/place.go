package directory

import (
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the zones of Location on hosts without a zone database

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/terminology"
)

// Place is where a patient lives, resolved to the territories that can
// cover her: her commune(s) (and the commune a commune déléguée or an
// arrondissement belongs to), their département(s) and région(s), or a
// Belgian postal code.
type Place struct {
	Territories []Territory
	// How: "INSEE code", "postal code and city", "postal code" (the city
	// did not single out a commune: every commune of the postal code),
	// "city and CEDEX postal code" (a CEDEX code, which serves no commune:
	// the commune of that name in the code's département), "Belgian
	// postal code"; "" when unresolved.
	How string
}

// PlaceOf resolves the patient's home address: the first address of use
// home, else the first address that is not old, billing or temp. A
// French address is resolved through its INSEE code when it carries one,
// else its postal code and city (the city naming one of the postal code's
// communes, or a commune déléguée or arrondissement of one of them); a
// Belgian one (country BE, BEL, Belgique, België, Belgium) by its postal
// code. An address in another country is not resolved.
func (c *Communes) PlaceOf(p *patpb.Patient) Place {
	a := homeAddress(p.GetAddress())
	if a == nil {
		return Place{}
	}
	pc := strings.TrimSpace(a.GetPostalCode().GetValue())
	if belgian(a.GetCountry().GetValue()) {
		if len(pc) == 4 {
			return Place{Territories: []Territory{{LevelCommune, pc}}, How: "Belgian postal code"}
		}
		return Place{}
	}
	if !french(a.GetCountry().GetValue()) {
		// the commune table is France's: a German 59000 is not Lille
		return Place{}
	}
	if code := inseeCode(a); code != "" {
		if m, ok := c.Lookup(code); ok {
			return Place{Territories: c.territories([]*Commune{m}), How: "INSEE code"}
		}
	}
	city, cedex := cityOf(a.GetCity().GetValue())
	ms := c.ByPostalCode(pc)
	if len(ms) == 0 && cedex {
		if named := c.namedIn(city, departementsOf(pc)); len(named) > 0 {
			return Place{Territories: c.territories(named), How: "city and CEDEX postal code"}
		}
	}
	if len(ms) == 0 {
		return Place{}
	}
	var named []*Commune
	for _, m := range ms {
		if m.norm == city {
			named = append(named, m)
		}
	}
	if len(named) == 0 {
		// A commune déléguée or an arrondissement named with its
		// commune's postal code ("59160 Lomme").
		for _, m := range ms {
			for _, ch := range c.children[m.Code] {
				if ch.norm == city && !slices.Contains(named, ch) {
					named = append(named, ch)
				}
			}
		}
	}
	if len(named) > 0 {
		return Place{Territories: c.territories(c.district(named, pc)), How: "postal code and city"}
	}
	return Place{Territories: c.territories(ms), How: "postal code"}
}

// district narrows each commune of named to the one municipal
// arrondissement (or commune déléguée) of it that the postal code serves,
// when exactly one does: "75011 Paris" is Paris 11e Arrondissement (COG
// 75111), "69003 Lyon" Lyon 3e (69383), "13001 Marseille" Marseille 1er
// (13201). An address names the commune ("Paris"), La Poste gives each
// arrondissement a postal code of its own (in the table, only the 45
// arrondissements of Paris, Lyon and Marseille have one), and a ROR
// service may state its territory arrondissement by arrondissement
// (ror-territorial-division, codes of JDV_J124-Commune); the commune
// stays among the place's territories, listed after its arrondissement.
func (c *Communes) district(named []*Commune, pc string) []*Commune {
	out := make([]*Commune, 0, len(named))
	for _, m := range named {
		var only *Commune
		n := 0
		for _, ch := range c.children[m.Code] {
			if slices.Contains(ch.PostalCodes, pc) {
				only, n = ch, n+1
			}
		}
		if n == 1 {
			m = only
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// cityOf folds an address's city (NormalizeName) without the CEDEX
// mention La Poste's business addresses carry ("LILLE CEDEX", "Lille
// Cedex 9"): cedex says it was there. A CEDEX postal code is the
// delivery office's, shared by no commune in the table.
func cityOf(s string) (city string, cedex bool) {
	words := strings.Fields(NormalizeName(s))
	for i, w := range words {
		if w == "cedex" && i > 0 && (i == len(words)-1 || i == len(words)-2 && strings.Trim(words[i+1], "0123456789") == "") {
			return strings.Join(words[:i], " "), true
		}
	}
	return strings.Join(words, " "), false
}

// departementsOf are the départements a postal code may be in: its first
// two digits, 2A and 2B for 20 (Corsica), its first three from 97 on
// (overseas). A CEDEX code follows the same rule.
func departementsOf(pc string) []string {
	switch {
	case len(pc) != 5 || strings.Trim(pc, "0123456789") != "":
		return nil
	case pc[:2] == "20":
		return []string{"2A", "2B"}
	case pc[:2] >= "97":
		return []string{pc[:3]}
	}
	return []string{pc[:2]}
}

// namedIn is the communes (or communes déléguées, arrondissements) of
// one of départements whose name is city, folded.
func (c *Communes) namedIn(city string, departements []string) []*Commune {
	var out []*Commune
	for _, m := range c.byName[city] {
		if slices.Contains(departements, m.Departement) {
			out = append(out, m)
		}
	}
	return out
}

// territories lists the communes, their parents, départements and régions.
func (c *Communes) territories(ms []*Commune) []Territory {
	var out []Territory
	add := func(t Territory) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, m := range ms {
		add(Territory{LevelCommune, m.Code})
		if m.Parent != "" {
			add(Territory{LevelCommune, m.Parent})
		}
	}
	for _, m := range ms {
		add(Territory{LevelDepartement, m.Departement})
	}
	for _, m := range ms {
		add(Territory{LevelRegion, m.Region})
	}
	return out
}

// Location is the time zone of the patient's place, in which the
// directory reads the hours of availableTime (R4 gives them as times of
// day without a zone: the local time where the recipient works, which
// covers the patient's place): the zone of her overseas département
// (Guadeloupe, Martinique, Guyane, La Réunion, Saint-Pierre-et-Miquelon,
// Mayotte, Saint-Barthélemy, Saint-Martin), Europe/Brussels for a Belgian
// place, else Europe/Paris (metropolitan France and Corsica).
func (p Place) Location() *time.Location {
	name := "Europe/Paris"
	for _, t := range p.Territories {
		if t.Level == LevelCommune && len(t.Code) == 4 {
			name = "Europe/Brussels"
			break
		}
		if t.Level == LevelDepartement {
			if z, ok := overseasZones[t.Code]; ok {
				name = z
			}
			break
		}
	}
	return zone(name)
}

var overseasZones = map[string]string{
	"971": "America/Guadeloupe", "972": "America/Martinique", "973": "America/Cayenne",
	"974": "Indian/Reunion", "975": "America/Miquelon", "976": "Indian/Mayotte",
	"977": "America/St_Barthelemy", "978": "America/Marigot",
}

// zone is the IANA zone of that name (resource.Location loads each once;
// time/tzdata embeds the database: the host may have none). It cannot
// fail for the names above.
func zone(name string) *time.Location { return resource.Location(name) }

func homeAddress(as []*dtpb.Address) *dtpb.Address {
	for _, a := range as {
		if a.GetUse().GetValue() == cpb.AddressUseCode_HOME {
			return a
		}
	}
	for _, a := range as {
		switch a.GetUse().GetValue() {
		case cpb.AddressUseCode_OLD, cpb.AddressUseCode_BILLING, cpb.AddressUseCode_TEMP:
		default:
			return a
		}
	}
	return nil
}

func inseeCode(a *dtpb.Address) string {
	exts := append(slices.Clone(a.GetExtension()), a.GetCity().GetExtension()...)
	for _, e := range exts {
		if e.GetUrl().GetValue() == terminology.AddressINSEE {
			return strings.TrimSpace(firstCode(e.GetValue()))
		}
	}
	return ""
}

// french reports whether an address's country is France or none: FR,
// FRA, France, or one of the overseas départements and collectivities
// ISO 3166 codes apart (IHE France's country table does the same).
func french(country string) bool {
	switch NormalizeName(country) {
	case "", "fr", "fra", "france", "gp", "glp", "mq", "mtq", "gf", "guf", "re", "reu", "yt", "myt",
		"pm", "spm", "bl", "blm", "mf", "maf", "nc", "ncl", "pf", "pyf", "wf", "wlf":
		return true
	}
	return false
}

func belgian(country string) bool {
	switch NormalizeName(country) {
	case "be", "bel", "belgique", "belgie", "belgium", "belgien":
		return true
	}
	return false
}
