package consent

import (
	"strconv"

	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// Code systems the compiler recognises.
const (
	systemResourceTypes = "http://hl7.org/fhir/resource-types"
	systemParticipation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	systemActCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	oidActCode          = "urn:oid:2.16.840.1.113883.5.4"
)

// effect is a provision's type.
type effect uint8

const (
	deny effect = iota + 1
	permit
)

func (e effect) String() string {
	if e == permit {
		return "permit"
	}
	return "deny"
}

func (e effect) opposite() effect {
	if e == permit {
		return deny
	}
	return permit
}

// needs says which resource facts some criterion reads, so that the search
// filter extracts only those.
type needs uint8

const (
	needCodes needs = 1 << iota
	needDate
	needRef
	needRelated
	needLabels
)

// span is a half-open range of Unix microseconds.
type span struct{ start, end int64 }

func (s *span) contains(t int64) bool { return s.start <= t && t < s.end }

type coding struct{ system, code string }

// actorRule is one provision.actor: a reference (group: a Group, matched
// by role only) and the qualification codes it requires.
type actorRule struct {
	ref   string
	group bool
	roles []string // "system|code", not v3-ParticipationType
}

type dataRule struct {
	meaning cdpb.ConsentDataMeaningCode_Value
	ref     string
}

// rule is one compiled provision.
type rule struct {
	path       string // "provision.provision[1]"
	effect     effect
	period     *span
	dataPeriod *span
	actors     []actorRule
	actions    []string
	purposes   []string
	classes    []coding
	codes      []string
	labels     []coding
	data       []dataRule
	children   []*rule
	// refines: the provision states its parent's type again. R4 requires a
	// type on nested provisions (https://hl7.org/fhir/R4/consent-definitions.html#Consent.provision.type),
	// so such a child is valid; it is read as a refinement: where it
	// matches, it decides as its parent would, and its own exceptions are
	// one level deeper.
	refines bool
	// Categories (bits of category.All) and sensitive labels (bits of
	// category.Sensitive) this provision names in class or securityLabel.
	namesCats, namesSens uint8
	own                  needs // facts its own criteria read
	needs                needs // facts its subtree reads
	// specialized rules (search filters) have had their request criteria
	// evaluated: pre is the result, and only data criteria remain.
	specialized bool
	pre         tri
}

// compiled is a Consent ready for evaluation.
type compiled struct {
	ref     string // "Consent/id"
	patient string // "Patient/id"
	status  cdpb.ConsentStateCode_Value
	root    *rule
	// unknownPolicy: the root had no type and policyRule was not OPTIN or
	// OPTOUT; the Consent denies wherever its root matches.
	unknownPolicy bool
}

func (c *compiled) active() bool { return c.status == cdpb.ConsentStateCode_ACTIVE }

// compile turns a Consent into its rule tree. It never fails: what it cannot
// read becomes criteria that deny safely.
func compile(c *cpb.Consent) *compiled {
	out := &compiled{
		ref:    "Consent/" + c.GetId().GetValue(),
		status: c.GetStatus().GetValue(),
	}
	if typ, id, _, ok := resource.RefTarget(c.GetPatient()); ok && typ == "Patient" {
		out.patient = typ + "/" + id
	}
	p := c.GetProvision()
	if p == nil {
		p = &cpb.Consent_Provision{}
	}
	eff, known := rootEffect(p, c.GetPolicyRule())
	out.unknownPolicy = !known
	out.root = compileRule(p, "provision", eff, known, 0)
	return out
}

// rootEffect is the root's explicit type, else the one policyRule implies.
func rootEffect(p *cpb.Consent_Provision, policy *dtpb.CodeableConcept) (effect, bool) {
	if e, ok := typeOf(p); ok {
		return e, true
	}
	for _, cd := range policy.GetCoding() {
		if s := cd.GetSystem().GetValue(); s != systemActCode && s != oidActCode {
			continue
		}
		switch cd.GetCode().GetValue() {
		case "OPTIN", "OPTINR":
			return permit, true
		case "OPTOUT", "OPTOUTE":
			return deny, true
		}
	}
	return deny, false
}

func typeOf(p *cpb.Consent_Provision) (effect, bool) {
	switch p.GetType().GetValue() {
	case cdpb.ConsentProvisionTypeCode_PERMIT:
		return permit, true
	case cdpb.ConsentProvisionTypeCode_DENY:
		return deny, true
	}
	return 0, false
}

// compileRule compiles p with effect eff. Without withChildren (unknown
// policy) the exceptions are dropped: the provision denies outright.
// Provisions nested beyond maxDepth (refused by Validate) become a bare
// deny, so that nothing under them is ever permitted.
func compileRule(p *cpb.Consent_Provision, path string, eff effect, withChildren bool, depth int) *rule {
	r := &rule{path: path, effect: eff}
	if depth >= maxDepth {
		r.effect = deny
		return r
	}
	r.period = periodSpan(p.GetPeriod())
	r.dataPeriod = periodSpan(p.GetDataPeriod())
	if r.dataPeriod != nil {
		r.own |= needDate
	}
	r.actors = actorRules(p.GetActor())
	r.actions = conceptCodes(p.GetAction())
	for _, cd := range p.GetPurpose() {
		r.purposes = append(r.purposes, cd.GetCode().GetValue())
	}
	r.compileData(p)
	r.needs = r.own
	if withChildren {
		for i, child := range p.GetProvision() {
			ce, ok := typeOf(child)
			if !ok {
				ce = eff.opposite()
			}
			c := compileRule(child, path+".provision["+strconv.Itoa(i)+"]", ce, true, depth+1)
			c.refines = ok && ce == eff
			r.children = append(r.children, c)
			r.needs |= c.needs
		}
	}
	return r
}

// compileData compiles the criteria on the data: class, code, labels, data.
func (r *rule) compileData(p *cpb.Consent_Provision) {
	for _, cd := range p.GetClassValue() {
		c := coding{cd.GetSystem().GetValue(), cd.GetCode().GetValue()}
		r.classes = append(r.classes, c)
		r.namesCats |= catBit(c)
	}
	for _, cc := range p.GetCode() {
		for _, cd := range cc.GetCoding() {
			r.codes = append(r.codes, cd.GetSystem().GetValue()+"|"+cd.GetCode().GetValue())
		}
	}
	if len(r.codes) > 0 {
		r.own |= needCodes
	}
	for _, cd := range p.GetSecurityLabel() {
		c := coding{cd.GetSystem().GetValue(), cd.GetCode().GetValue()}
		r.labels = append(r.labels, c)
		r.namesCats |= catBit(c)
		r.namesSens |= sensBit(c.system, c.code)
		r.own |= needLabels
	}
	for _, d := range p.GetData() {
		typ, id, _, _ := resource.RefTarget(d.GetReference())
		dr := dataRule{meaning: d.GetMeaning().GetValue()}
		if typ != "" && id != "" {
			dr.ref = typ + "/" + id
		}
		r.data = append(r.data, dr)
		r.own |= needRef
		if dr.meaning == cdpb.ConsentDataMeaningCode_RELATED {
			r.own |= needRelated
		}
	}
}

func actorRules(as []*cpb.Consent_Provision_ProvisionActor) []actorRule {
	var out []actorRule
	for _, a := range as {
		var ar actorRule
		if typ, id, _, ok := resource.RefTarget(a.GetReference()); ok && id != "" {
			ar.ref, ar.group = typ+"/"+id, typ == "Group"
		}
		for _, cd := range a.GetRole().GetCoding() {
			if cd.GetSystem().GetValue() != systemParticipation {
				ar.roles = append(ar.roles, cd.GetSystem().GetValue()+"|"+cd.GetCode().GetValue())
			}
		}
		out = append(out, ar)
	}
	return out
}

func conceptCodes(ccs []*dtpb.CodeableConcept) []string {
	var out []string
	for _, cc := range ccs {
		for _, cd := range cc.GetCoding() {
			out = append(out, cd.GetCode().GetValue())
		}
	}
	return out
}

// catBit is the category bit a (system, code) names, 0 if none.
func catBit(c coding) uint8 {
	if c.system != category.System {
		return 0
	}
	return catMask(category.Code(c.code))
}

// catMask is the bit of one category; unknown codes get bitOther, which no
// rule ever allows.
func catMask(c category.Code) uint8 {
	for i, k := range category.All {
		if k == c {
			return 1 << i
		}
	}
	return bitOther
}

const bitOther = 1 << 7

func sensBit(system, code string) uint8 {
	for i, s := range category.Sensitive {
		if s.System == system && s.Code == code {
			return 1 << i
		}
	}
	return 0
}

// periodSpan converts a Period to the range it denotes, each bound widened
// to its precision; nil when there is no period.
func periodSpan(p *dtpb.Period) *span {
	if p == nil || (p.Start == nil && p.End == nil) {
		return nil
	}
	s := &span{start: -1 << 62, end: 1 << 62}
	if p.Start != nil {
		s.start = p.Start.ValueUs
	}
	if p.End != nil {
		s.end = resource.DateTimeEnd(p.End)
	}
	return s
}
