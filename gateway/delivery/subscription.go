package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	subpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/subscription_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/gateway/consent"
)

// IGVersion is the version of the Subscriptions R5 Backport IG this
// package follows: http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/
const IGVersion = "1.1.0"

// The backport IG's canonical URLs (STU 1.1).
const (
	backport = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	// ExtPayloadContent on Subscription.channel.payload: empty, id-only or
	// full-resource.
	ExtPayloadContent = backport + "backport-payload-content"
	// ExtFilterCriteria on Subscription.criteria of a topic-based
	// Subscription: the topic's filters as a search string.
	ExtFilterCriteria = backport + "backport-filter-criteria"
	// ExtHeartbeatPeriod on Subscription.channel: seconds between
	// heartbeats when nothing is sent.
	ExtHeartbeatPeriod = backport + "backport-heartbeat-period"
	profileStatus      = backport + "backport-subscription-status-r4"
	// ProfileSubscription is the IG's profile of a topic-based R4
	// Subscription, which the CapabilityStatement lists as supported.
	ProfileSubscription = backport + "backport-subscription"
	// ExtTopicCanonical, on the CapabilityStatement's Subscription
	// resource, advertises a topic served (IG topic discovery).
	ExtTopicCanonical = backport + "capabilitystatement-subscriptiontopic-canonical"
	// ExtSecret on the Subscription (valueString): the secret its
	// notifications are signed with (SignatureHeader). Never shown to a
	// reader (WithoutSecret).
	ExtSecret     = "https://relais-health.github.io/fhir/StructureDefinition/subscription-secret"
	profileNotify = backport + "backport-subscription-notification-r4"
)

// Content of a notification (backport-payload-content).
const (
	ContentEmpty  = "empty"
	ContentIDOnly = "id-only"
	ContentFull   = "full-resource"
)

// TopicBase prefixes the canonical URLs of the topics Relais serves; a
// topic's URL is TopicBase + its resource type (".../SubscriptionTopic/Task").
const TopicBase = "https://relais-health.github.io/fhir/SubscriptionTopic/"

// Topics are the topic-based Subscriptions Relais serves (backport IG,
// "Topic-Based Subscriptions"): a topic per resource type, triggered by
// every create and update of one; its filters, by name, and the search
// parameter each is evaluated as. A Task's owner is its owner; a
// ServiceRequest's is its performer.
var Topics = map[string]map[string]string{
	"Task":           {"owner": "owner", "requester": "requester", "status": "status", "patient": "patient"},
	"ServiceRequest": {"owner": "performer", "requester": "requester", "status": "status", "patient": "patient"},
	"CarePlan":       {"status": "status", "patient": "patient"},
	"Consent":        {"status": "status", "patient": "patient"},
}

// TopicURLs are the canonical URLs of Topics, sorted.
func TopicURLs() []string {
	var out []string
	for typ := range Topics {
		out = append(out, TopicBase+typ)
	}
	slices.Sort(out)
	return out
}

// subscription is what delivery needs of a stored Subscription.
type subscription struct {
	id      string
	version uint64
	owner   string // consent.OwnerSystem tag: who created it
	status  cpb.SubscriptionStatusCode_Value
	topic   string // canonical URL; "" for an R4 criteria Subscription
	typ     string // the resource type it matches
	query   *search.Query
	// invalid says why the Subscription cannot be served (it matches
	// nothing; its handshake sets it to error with this reason).
	invalid   string
	endpoint  string
	headers   [][2]string
	content   string
	heartbeat time.Duration
	errText   string // Subscription.error
	secret    string // ExtSecret: notifications are signed when set
}

// parseSubscription reads m, version version, for delivery. A Subscription
// delivery cannot serve (not rest-hook, bad criteria) comes back with
// invalid set.
func parseSubscription(m *subpb.Subscription, version uint64) *subscription {
	s := &subscription{id: m.GetId().GetValue(), version: version, status: m.GetStatus().GetValue(), content: ContentIDOnly,
		errText: m.GetError().GetValue()}
	for _, t := range m.GetMeta().GetTag() {
		if t.GetSystem().GetValue() == consent.OwnerSystem {
			s.owner = t.GetCode().GetValue()
		}
	}
	for _, e := range m.GetExtension() {
		if e.GetUrl().GetValue() == ExtSecret {
			s.secret = e.GetValue().GetStringValue().GetValue()
		}
	}
	ch := m.GetChannel()
	s.endpoint = ch.GetEndpoint().GetValue()
	for _, h := range ch.GetHeader() {
		name, value, ok := strings.Cut(h.GetValue(), ":")
		if ok && strings.TrimSpace(name) != "" {
			s.headers = append(s.headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
	}
	if c := extCode(ch.GetPayload().GetExtension(), ExtPayloadContent); c != "" {
		s.content = c
	}
	if n, ok := extUnsigned(ch.GetExtension(), ExtHeartbeatPeriod); ok && n > 0 {
		s.heartbeat = time.Duration(n) * time.Second
	}
	if err := s.parseCriteria(m.GetCriteria()); err != nil {
		s.invalid = err.Error()
	}
	switch {
	case s.invalid != "":
	case ch.GetType().GetValue() != cpb.SubscriptionChannelTypeCode_REST_HOOK:
		s.invalid = "only rest-hook channels are supported"
	case s.content != ContentEmpty && s.content != ContentIDOnly && s.content != ContentFull:
		s.invalid = "unknown payload content " + s.content
	case s.endpoint == "":
		s.invalid = "no channel.endpoint"
	}
	return s
}

// parseCriteria reads an R4 criteria ("Task?owner=…", R4 Subscription
// .criteria) or a topic's canonical URL with its filter criteria
// extensions (backport IG, backport-filter-criteria).
func (s *subscription) parseCriteria(c *dtpb.String) error {
	crit := strings.TrimSpace(c.GetValue())
	if rest, ok := strings.CutPrefix(crit, TopicBase); ok {
		filters, ok := Topics[rest]
		if !ok {
			return fmt.Errorf("unknown topic %s", crit)
		}
		s.topic, s.typ = crit, rest
		v := url.Values{}
		for _, e := range c.GetExtension() {
			if e.GetUrl().GetValue() != ExtFilterCriteria {
				continue
			}
			typ, q, err := splitCriteria(e.GetValue().GetStringValue().GetValue())
			if err != nil {
				return err
			}
			if typ != rest {
				return fmt.Errorf("filter criteria on %s for topic %s", typ, rest)
			}
			for name, vals := range q {
				param, ok := filters[name]
				if !ok {
					return fmt.Errorf("topic %s has no filter %q", rest, name)
				}
				v[param] = append(v[param], vals...)
			}
		}
		return s.plan(v)
	}
	typ, v, err := splitCriteria(crit)
	if err != nil {
		return err
	}
	s.typ = typ
	return s.plan(v)
}

func (s *subscription) plan(v url.Values) error {
	q, err := search.Parse(s.typ, v, true)
	if err != nil {
		return fmt.Errorf("criteria: %w", err)
	}
	// A view (_summary, _elements) would not shape the notifications, which
	// carry what the payload content says: refused as the other result
	// parameters are, never taken and left unapplied.
	if len(q.Include) > 0 || len(q.RevInclude) > 0 || len(q.Sort) > 0 || !q.View.Whole() {
		return errors.New("criteria: only filters are supported (no _include, _revinclude, _sort, _summary or _elements)")
	}
	if q.Chained() {
		// matched against the written resource alone (search.Query.Match)
		return errors.New("criteria: chained parameters are not supported")
	}
	s.query = q
	return nil
}

// splitCriteria splits "Type?query".
func splitCriteria(c string) (string, url.Values, error) {
	typ, raw, _ := strings.Cut(strings.TrimSpace(c), "?")
	if !resource.Known(typ) || !search.Searchable(typ) {
		return "", nil, fmt.Errorf("criteria: %q is not a searchable resource type", typ)
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return "", nil, fmt.Errorf("criteria: %w", err)
	}
	return typ, v, nil
}

func extCode(exts []*dtpb.Extension, u string) string {
	for _, e := range exts {
		if e.GetUrl().GetValue() == u {
			return e.GetValue().GetCode().GetValue()
		}
	}
	return ""
}

func extUnsigned(exts []*dtpb.Extension, u string) (uint32, bool) {
	for _, e := range exts {
		if e.GetUrl().GetValue() == u {
			if v := e.GetValue().GetUnsignedInt(); v != nil {
				return v.GetValue(), true
			}
			if v := e.GetValue().GetPositiveInt(); v != nil {
				return v.GetValue(), true
			}
		}
	}
	return 0, false
}

// matching reports whether s takes events: active; in error (its events
// keep being recorded, and delivered once the endpoint answers); or
// requested, waiting for its handshake: what is written meanwhile is
// delivered after it, so that an owner who moves her Subscription to a
// new endpoint loses nothing. Only off stops recording.
func (s *subscription) matching() bool {
	switch s.status {
	case cpb.SubscriptionStatusCode_ACTIVE, cpb.SubscriptionStatusCode_ERROR, requestedStatus:
		return s.invalid == ""
	}
	return false
}

// dropSecret removes the ExtSecret extensions of m, and reports whether
// there were any.
func dropSecret(m *subpb.Subscription) bool {
	n := len(m.GetExtension())
	m.Extension = slices.DeleteFunc(m.Extension, func(e *dtpb.Extension) bool {
		return e.GetUrl().GetValue() == ExtSecret
	})
	return len(m.Extension) != n
}

// WithoutSecret is a stored resource's JSON as anyone reading it is shown
// it: a Subscription's secret (ExtSecret) is never shown, to its owner
// neither; it is only used to sign. js is returned as it is unless it is
// a Subscription that holds one.
func WithoutSecret(c *codec.Codec, typ string, js []byte) ([]byte, error) {
	if typ != "Subscription" || !bytes.Contains(js, []byte(ExtSecret)) {
		return js, nil
	}
	m, err := c.DecodeStored(js)
	if err != nil {
		return nil, fmt.Errorf("decode Subscription: %w", err)
	}
	sub, ok := m.(*subpb.Subscription)
	if !ok || !dropSecret(sub) {
		return js, nil
	}
	return c.Encode(sub)
}
