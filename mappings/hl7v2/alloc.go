package hl7v2

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
)

// A message gives a few hundred small protos, most of them of a handful of
// types. Allocated one by one they were most of a conversion's cost; a
// conversion takes them from blocks instead (as the CDA mapping does for its
// Address and ContactPoint). Every element of a block belongs to the same
// Bundle, so a block lives as long as the Bundle does.

// slab hands out zero values of T from blocks that grow from 4 to 16
// elements, so that a small message does not pay for a large one. Larger
// blocks save an allocation now and then but leave more unused: the last
// block of each slab is half empty on average, and with 64-element blocks
// that was 2 KB per message, which the garbage collector then pays for.
type slab[T any] struct {
	free []T
	n    int // size of the last block
}

func (s *slab[T]) new() *T {
	if len(s.free) == 0 {
		s.n = min(max(2*s.n, 4), 16)
		s.free = make([]T, s.n)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}

// ptrs hands out one-element slices of *T (a CodeableConcept's only
// coding, a resource's only name). Their capacity is one: appending to one
// moves it rather than overwriting its neighbour.
type ptrs[T any] struct {
	free []*T
}

func (s *ptrs[T]) one(x *T) []*T {
	if len(s.free) == 0 {
		s.free = make([]*T, 32)
	}
	out := s.free[:1:1]
	s.free = s.free[1:]
	out[0] = x
	return out
}

// blocks are the slabs of one conversion.
type blocks struct {
	strings      slab[dtpb.String]
	uris         slab[dtpb.Uri]
	codes        slab[dtpb.Code]
	ids          slab[dtpb.Id]
	codings      slab[dtpb.Coding]
	concepts     slab[dtpb.CodeableConcept]
	identifiers  slab[dtpb.Identifier]
	names        slab[dtpb.HumanName]
	contacts     slab[contactPoint]
	addresses    slab[dtpb.Address]
	dateTimes    slab[dtpb.DateTime]
	participants slab[participant]
	codingList   ptrs[dtpb.Coding]
	conceptList  ptrs[dtpb.CodeableConcept]
	stringList   ptrs[dtpb.String]
	nameList     ptrs[dtpb.HumanName]
}

func (b *blocks) string(s string) *dtpb.String {
	p := b.strings.new()
	p.Value = s
	return p
}

func (b *blocks) uri(s string) *dtpb.Uri {
	p := b.uris.new()
	p.Value = s
	return p
}

func (b *blocks) code(s string) *dtpb.Code {
	p := b.codes.new()
	p.Value = s
	return p
}

func (b *blocks) id(s string) *dtpb.Id {
	p := b.ids.new()
	p.Value = s
	return p
}

// codingOf is a Coding of system, code and display ("" for none).
func (b *blocks) codingOf(system, code, display string) *dtpb.Coding {
	c := b.codings.new()
	if system != "" {
		c.System = b.uri(system)
	}
	c.Code = b.code(code)
	if display != "" {
		c.Display = b.string(display)
	}
	return c
}

// conceptOf is a CodeableConcept with one coding.
func (b *blocks) conceptOf(system, code, display string) *dtpb.CodeableConcept {
	cc := b.concepts.new()
	cc.Coding = b.codingList.one(b.codingOf(system, code, display))
	return cc
}

// textConcept is a CodeableConcept with only a text.
func (b *blocks) textConcept(t string) *dtpb.CodeableConcept {
	cc := b.concepts.new()
	cc.Text = b.string(t)
	return cc
}

// participant is an Encounter participant with room for its one type.
type participant struct {
	part  encpb.Encounter_Participant
	types [1]*dtpb.CodeableConcept
}

// contactPoint is a ContactPoint with its elements.
type contactPoint struct {
	cp     dtpb.ContactPoint
	system dtpb.ContactPoint_SystemCode
	value  dtpb.String
	use    dtpb.ContactPoint_UseCode
}
