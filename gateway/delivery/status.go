package delivery

import (
	"context"
	"errors"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	subpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/subscription_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
)

// setStatus moves Subscription id to status with reason as its error (""
// clears it): R4 Subscription.status and .error, which the owner reads.
// Nothing is written when both already hold.
func (s *Service) setStatus(ctx context.Context, id string, status cpb.SubscriptionStatusCode_Value, reason string) error {
	return s.rewrite(ctx, "Subscription", id, func(m proto.Message) bool {
		sub := m.(*subpb.Subscription)
		if sub.GetStatus().GetValue() == status && sub.GetError().GetValue() == reason {
			return false
		}
		sub.Status = &subpb.Subscription_StatusCode{Value: status}
		sub.Error = nil
		if reason != "" {
			sub.Error = &dtpb.String{Value: reason}
		}
		return true
	})
}

// flagTask marks Task id as not notified: its businessStatus becomes
// DeliveryStatusSystem#undelivered, which routing (and a search on
// business-status) finds, so that the Task can be given to someone else.
// A Task already flagged, or finished, is left as it is.
func (s *Service) flagTask(ctx context.Context, id string) error {
	return s.rewrite(ctx, "Task", id, func(m proto.Message) bool {
		t := m.(*tpb.Task)
		switch t.GetStatus().GetValue() {
		case cpb.TaskStatusCode_COMPLETED, cpb.TaskStatusCode_CANCELLED, cpb.TaskStatusCode_FAILED, cpb.TaskStatusCode_ENTERED_IN_ERROR:
			return false
		}
		for _, c := range t.GetBusinessStatus().GetCoding() {
			if c.GetSystem().GetValue() == DeliveryStatusSystem {
				return false
			}
		}
		t.BusinessStatus = &dtpb.CodeableConcept{
			Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: DeliveryStatusSystem}, Code: &dtpb.Code{Value: "undelivered"}}},
			Text:   &dtpb.String{Value: "notification undelivered"},
		}
		return true
	})
}

// rewrite applies change to the current version of typ/id and stores the
// result if change says so, pinned to that version; a concurrent write
// makes it read and decide again. An absent or deleted resource is left.
func (s *Service) rewrite(ctx context.Context, typ, id string, change func(proto.Message) bool) error {
	for range 4 {
		rec, err := s.st.Read(typ, id)
		if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
			return nil
		}
		if err != nil {
			return err
		}
		m, err := s.cfg.Codec.DecodeStored(rec.JSON)
		if err != nil {
			return err
		}
		if !change(m) {
			return nil
		}
		_, err = s.st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: typ, ID: id, Resource: m, Pinned: true, Expect: rec.Version}})
		if !errors.Is(err, store.ErrMoved) {
			return err
		}
	}
	return outcome.New(outcome.Conflict, "the resource keeps changing")
}
