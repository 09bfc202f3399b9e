package fhirdoc

import (
	"errors"
	"fmt"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

// errUnresolved is a urn: reference to no entry: a urn: names nothing
// outside the Bundle that sent it.
var errUnresolved = errors.New("unresolved urn")

// resolve finds what the literal reference ref, in the entry whose fullUrl
// is from, names, as R4 bundle.html#references resolves it: the entry it
// names (its index), else -1 and the absolute URL of the resource outside
// the Bundle ("" when it is this server's, the reference then kept as it
// is). A version (_history) is not part of what names an entry.
//
//   - An absolute reference (a URL or a urn:) names the entry with that
//     fullUrl; a URL that no entry holds names a resource on the server
//     it points to, a urn: nothing (errUnresolved).
//   - A relative reference from an entry whose fullUrl is a RESTful URL
//     is resolved against that URL's base: the entry with that fullUrl,
//     else the resource on that server.
//   - A relative reference from an entry identified by a urn: names the
//     entry holding a resource of that type and id when there is exactly
//     one, else a resource of this server.
func (d *doc) resolve(ref, from string) (int, string, error) {
	ref = withoutHistory(ref)
	switch {
	case ref == "" || strings.HasPrefix(ref, "#"):
		return -1, "", nil
	case strings.HasPrefix(ref, "urn:"):
		if i, ok := d.byFull[ref]; ok {
			return i, "", nil
		}
		return -1, "", errUnresolved
	case strings.Contains(ref, "://"):
		if i, ok := d.byFull[ref]; ok {
			return i, "", nil
		}
		return -1, ref, nil
	}
	if base, ok := baseOf(from); ok {
		abs := base + "/" + ref
		if i, ok := d.byFull[abs]; ok {
			return i, "", nil
		}
		return -1, abs, nil
	}
	if i, ok := d.byTypeID[ref]; ok && i >= 0 {
		return i, "", nil
	}
	return -1, "", nil
}

// withoutHistory is ref without a trailing /_history/{vid}.
func withoutHistory(ref string) string {
	if i := strings.Index(ref, "/_history/"); i > 0 {
		return ref[:i]
	}
	return ref
}

// rewrite points every reference of every written entry (its contained
// resources' included) at the id the entry it names is written with, or
// at the absolute URL of what it names outside the Bundle. A reference to
// an entry that is not written keeps its display (or says what it named)
// and its identifier. Unresolvable references are the error's issues.
func (d *doc) rewrite() error {
	var issues []outcome.Issue
	for n, e := range d.entries {
		if e.dropped {
			continue
		}
		resource.WalkReferences(e.res, func(ref *dtpb.Reference) {
			s := resource.RefString(ref)
			i, abs, err := d.resolve(s, e.full)
			switch {
			case err != nil:
				issues = append(issues, issue(fmt.Sprintf("Bundle.entry[%d].resource", n),
					"reference "+s+" names no entry of the document (R4 bundle.html#references: a urn: is resolved only inside its Bundle)"))
			case i >= 0 && d.entries[i].dropped:
				t := d.entries[i]
				ref.Reference = nil
				if ref.Display == nil {
					ref.Display = &dtpb.String{Value: t.typ + " of the document (not stored)"}
				}
			case i >= 0:
				t := d.entries[i]
				resource.SetRefString(ref, t.typ+"/"+t.id)
			case abs != "" && abs != s:
				resource.SetRefString(ref, abs)
			}
		})
	}
	if len(issues) > 0 {
		return invalid("invalid FHIR document", issues...)
	}
	return nil
}
