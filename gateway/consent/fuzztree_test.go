package consent

import (
	"context"
	"strings"
	"testing"

	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// bytesReader hands out fuzz bytes, then zeros.
type bytesReader struct{ b []byte }

func (r *bytesReader) next() int {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return int(v)
}

func pick[T any](r *bytesReader, xs ...T) T { return xs[r.next()%len(xs)] }

// consentFrom builds a Consent of Patient/p1 from fuzz bytes: status,
// policy and a provision tree of any shape, with every criterion.
func consentFrom(b []byte) *cpb.Consent {
	r := &bytesReader{b: b}
	c := &cpb.Consent{
		Id:      &dtpb.Id{Value: "fz"},
		Status:  &cpb.Consent_StatusCode{Value: cdpb.ConsentStateCode_Value(r.next() % 7)},
		Patient: resource.Ref("Patient", "p1"),
	}
	if code := pick(r, "OPTIN", "OPTOUT", "OPTINR", "hipaa-auth", ""); code != "" {
		c.PolicyRule = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: systemActCode}, Code: &dtpb.Code{Value: code}}}}
	}
	c.Provision = provisionFrom(r, 0)
	return c
}

func provisionFrom(r *bytesReader, depth int) *cpb.Consent_Provision {
	p := &cpb.Consent_Provision{}
	if t := r.next() % 3; t > 0 {
		p.Type = &cpb.Consent_Provision_TypeCode{Value: cdpb.ConsentProvisionTypeCode_Value(t)}
	}
	flags := r.next()
	if flags&1 != 0 {
		typ, id, _ := strings.Cut(pick(r, nurse, sw, physio, "Practitioner/nurse", "Organization/saad", "CareTeam/ct1", "Group/g"), "/")
		a := &cpb.Consent_Provision_ProvisionActor{Reference: resource.Ref(typ, id)}
		if r.next()%2 == 0 {
			sys, code := splitToken(pick(r, g15Nurse, r94Social, g15Physio))
			a.Role = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: sys}, Code: &dtpb.Code{Value: code}}}}
		}
		p.Actor = append(p.Actor, a)
	}
	if flags&2 != 0 {
		p.Action = []*dtpb.CodeableConcept{{Coding: []*dtpb.Coding{coded("", pick(r, "access", "disclose", "use"))}}}
	}
	if flags&4 != 0 {
		p.Purpose = []*dtpb.Coding{coded("", pick(r, "TREAT", "ETREAT", "HRESCH"))}
	}
	if flags&8 != 0 {
		p.ClassValue = []*dtpb.Coding{pick(r, coded(systemResourceTypes, "Observation"), coded(categorySystem, "MED"), coded("urn:ietf:bcp:13", "text/plain"))}
	}
	if flags&16 != 0 {
		p.Code = []*dtpb.CodeableConcept{{Coding: []*dtpb.Coding{coded("http://loinc.org", pick(r, "1234-5", "999-9"))}}}
	}
	if flags&32 != 0 {
		s := pick(r, category.PSY, category.SEX, category.Sensitivity{System: categorySystem, Code: "CLIN"})
		p.SecurityLabel = []*dtpb.Coding{coded(s.System, s.Code)}
	}
	if flags&64 != 0 {
		p.Period = periodFrom(r)
	}
	if flags&128 != 0 {
		p.DataPeriod = periodFrom(r)
	}
	if r.next()%4 == 0 {
		p.Data = []*cpb.Consent_Provision_ProvisionData{{
			Meaning:   &cpb.Consent_Provision_ProvisionData_MeaningCode{Value: cdpb.ConsentDataMeaningCode_Value(r.next() % 5)},
			Reference: resource.Ref("Observation", pick(r, "o1", "o2"))}}
	}
	if depth < 24 {
		for n := r.next() % 3; n > 0; n-- {
			p.Provision = append(p.Provision, provisionFrom(r, depth+1))
		}
	}
	return p
}

func coded(system, code string) *dtpb.Coding {
	c := &dtpb.Coding{Code: &dtpb.Code{Value: code}}
	if system != "" {
		c.System = &dtpb.Uri{Value: system}
	}
	return c
}

func periodFrom(r *bytesReader) *dtpb.Period {
	year := func() *dtpb.DateTime {
		us := testNow.AddDate(r.next()%5-2, 0, 0).UnixMicro()
		return &dtpb.DateTime{ValueUs: us, Precision: dtpb.DateTime_YEAR, Timezone: "Z"}
	}
	p := &dtpb.Period{}
	if r.next()%2 == 0 {
		p.Start = year()
	}
	if r.next()%2 == 0 {
		p.End = year()
	}
	return p
}

// FuzzProvisionTree builds Consents of any shape straight as protos (the
// JSON codec is too slow to fuzz here) and checks Validate, compilation
// and decisions: Validate fails only with 422, nothing panics, a deny
// carries no obligations, a Consent that is not active changes nothing,
// and the search filter agrees with Decide.
func FuzzProvisionTree(f *testing.F) {
	f.Add([]byte{3, 0, 2, 1, 1, 0})
	f.Add([]byte{3, 1, 0, 0xff, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 2, 1, 8, 1, 1, 2, 16, 0, 1})
	f.Add([]byte{3, 3, 0, 0x41, 5, 2, 0, 1, 2, 0, 0, 1})
	m := world()
	e := newEngine(f, m, testNow)
	resources := []ResourceFacts{obs, obs2, med, psy, social, undated, task}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := consentFrom(b)
		if err := Validate(c); err != nil && len(issuesOf(err)) == 0 {
			t.Fatalf("Validate: %v without issues", err)
		}
		cc := compile(c)
		ctx := context.Background()
		for _, actor := range []string{nurse, sw, physio} {
			for _, res := range resources {
				req := Request{Patient: "Patient/p1", Actor: actor, Resource: res, Draft: c}
				d, err := e.Decide(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if !d.Permit && len(d.Obligations) > 0 {
					t.Fatalf("deny with obligations: %+v", d)
				}
				if !cc.active() {
					req.Draft = nil
					if base, _ := e.Decide(ctx, req); base.Permit != d.Permit || base.Policy != d.Policy {
						t.Fatalf("inactive Consent changed the decision: %+v vs %+v", d, base)
					}
				}
				checkFilter(t, c, actor, res, d.Permit)
			}
		}
	})
}

// checkFilter decides through a search filter over the same Consent saved.
func checkFilter(t *testing.T, c *cpb.Consent, actor string, res ResourceFacts, want bool) {
	t.Helper()
	m := world()
	m.set("Patient/p1", c)
	e := newEngine(t, m, testNow)
	f := e.NewFilter(context.Background(), Request{Actor: actor})
	typ, id, _ := strings.Cut(res.Ref, "/")
	if got := f.Allow(nil, typ, id, factIndex{res}); got != want {
		t.Fatalf("%s %s: filter %v, Decide %v", actor, res.Ref, got, want)
	}
}
