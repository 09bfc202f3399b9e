package delivery

import (
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// FuzzParseCriteria: a Subscription's criteria, written by any client
// allowed to create one (an R4 "Type?query", or a topic's URL with its
// filter criteria), is read or refused with an error, never a panic; one
// it reads names a known type and a query.
func FuzzParseCriteria(f *testing.F) {
	f.Add("Task?owner=PractitionerRole/nurse-1&status=requested", "")
	f.Add(TopicBase+"Task", "Task?owner=PractitionerRole/nurse-1")
	f.Add(TopicBase+"ServiceRequest", "ServiceRequest?owner=Organization/o&status=active,on-hold")
	f.Add("Observation?code=http://loinc.org|1234-5&_include=Observation:subject", "")
	f.Add("Patient?name:contains=%zz", "")
	f.Add(TopicBase+"CarePlan", "Task?patient=Patient/p")
	f.Fuzz(func(t *testing.T, criteria, filter string) {
		c := &dtpb.String{Value: criteria}
		if filter != "" {
			c.Extension = []*dtpb.Extension{{
				Url:   &dtpb.Uri{Value: ExtFilterCriteria},
				Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: filter}}},
			}}
		}
		s := &subscription{}
		if err := s.parseCriteria(c); err != nil {
			return
		}
		if !resource.Known(s.typ) || s.query == nil {
			t.Fatalf("criteria %q (filter %q) read as type %q, query %v", criteria, filter, s.typ, s.query)
		}
	})
}
