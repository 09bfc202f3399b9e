package delivery

import (
	"context"
	"fmt"
	"net/url"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/store"
)

// auditPush records the disclosure a delivered notification made: an
// AuditEvent after the IHE BALP export pattern (audit.PushEvent), the
// Subscription's owner its recipient, recorded once the endpoint took it
// and before the attempt is marked delivered, so that a notification is
// never marked delivered without its record.
func (s *Service) auditPush(ctx context.Context, sub *subscription, e store.Event, d *decision) error {
	host := ""
	if u, err := url.Parse(sub.endpoint); err == nil {
		host = u.Hostname()
	}
	p := audit.Push{
		ID: d.id + "-push", Time: s.cfg.Now(), Decision: d.id, Patient: d.patient,
		What:      fmt.Sprintf("%s/%s/_history/%d", e.Type, e.ID, e.Version),
		Recipient: sub.owner, Endpoint: host, Subscription: "Subscription/" + sub.id,
	}
	if s.cfg.BaseURL != "" {
		p.Server = s.cfg.BaseURL + "/fhir"
	}
	if err := s.st.AppendAudit(ctx, audit.PushEvent(&p)); err != nil {
		return fmt.Errorf("audit push: %w", err)
	}
	return nil
}
