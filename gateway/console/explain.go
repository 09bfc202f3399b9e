package console

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/routing"
)

// Routing's explanations in the page's language. Routing writes them in
// English, FHIR's human-readable fallback (Annotation.text,
// CodeableConcept.text), and codes them beside (routing.ExtExplanation,
// codes of routing.RoutingStatus): the console says each step with the
// catalogue's sentence for its code ("why.<code>"), its arguments the
// step's recipients and Tasks by name, the Consents it names, its data
// categories and roles in words, then its particulars. An element routing
// did not code (a note a professional wrote, a refusal in her words, an
// explanation written before they were coded) shows as written.

// explanation says the steps among exts in l, text when there are none.
func explanation(l lang, dir *directory, exts []*dtpb.Extension, text string) string {
	steps := routing.Explanation(exts)
	if len(steps) == 0 {
		return text
	}
	var b strings.Builder
	for i, st := range steps {
		if i > 0 {
			sep, ok := continues[st.Code]
			if !ok {
				sep = l.t("why.sep")
			}
			b.WriteString(sep)
		}
		b.WriteString(l.step(dir, st))
	}
	return b.String()
}

// continues are the steps that complete the one before rather than
// begin a sentence of their own, and what joins them to it.
var continues = map[string]string{"reassigned-from": " ", "general-practitioner-role": ", "}

// step says one step in l; a code the catalogue does not know shows as
// it is.
func (l lang) step(dir *directory, st routing.Step) string {
	key := "why." + st.Code
	if _, ok := catalogue[key]; !ok {
		return st.Code
	}
	var args []any
	for _, w := range st.Who {
		args = append(args, dir.name(w))
	}
	if len(st.Consents) > 0 {
		args = append(args, strings.Join(st.Consents, ", "))
	}
	if len(st.Categories) > 0 {
		cats := make([]string, len(st.Categories))
		for i, c := range st.Categories {
			cats[i] = l.t("cat." + string(c))
		}
		args = append(args, strings.Join(cats, ", "))
	}
	if len(st.Roles) > 0 {
		roles := make([]string, len(st.Roles))
		for i, r := range st.Roles {
			roles[i] = l.role(r)
		}
		args = append(args, strings.Join(roles, l.t("why.or")))
	}
	for _, d := range st.Detail {
		args = append(args, d)
	}
	return l.t(key, args...)
}

// role is a pathway role (pathways.RoleSystem) in l.
func (l lang) role(code string) string {
	if _, ok := catalogue["role."+code]; ok {
		return l.t("role." + code)
	}
	return code
}

// reasonText says a Task's statusReason or businessStatus in l: its code
// of RoutingStatus (or push delivery's), with its particulars when it
// has steps; its text when it carries no code the catalogue knows.
func reasonText(l lang, dir *directory, cc *dtpb.CodeableConcept) string {
	code := routing.ReasonCode(cc)
	for _, cd := range cc.GetCoding() {
		if cd.GetSystem().GetValue() == delivery.DeliveryStatusSystem {
			code = cd.GetCode().GetValue()
		}
	}
	if _, ok := catalogue["why."+code]; !ok || code == "" {
		return explanation(l, dir, cc.GetExtension(), conceptText(cc))
	}
	out := l.t("why." + code)
	switch steps := routing.Explanation(cc.GetExtension()); {
	case len(steps) > 0:
		out += " (" + explanation(l, dir, cc.GetExtension(), "") + ")"
	case code == routing.ReRoute && cc.GetText().GetValue() != "":
		// the requester's own words, as she wrote them
		out += " (" + cc.GetText().GetValue() + ")"
	}
	return out
}
