package ingest

import (
	"context"
	"strconv"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/store"
)

// The ingestion's AuditEvents (audit.ImportEvent, after IHE BALP's
// create/import pattern): one per HL7 v2 message written, recorded in the
// batch that writes it, and one per CDA or FHIR document stored. They name the
// patient and the source Binary and Provenance the mapping keeps, never
// the content.

// importEvent is queued message it's event; failed when it was accepted
// and could not be written.
func (in *Ingester) importEvent(it *queued, failed bool) audit.Event {
	h := it.header
	at := it.received
	if at.IsZero() { // its payload could not be read back
		at = in.opts.Now()
	}
	i := audit.Import{
		ID: "hl7v2-" + strconv.FormatUint(it.seq, 10) + "-" + strconv.FormatInt(in.opts.Now().UnixNano(), 36), Time: at,
		Format: "HL7v2", Patient: h.Patient,
		Sender: h.SendingApplication, Failed: failed,
	}
	if it.patient != "" {
		// the stored Patient identity resolution linked the message to,
		// not the one its identifiers would have made (gateway/identity)
		i.Patient = it.patient
	}
	if h.SendingFacility != "" {
		i.Sender += "@" + h.SendingFacility
	}
	if h.MessageCode != "" {
		i.Format += " " + h.MessageCode + "^" + h.TriggerEvent
	}
	i.Source = sources(it.entries)
	return audit.ImportEvent(&i)
}

// sources are the message's own record among entries: its source Binary
// and its Provenance.
func sources(entries []store.TxEntry) []string {
	var out []string
	for _, e := range entries {
		if e.Type == "Binary" || e.Type == "Provenance" {
			out = append(out, e.Type+"/"+e.ID)
		}
	}
	return out
}

// documentEvent is the import event of a document of format (CDA, FHIR
// document) whose resolved entries are entries, sent by the caller ctx
// names (WithCaller).
func (in *Ingester) documentEvent(ctx context.Context, format string, entries []store.TxEntry) audit.Event {
	c, _ := ctx.Value(callerKey{}).(caller)
	prefix := "cda-"
	if format != "CDA" {
		prefix = "doc-"
	}
	i := audit.Import{ID: prefix + strconv.FormatInt(in.opts.Now().UnixNano(), 36), Time: in.opts.Now(), Format: format,
		Patient: resolvedPatient(entries), Source: sources(entries), Sender: c.who, Token: c.token, Peers: c.peers}
	return audit.ImportEvent(&i)
}

type callerKey struct{}

type caller struct {
	who, token string
	peers      audit.Peers
}

// WithCaller names, for the import events of what is ingested with ctx,
// who sent it: "Type/id" (the token's fhirUser) or "client:<id>", its
// access token ID (jti), and the request's network ends. A document
// carries no sender of its own, as an HL7 v2 message's MSH does.
func WithCaller(ctx context.Context, who, token string, peers audit.Peers) context.Context {
	return context.WithValue(ctx, callerKey{}, caller{who, token, peers})
}
