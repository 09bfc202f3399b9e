package console

import (
	"slices"
	"strings"

	hspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/healthcare_service_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	prrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// The directory as the signed-in person may read it: the recipients a
// Consent or a Task may name, and the names pages show for references.

// party is a directory entry.
type party struct {
	Ref  string // "PractitionerRole/x"
	Name string // who: a person, a service, an organisation
	Role string // what: the role's text
}

// Label is the entry as a choice shows it.
func (p party) Label() string {
	if p.Role == "" {
		return p.Name
	}
	return p.Name + " — " + p.Role
}

type directory struct {
	list []party // sorted by label, in the page's language's order
	by   map[string]party
}

// name is the name of ref, or ref itself when the directory does not know it.
func (d *directory) name(ref string) string {
	if p, ok := d.by[ref]; ok {
		return p.Name
	}
	return ref
}

// label is the label of ref, or ref itself.
func (d *directory) label(ref string) string {
	if p, ok := d.by[ref]; ok {
		return p.Label()
	}
	return ref
}

// recipients are the entries a Consent may name: R4 Consent.provision.actor
// references a Practitioner, PractitionerRole, Organization or CareTeam,
// never a HealthcareService (a permit to the Organization that provides a
// service covers it).
func (d *directory) recipients() []party {
	var out []party
	for _, p := range d.list {
		if !strings.HasPrefix(p.Ref, "HealthcareService/") {
			out = append(out, p)
		}
	}
	return out
}

// directoryOf reads the directory through the API. What the caller may not
// read is left out: pages then show references.
func directoryOf(k caller) *directory {
	d := &directory{by: map[string]party{}}
	names := map[string]string{}
	roles, _ := k.search("/fhir/PractitionerRole?_include=PractitionerRole:practitioner&_include=PractitionerRole:organization&_include=PractitionerRole:service&_count=500")
	services, _ := k.search("/fhir/HealthcareService?_count=500")
	orgs, _ := k.search("/fhir/Organization?_count=500")
	all := append(append(roles, services...), orgs...)
	for _, m := range all {
		ref := resource.Type(m) + "/" + resource.ID(m)
		switch x := m.(type) {
		case *prpb.Practitioner:
			names[ref] = humanName(x.GetName())
		case *orgpb.Organization:
			names[ref] = x.GetName().GetValue()
		case *hspb.HealthcareService:
			names[ref] = x.GetName().GetValue()
		}
	}
	for _, m := range all {
		ref := resource.Type(m) + "/" + resource.ID(m)
		if _, dup := d.by[ref]; dup {
			continue
		}
		var p party
		switch x := m.(type) {
		case *prrpb.PractitionerRole:
			p = party{Ref: ref, Role: conceptsText(x.GetCode())}
			p.Name = names[resource.RefString(x.GetPractitioner())]
			if p.Name == "" && len(x.GetHealthcareService()) > 0 {
				p.Name = names[resource.RefString(x.GetHealthcareService()[0])]
			}
			if org := names[resource.RefString(x.GetOrganization())]; org != "" {
				if p.Name == "" {
					p.Name = org
				} else {
					p.Role += ", " + org
				}
			}
		case *hspb.HealthcareService:
			p = party{Ref: ref, Name: names[ref], Role: names[resource.RefString(x.GetProvidedBy())]}
		case *orgpb.Organization:
			p = party{Ref: ref, Name: names[ref]}
		default:
			continue
		}
		if p.Name == "" {
			p.Name = ref
		}
		d.by[ref] = p
		d.list = append(d.list, p)
	}
	cmp := langOf(k.r).compare()
	slices.SortStableFunc(d.list, func(a, b party) int { return cmp(a.Label(), b.Label()) })
	return d
}
