package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	subpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/subscription_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
)

// Endpoints is which rest-hook endpoints notifications may go to. The
// zero value is production's: HTTPS only, and never to a special-purpose
// address (RFC 6890 and its successors: private, loopback, link-local,
// unspecified, multicast, shared, documentation, benchmarking, reserved,
// and the IPv6 forms that embed an IPv4 address).
//
// The address is checked twice. Statically, on the URL, when the
// Subscription is created or updated (CheckEndpoint: a refusal is a 422)
// and before each handshake and attempt. Then on each connection, on the
// address actually connected to, after name resolution (net.Dialer
// Control): a name that resolves, or later re-resolves (DNS rebinding),
// to a forbidden address is refused at every attempt, and the attempt
// fails for good (a dead letter, with the reason). No proxy is used and
// redirects are not followed (a 3xx is a failure), so that the address
// checked is the one the notification goes to.
type Endpoints struct {
	// AllowHTTP accepts plain http:// endpoints anywhere they are
	// otherwise allowed (relais serve --dev).
	AllowHTTP bool
	// Networks are allowed whatever their kind (relais serve
	// --allow-endpoint-network, e.g. 127.0.0.0/8 in tests, or a private
	// network of recipients); plain HTTP is accepted to them.
	Networks []netip.Prefix
	// AllowList, when set, returns the URL prefixes an endpoint must start
	// with (relais serve --endpoint-allow-list: the address of every
	// active directory Endpoint).
	AllowList func() ([]string, error)

	// redial, in tests only, replaces the address a connection is made
	// to, as a DNS answer would: the check sees the address connected to.
	redial func(addr string) string
}

// special lists the special-purpose blocks that netip.Addr's own
// predicates (loopback, private, link-local, multicast, unspecified) do
// not cover: IANA's IPv4 and IPv6 Special-Purpose Address Registries
// (RFC 6890), and the IPv6 prefixes that carry an IPv4 address, which
// could lead to a forbidden one.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",          // "this network" (RFC 791)
		"100.64.0.0/10",      // shared address space, carrier-grade NAT (RFC 6598)
		"192.0.0.0/24",       // IETF protocol assignments (RFC 6890)
		"192.0.2.0/24",       // TEST-NET-1 (RFC 5737)
		"192.88.99.0/24",     // 6to4 relay anycast (RFC 7526)
		"198.18.0.0/15",      // benchmarking (RFC 2544)
		"198.51.100.0/24",    // TEST-NET-2 (RFC 5737)
		"203.0.113.0/24",     // TEST-NET-3 (RFC 5737)
		"240.0.0.0/4",        // reserved (RFC 1112), and the limited broadcast
		"::/96",              // IPv4-compatible, unspecified, loopback (RFC 4291)
		"64:ff9b::/96",       // NAT64 well-known prefix (RFC 6052)
		"64:ff9b:1::/48",     // local-use NAT64 (RFC 8215)
		"100::/64",           // discard-only (RFC 6666)
		"2001::/23",          // IETF protocol assignments, Teredo (RFC 2928, 4380)
		"2001:db8::/32",      // documentation (RFC 3849)
		"2002::/16",          // 6to4 (RFC 3056)
		"fc00::/7",           // unique local (RFC 4193)
		"fec0::/10",          // site-local, deprecated (RFC 3879)
		"3fff::/20",          // documentation (RFC 9637)
		"5f00::/16",          // segment routing SIDs (RFC 9602)
		"2001:20::/28",       // ORCHIDv2 (RFC 7343)
		"::ffff:0:0:0/96",    // IPv4-translated (RFC 2765)
		"ff00::/8",           // multicast
		"fe80::/10",          // link-local
		"169.254.0.0/16",     // link-local
		"224.0.0.0/4",        // multicast
		"127.0.0.0/8",        // loopback
		"10.0.0.0/8",         // private (RFC 1918)
		"172.16.0.0/12",      // private
		"192.168.0.0/16",     // private
		"255.255.255.255/32", // limited broadcast (RFC 919)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// allowedNet reports whether a is in one of the allowed networks.
func (p *Endpoints) allowedNet(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.Networks {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// checkAddr refuses a special-purpose address outside the allowed
// networks; an IPv4-mapped IPv6 address is its IPv4 address.
func (p *Endpoints) checkAddr(a netip.Addr, plain bool) error {
	a = a.Unmap().WithZone("")
	if p.allowedNet(a) {
		return nil
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsValid() {
		return &endpointError{"the endpoint's address " + a.String() + " is special-purpose (RFC 6890)"}
	}
	for _, n := range special {
		if n.Contains(a) {
			return &endpointError{"the endpoint's address " + a.String() + " is special-purpose (RFC 6890)"}
		}
	}
	if plain && !p.AllowHTTP {
		return &endpointError{"plain HTTP to " + a.String() + ", outside the allowed networks"}
	}
	return nil
}

// endpointError is an endpoint refused by policy: retrying cannot help.
type endpointError struct{ reason string }

func (e *endpointError) Error() string { return "endpoint refused: " + e.reason }

// check is the static check of an endpoint URL: absolute http(s), HTTPS
// unless allowed, no special-purpose IP literal or local name, and on the
// allow-list when there is one. The reason names the rule, never the URL
// (it may carry a token of the recipient's).
func (p *Endpoints) check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return &endpointError{"channel.endpoint is not an absolute URL"}
	}
	plain := false
	switch u.Scheme {
	case "https":
	case "http":
		plain = true
	default:
		return &endpointError{"channel.endpoint must be https"}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	a, err := netip.ParseAddr(host)
	if err != nil {
		// 10.1, 167772161, 0x0a000001, 012.0.0.1: IPv4 addresses in the
		// forms a URL parser reads as such (WHATWG URL, IPv4 parser) and
		// some resolvers do too
		var numeric bool
		a, numeric = ipv4Number(host)
		if numeric && !a.IsValid() {
			return &endpointError{"the endpoint's host is not a valid IPv4 address"}
		}
		if numeric {
			err = nil
		}
	}
	if err == nil {
		if err := p.checkAddr(a, plain); err != nil {
			return err
		}
	} else {
		if host == "localhost" || strings.HasSuffix(host, ".localhost") || host == "" {
			// RFC 6761: resolves to loopback, whatever DNS says.
			if !p.allowedNet(netip.MustParseAddr("127.0.0.1")) && !p.allowedNet(netip.IPv6Loopback()) {
				return &endpointError{"the endpoint's host is a loopback name (RFC 6761)"}
			}
		}
		if plain && !p.AllowHTTP && len(p.Networks) == 0 {
			return &endpointError{"channel.endpoint must be https"}
		}
	}
	if p.AllowList != nil {
		prefixes, err := p.AllowList()
		if err != nil {
			return fmt.Errorf("endpoint allow-list: %w", err)
		}
		ok := false
		for _, pre := range prefixes {
			if under(raw, pre) {
				ok = true
				break
			}
		}
		if !ok {
			return &endpointError{"channel.endpoint is not the address of an active directory Endpoint"}
		}
	}
	return nil
}

// ipv4Number reads host as the WHATWG URL standard's IPv4 parser does
// (section 3.5): one to four dot-separated numbers, each decimal, octal
// (a leading 0) or hexadecimal (0x), the last filling the remaining
// bytes. numeric reports whether host ends in a number, so is meant as an
// address; addr is invalid when it is not a valid one.
func ipv4Number(host string) (addr netip.Addr, numeric bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if _, ok := ipv4Part(last); !ok {
		return netip.Addr{}, false
	}
	if len(parts) > 4 {
		return netip.Addr{}, true
	}
	var n uint64
	for i, p := range parts {
		v, ok := ipv4Part(p)
		if !ok {
			return netip.Addr{}, true
		}
		if i < len(parts)-1 {
			if v > 255 {
				return netip.Addr{}, true
			}
			n = n<<8 | v
			continue
		}
		bits := 8 * uint(5-len(parts))
		if v >= 1<<bits {
			return netip.Addr{}, true
		}
		n = n<<bits | v
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// ipv4Part parses one number of ipv4Number.
func ipv4Part(p string) (uint64, bool) {
	base := 10
	switch {
	case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
		p, base = p[2:], 16
		if p == "" {
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		p, base = p[1:], 8
	}
	if p == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(p, base, 32)
	return v, err == nil
}

// under reports whether the URL raw is the address base or below it: the
// same scheme and host (case-insensitive, RFC 3986 section 6.2.2.1) and a
// path that is base's or starts with it and a "/", so that an allowed
// https://gp.example/fhir admits https://gp.example/fhir/notify, not
// https://gp.example/fhirevil nor https://gp.example.evil.
func under(raw, base string) bool {
	u, err1 := url.Parse(raw)
	b, err2 := url.Parse(base)
	if err1 != nil || err2 != nil || base == "" || !strings.EqualFold(u.Scheme, b.Scheme) || !strings.EqualFold(u.Host, b.Host) {
		return false
	}
	bp := strings.TrimSuffix(b.EscapedPath(), "/")
	up := u.EscapedPath()
	return up == bp || strings.HasPrefix(up, bp+"/") || (bp == "" && up == "")
}

// CheckEndpoint is the static check of a Subscription's endpoint, for the
// API to refuse a Subscription at create or update: an Unprocessable
// outcome saying which rule it breaks.
func (s *Service) CheckEndpoint(raw string) error {
	err := s.cfg.Endpoints.check(raw)
	var ee *endpointError
	if errors.As(err, &ee) {
		return outcome.New(outcome.Unprocessable, "the Subscription's endpoint is not allowed",
			outcome.Issue{Severity: outcome.SevError, Path: "Subscription.channel.endpoint", Text: ee.reason})
	}
	return err
}

type plainKey struct{}

// newClient is the HTTP client of notifications: every connection it
// makes is to an address p allows (checked on the resolved address, in
// the dialer's Control, for each address tried), without proxy or
// redirects.
func newClient(p *Endpoints, timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		plain, _ := ctx.Value(plainKey{}).(bool)
		d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return &endpointError{"unparsable address"}
				}
				return p.checkAddr(ap.Addr(), plain)
			}}
		if p.redial != nil {
			addr = p.redial(addr)
		}
		return d.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CheckSubscription is CheckEndpoint on m's channel.endpoint, when m is a
// Subscription with a rest-hook channel (other channels are refused at
// the handshake), and checks its channel.header: each "Name: value", the
// name an RFC 9110 token, the value without CR, LF or NUL (RFC 9110
// section 5.5), so that no header a subscriber writes can add another to
// the notifications.
func (s *Service) CheckSubscription(m proto.Message) error {
	sub, ok := m.(*subpb.Subscription)
	if !ok || sub.GetChannel().GetType().GetValue() != cpb.SubscriptionChannelTypeCode_REST_HOOK {
		return nil
	}
	for _, h := range sub.GetChannel().GetHeader() {
		name, value, ok := strings.Cut(h.GetValue(), ":")
		if !ok || !httpToken(strings.TrimSpace(name)) || strings.ContainsAny(value, "\r\n\x00") {
			return outcome.New(outcome.Unprocessable, "a Subscription header is not a valid HTTP header",
				outcome.Issue{Severity: outcome.SevError, Path: "Subscription.channel.header",
					Text: "each header is \"Name: value\", the name a token and the value on one line (RFC 9110 section 5)"})
		}
	}
	return s.CheckEndpoint(sub.GetChannel().GetEndpoint().GetValue())
}

// httpToken reports whether s is an RFC 9110 token (section 5.6.2).
func httpToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ClientStatus applies the Subscription life cycle to a write by a client
// (R4 subscription.html, Subscription.status: "A client can only submit
// subscription resources in the requested or off state. Only the server
// can move a subscription from requested to active, and then to error"):
// the client asks, the server activates. A Subscription written active
// becomes requested, and is activated by its handshake, unless it was
// stored active with the same channel (the endpoint already answered);
// one written error keeps the stored status when that was active or error
// with the same channel, and is requested otherwise, so that no endpoint
// is sent events before it answered a handshake. Off and requested are
// the client's to set. old is the stored version (nil when new).
func ClientStatus(old, m proto.Message) {
	sub, ok := m.(*subpb.Subscription)
	if !ok {
		return
	}
	written := sub.GetStatus().GetValue()
	if written != cpb.SubscriptionStatusCode_ACTIVE && written != cpb.SubscriptionStatusCode_ERROR {
		return
	}
	if prev, ok := old.(*subpb.Subscription); ok && proto.Equal(prev.GetChannel(), sub.GetChannel()) {
		switch stored := prev.GetStatus().GetValue(); {
		case stored == cpb.SubscriptionStatusCode_ACTIVE && written == cpb.SubscriptionStatusCode_ACTIVE:
			return
		case written == cpb.SubscriptionStatusCode_ERROR &&
			(stored == cpb.SubscriptionStatusCode_ACTIVE || stored == cpb.SubscriptionStatusCode_ERROR):
			sub.Status.Value = stored
			return
		}
	}
	sub.Status.Value = cpb.SubscriptionStatusCode_REQUESTED
}
