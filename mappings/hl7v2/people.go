package hl7v2

import (
	"github.com/relais-health/relais/fhir/resource"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"

	"github.com/relais-health/relais/mappings/hl7v2/er7"
	"github.com/relais-health/relais/mappings/terminology"
)

// practitioner maps one XCN repetition to a Practitioner and returns a
// reference to it, or nil when the XCN names nobody.
//
// French senders (IHE PAM France) put the IDNPS in XCN-1 ("8" + RPPS
// number for RPPS professionals) with XCN-9 = ASIP-SANTE-PS &
// 1.2.250.1.71.4.2.1 and XCN-13 = RPPS or ADELI; the RPPS number is then
// added as an identifier of its own.
func (c *conv) practitioner(v er7.Value) *dtpb.Reference {
	idValue := text(v.Comp(1).Sub(1))
	a := hdSubs(v.Comp(9))
	var id string
	var name *dtpb.HumanName
	if idValue != "" {
		key := a.key
		if key == "" {
			key = c.scope
		}
		id = c.b.ID("Practitioner", key, idValue)
	} else {
		if name = c.humanName(v, 2, 10); name == nil {
			return nil
		}
		id = c.b.ID("Practitioner", c.scope, "name", name.GetFamily().GetValue(), givenOf(name))
	}
	// The first mention of a practitioner in a message is the one kept.
	if c.b.GetID("Practitioner", id) != nil {
		return resource.Ref("Practitioner", id)
	}
	if name == nil {
		name = c.humanName(v, 2, 10)
	}
	p := &prpb.Practitioner{Id: c.a.id(id)}
	if name != nil {
		p.Name = c.a.nameList.one(name)
	}
	typ := strings.ToUpper(text(v.Comp(13)))
	if id := c.identifier(idValue, a, typ); id != nil {
		p.Identifier = append(p.Identifier, id)
	}
	if a.system == terminology.IDNPS && typ == "RPPS" && len(idValue) == 12 && idValue[0] == '8' {
		p.Identifier = append(p.Identifier, &dtpb.Identifier{
			System: &dtpb.Uri{Value: terminology.RPPS}, Value: &dtpb.String{Value: idValue[1:]},
		})
	}
	c.put(p)
	return resource.Ref("Practitioner", id)
}

func givenOf(n *dtpb.HumanName) string {
	switch g := n.GetGiven(); len(g) {
	case 0:
		return ""
	case 1: // nearly always: no joining
		return g[0].GetValue()
	}
	var parts []string
	for _, g := range n.GetGiven() {
		parts = append(parts, g.GetValue())
	}
	return strings.Join(parts, " ")
}

// sendingFacility is the Organization MSH-4 (an HD) names: its namespace
// as name and, when its universal id is an ISO OID, that OID as identifier
// (urn:ietf:rfc:3986); nil when MSH-4 is empty.
func (c *conv) sendingFacility() *dtpb.Reference {
	hd := c.msg.MSH().Field(4)
	ns, uid := strings.TrimSpace(text(hd.Comp(1))), strings.TrimSpace(text(hd.Comp(2)))
	if ns == "" && uid == "" {
		return nil
	}
	id := c.b.ID("Organization", "sending-facility", c.scope)
	if c.b.GetID("Organization", id) != nil {
		return resource.Ref("Organization", id)
	}
	o := &orgpb.Organization{Id: c.a.id(id)}
	if ns != "" {
		o.Name = c.str(ns)
	}
	if uid != "" && isOID(uid) {
		o.Identifier = append(o.Identifier, &dtpb.Identifier{System: c.a.uri("urn:ietf:rfc:3986"), Value: c.a.string("urn:oid:" + uid)})
	}
	if o.Name == nil && o.Identifier == nil {
		o.Name = c.str(uid)
	}
	c.put(o)
	return resource.Ref("Organization", id)
}

// organization maps an XON (the whole field value v) to an Organization.
// The identifier is XON-10 (v2.5+) or XON-3, its authority XON-6 and its
// type XON-7.
func (c *conv) organization(v er7.Value) *dtpb.Reference {
	name := text(v.Comp(1))
	idValue := text(v.Comp(10))
	if idValue == "" {
		idValue = text(v.Comp(3))
	}
	if name == "" && idValue == "" {
		return nil
	}
	a := hdSubs(v.Comp(6))
	key := a.key
	if key == "" {
		key = c.scope
	}
	var id string
	if idValue != "" {
		id = c.b.ID("Organization", key, idValue)
	} else {
		id = c.b.ID("Organization", c.scope, "name", name)
	}
	// The first mention of an organization in a message is the one kept.
	if c.b.GetID("Organization", id) != nil {
		return resource.Ref("Organization", id)
	}
	o := &orgpb.Organization{Id: c.a.id(id), Name: c.str(name)}
	if ident := c.identifier(idValue, a, text(v.Comp(7))); ident != nil {
		o.Identifier = append(o.Identifier, ident)
	}
	c.put(o)
	return resource.Ref("Organization", id)
}
