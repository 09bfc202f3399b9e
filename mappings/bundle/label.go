package bundle

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// label does what category.Label(res, cats...) does for a resource of type
// typ, without allocating per label: every resource put is labelled, and
// Label's three allocations per resource were a tenth of a mapping's. The
// codings come from codings, which gives every resource of a Bundle with
// the same category the same coding (see the package doc); the
// meta.security slice is spare's when the resource has no labels yet. A
// resource that already carries its labels costs nothing; spare and
// codings may be nil. TestLabelAsCategory checks both agree.
func label(res proto.Message, typ string, cats []category.Code, spare *labelSpare, codings *labelCodings) {
	meta := resource.PeekMeta(res)
	if len(cats) == 0 {
		for _, c := range meta.GetSecurity() {
			if c.GetSystem().GetValue() == category.System {
				return
			}
		}
		cats = []category.Code{category.Default(typ)}
	}
	missing := 0
	for _, c := range cats {
		if !hasLabel(meta.GetSecurity(), c) {
			missing++
		}
	}
	if missing == 0 {
		return
	}
	if meta == nil {
		meta = resource.Meta(res)
	}
	if missing > 2 {
		category.Label(res, cats...)
		return
	}
	// A resource gets one or two categories; the slice has room for a
	// sensitivity label more.
	security := meta.Security
	if cap(security)-len(security) < missing {
		if missing == 1 && spare != nil && len(security) == 0 {
			security = spare.security[:0]
		} else {
			security = append(make([]*dtpb.Coding, 0, len(security)+missing+1), security...)
		}
	}
	for _, c := range cats {
		if !hasLabel(security, c) {
			security = append(security, codings.of(c))
		}
	}
	meta.Security = security
}

// labelCodings hands out the meta.security coding of each category, made
// once per Builder: a message gives a dozen resources in two or three
// categories, and a coding with its elements per resource was a third of
// the bytes of its Bundle entry. The nil *labelCodings makes a new coding
// every time.
type labelCodings struct {
	made [6]*labelElements // one per category used so far (there are six)
	n    int
}

// of returns the coding of category c.
func (l *labelCodings) of(c category.Code) *dtpb.Coding {
	if l != nil {
		for _, e := range l.made[:l.n] {
			if e.code.Value == string(c) {
				return &e.coding
			}
		}
	}
	e := &labelElements{}
	e.system.Value, e.code.Value, e.display.Value = category.System, string(c), category.Display[c]
	e.coding.System, e.coding.Code, e.coding.Display = &e.system, &e.code, &e.display
	if l != nil && l.n < len(l.made) {
		l.made[l.n] = e
		l.n++
	}
	return &e.coding
}

// labelElements are a category label's coding and its elements.
type labelElements struct {
	coding  dtpb.Coding
	system  dtpb.Uri
	code    dtpb.Code
	display dtpb.String
}

func hasLabel(security []*dtpb.Coding, c category.Code) bool {
	for _, s := range security {
		if s.GetSystem().GetValue() == category.System && s.GetCode().GetValue() == string(c) {
			return true
		}
	}
	return false
}
