package server

import "testing"

// TestNotificationBase: notifications name resources by absolute URLs,
// from --base-url or else the address the server listens on.
func TestNotificationBase(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{BaseURL: "https://relais.example/", Addr: "127.0.0.1:8080"}, "https://relais.example"},
		{Config{Addr: "127.0.0.1:8080"}, "http://127.0.0.1:8080"},
		{Config{Addr: ":8080"}, "http://localhost:8080"},
		{Config{Addr: "0.0.0.0:8443", TLSCert: "c.pem"}, "https://localhost:8443"},
		{Config{Addr: "[::]:8080"}, "http://localhost:8080"},
		{Config{Addr: "relais.local:80"}, "http://relais.local:80"},
	} {
		if got := (&Server{cfg: c.cfg}).notificationBase(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cfg, got, c.want)
		}
	}
}
