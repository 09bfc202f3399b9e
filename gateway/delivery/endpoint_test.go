package delivery

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestEndpointStatic(t *testing.T) {
	t.Parallel()
	prod := &Endpoints{}
	dev := &Endpoints{AllowHTTP: true}
	local := &Endpoints{Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}}
	for _, c := range []struct {
		url             string
		prod, dev, locl bool
	}{
		{"https://gp.example.org/hook", true, true, true},
		{"https://93.184.215.14/hook", true, true, true},
		{"https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook", true, true, true},
		{"http://gp.example.org/hook", false, true, true}, // local: checked on connect
		{"ftp://gp.example.org/hook", false, false, false},
		{"/relative", false, false, false},
		{"https://localhost/hook", false, false, true},
		{"https://api.localhost./hook", false, false, true},
		{"https://127.0.0.1/hook", false, false, true},
		{"http://127.0.0.1:8080/hook", false, false, true},
		{"https://10.0.0.1/hook", false, false, false},
		{"http://10.1.2.3/hook", false, false, true},
		{"https://172.16.5.4/hook", false, false, false},
		{"https://192.168.1.1/hook", false, false, false},
		{"https://169.254.169.254/latest/meta-data", false, false, false},
		{"https://100.64.0.1/hook", false, false, false},
		{"https://0.0.0.0/hook", false, false, false},
		{"https://224.0.0.1/hook", false, false, false},
		{"https://255.255.255.255/hook", false, false, false},
		{"https://198.18.0.1/hook", false, false, false},
		{"https://[::1]/hook", false, false, false},
		{"https://[::]/hook", false, false, false},
		{"https://[::ffff:127.0.0.1]/hook", false, false, true},
		{"https://[::ffff:169.254.169.254]/hook", false, false, false},
		{"https://[::ffff:10.0.0.1]/hook", false, false, false},
		{"https://[fe80::1%25eth0]/hook", false, false, false},
		{"https://[fd00::1]/hook", false, false, false},
		{"https://[64:ff9b::a9fe:a9fe]/hook", false, false, false},
		{"https://[2002:a9fe:a9fe::1]/hook", false, false, false},
		{"https://[2001:db8::1]/hook", false, false, false},
		{"https://[ff02::1]/hook", false, false, false},
		// IPv4 in the numeric forms a URL parser reads (WHATWG URL)
		{"http://0x0a000001/hook", false, false, false},
		{"http://167772161/hook", false, false, false},
		{"http://10.1/hook", false, false, false},
		{"http://012.0.0.1/hook", false, false, false},
		{"https://0x7f.1/hook", false, false, true},
		{"https://2130706433/hook", false, false, true},
		{"https://1.2.3.4.5/hook", false, false, false},
		{"https://gp.example.300/hook", false, false, false},
		{"https://1566832398/hook", true, true, true}, // 93.99.x.x, public
	} {
		for _, p := range []struct {
			name string
			e    *Endpoints
			want bool
		}{{"prod", prod, c.prod}, {"dev", dev, c.dev}, {"local", local, c.locl}} {
			err := p.e.check(c.url)
			if (err == nil) != p.want {
				t.Errorf("%s %s: %v, want allowed %v", p.name, c.url, err, p.want)
			}
			if err != nil && strings.Contains(err.Error(), c.url) {
				t.Errorf("the reason names the URL: %v", err)
			}
		}
	}
}

// TestEndpointCheckedOnConnect: the address connected to is checked,
// whatever name led there (a DNS answer, rebinding included).
func TestEndpointCheckedOnConnect(t *testing.T) {
	t.Parallel()
	rc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer rc.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	rebind := func(string) string { return "127.0.0.1:" + port }
	for _, c := range []struct {
		name string
		e    *Endpoints
		url  string
		ok   bool
	}{
		{"loopback literal", &Endpoints{AllowHTTP: true}, rc.URL, false},
		{"a name resolving to loopback", &Endpoints{AllowHTTP: true, redial: rebind}, "http://hook.example.org/", false},
		{"loopback allowed", &Endpoints{Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, redial: rebind}, "http://hook.example.org/", true},
		{"plain HTTP outside the allowed networks", &Endpoints{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, redial: rebind}, "http://hook.example.org/", false},
	} {
		resp, err := newClient(c.e, time.Second).Post(c.url, "application/json", strings.NewReader("{}"))
		if resp != nil {
			resp.Body.Close()
		}
		var ee *endpointError
		if c.ok && err != nil || !c.ok && !errors.As(err, &ee) {
			t.Errorf("%s: %v, want allowed %v", c.name, err, c.ok)
		}
	}
}

// TestRefusedEndpointIsDeadLetter: an endpoint that passes the static
// check but connects to a forbidden address fails its handshake (error,
// with the reason) and each event at once, as a dead letter: no retry.
func TestRefusedEndpointIsDeadLetter(t *testing.T) {
	t.Parallel()
	rc := newRecipient(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	e := newEnv(t, func(c *Config) {
		c.Endpoints = Endpoints{AllowHTTP: true, redial: func(string) string { return "127.0.0.1:" + port }}
	})
	e.subscribe("s1", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", "http://hook.example.org/h", "", "")
	e.waitFor("the handshake refused", func() bool { s, _ := e.subStatus("s1"); return s == "error" })
	if _, reason := e.subStatus("s1"); !strings.Contains(reason, "special-purpose") {
		t.Errorf("reason %q", reason)
	}
	e.task("t1", "PractitionerRole/nurse")
	// (The dead letter flags the Task, which is an event of its own.)
	e.waitFor("the dead letter", func() bool { return e.counts("s1").Dead >= 1 })
	tries, err := e.st.Attempts("s1", 1)
	if err != nil || len(tries) != 1 || !strings.Contains(tries[0].Error, "special-purpose") {
		t.Fatalf("attempts %+v %v: want one, refused", tries, err)
	}
	if got := rc.all(); len(got) != 0 {
		t.Fatalf("the recipient got %d notifications", len(got))
	}
	if err := e.svc.CheckEndpoint("https://10.0.0.1/"); err == nil {
		t.Fatal("CheckEndpoint let a private address through")
	}
}

// TestEndpointAllowList: with an allow-list, an endpoint must be a listed
// address or below it: the same scheme and host, a path under it.
func TestEndpointAllowList(t *testing.T) {
	t.Parallel()
	p := &Endpoints{AllowList: func() ([]string, error) {
		return []string{"https://gp.example.org/fhir", "https://ehr.example.com/"}, nil
	}}
	for raw, want := range map[string]bool{
		"https://gp.example.org/fhir":            true,
		"https://gp.example.org/fhir/notify":     true,
		"https://GP.example.org/fhir/notify?x=1": true,
		"https://ehr.example.com/anything":       true,
		"https://gp.example.org/fhirevil":        false,
		"https://gp.example.org/other":           false,
		"https://gp.example.org.evil.net/fhir":   false,
		"https://other.example.org/fhir":         false,
	} {
		err := p.check(raw)
		var ee *endpointError
		if got := err == nil; got != want || (err != nil && !errors.As(err, &ee)) {
			t.Errorf("%s: allowed %v (%v), want %v", raw, got, err, want)
		}
	}
	broken := &Endpoints{AllowList: func() ([]string, error) { return nil, errors.New("store closed") }}
	var ee *endpointError
	if err := broken.check("https://gp.example.org/fhir"); err == nil || errors.As(err, &ee) {
		t.Errorf("a list that cannot be read must fail, not refuse the endpoint: %v", err)
	}
}
