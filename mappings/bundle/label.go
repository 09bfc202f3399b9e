package bundle

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// label does what category.Label(res, cats...) does for a resource of type
// typ, with the codings it adds and the meta.security slice allocated in one
// block: every resource put is labelled, and Label's three allocations per
// resource were a tenth of a mapping's. A resource that already carries its
// labels costs nothing; spare (possibly nil) is room for a first label.
// TestLabelAsCategory checks both agree.
func label(res proto.Message, typ string, cats []category.Code, spare *labelSpare) {
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
	var security []*dtpb.Coding
	var elems []labelElements
	if missing == 1 && spare != nil && len(meta.Security) == 0 {
		security, elems = spare.security[:0], spare.elems[:]
	} else if missing == 1 {
		blk := &struct {
			security [2]*dtpb.Coding
			elems    [1]labelElements
		}{}
		security, elems = blk.security[:0], blk.elems[:]
	} else {
		blk := &struct {
			security [3]*dtpb.Coding
			elems    [2]labelElements
		}{}
		security, elems = blk.security[:0], blk.elems[:]
	}
	if cap(meta.Security)-len(meta.Security) >= missing {
		security = meta.Security
	} else {
		security = append(security, meta.Security...)
	}
	for _, c := range cats {
		if hasLabel(security, c) {
			continue
		}
		e := &elems[0]
		elems = elems[1:]
		e.system.Value, e.code.Value, e.display.Value = category.System, string(c), category.Display[c]
		e.coding.System, e.coding.Code, e.coding.Display = &e.system, &e.code, &e.display
		security = append(security, &e.coding)
	}
	meta.Security = security
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
