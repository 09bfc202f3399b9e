package delivery

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzEndpointCheck: a Subscription's endpoint, written by any client
// allowed to create one, is allowed or refused, never a panic; a host the
// numeric IPv4 reading accepts as an address is checked as that address:
// none in a special-purpose range is allowed.
func FuzzEndpointCheck(f *testing.F) {
	for _, s := range []string{"https://gp.example.org/hook", "http://0x0a000001/", "https://167772161/x", "https://10.1/",
		"https://012.0.0.1/", "https://[::ffff:10.0.0.1]/", "https://1.2.3.4.5/", "https://a.0x/", "https://0x/", "https://08/"} {
		f.Add(s)
	}
	prod := &Endpoints{}
	f.Fuzz(func(t *testing.T, raw string) {
		err := prod.check(raw)
		if err != nil {
			return
		}
		if a, numeric := ipv4Number(hostOf(raw)); numeric && a.IsValid() && prod.checkAddr(a, false) != nil {
			t.Fatalf("%q allowed, but its host is %v", raw, a)
		}
	})
}

// hostOf is the host check reads.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
}
