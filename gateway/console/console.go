// Package console is Relais's web console for people: consent officers,
// discharge coordinators, and the professionals the demo names. It is
// served at /console by `relais serve`, rendered on the server with
// html/template and plain CSS (embedded, no build step), in French and
// English, and every read view works without JavaScript.
//
// # Basics
//
// The console holds no rights of its own. A signed-in person's session
// keeps her access token on the server (a random session id in an
// HttpOnly, SameSite=Strict cookie, Secure unless --dev serves plain
// HTTP); every page calls the API's handler in process, with that token in
// the Authorization header (apicall.go), so that the API's pipeline
// (authenticate, scopes, consent or write policy, record) decides and
// audits each read and write exactly as it does for any client, and no
// rule is written twice.
//
// Sign-in: with --dev, a page picks a demo identity (gateway/demo) and the
// console mints its token with the development key; otherwise the person
// brings an access token from the site's identity provider (SMART App
// Launch, https://hl7.org/fhir/smart-app-launch/app-launch.html, or any
// OpenID Connect provider the server trusts with --jwt-key): the form
// takes it once, over POST, and the token never reaches the browser's
// storage.
//
// # Caveats
//
//   - Sessions live in memory: a restart signs everyone out.
//   - No patient data is logged: the access log names the route pattern,
//     never the path; patient searches are POSTed so that names and INS
//     stay out of URLs, history and Referer headers; pages are no-store.
//   - A coordinator re-assigns a Task by hand, re-routes it (cancelled
//     with the routing-status re-route reason: the API asks the next
//     candidate in the same write), or cancels it.
package console

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/gateway/api"
	"github.com/relais-health/relais/gateway/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console"

// Minter mints development tokens (auth.DevKey): with one, the sign-in page
// offers the demo identities.
type Minter interface {
	Mint(auth.MintOptions) (string, error)
}

// Config configures the console.
type Config struct {
	// API is the API's handler: every data access goes through it.
	API   http.Handler
	Codec *codec.Codec
	// Minter, when set (relais serve --dev), signs the demo identities in.
	Minter Minter
	// InsecureCookies drops the Secure attribute of the session cookie,
	// for --dev over plain HTTP only.
	InsecureCookies bool
	// BaseURL is the public base (scheme and host) the Origin of a form
	// post must match; empty: the request's own scheme and Host.
	BaseURL string
	Logger  *slog.Logger
	Now     func() time.Time
	// SessionTTL bounds a session (default 8 h, and never beyond its
	// token's expiry); IdleTimeout ends one unused for that long
	// (default 30 min).
	SessionTTL, IdleTimeout time.Duration
}

// Console serves the web console.
type Console struct {
	cfg      Config
	log      *slog.Logger
	api      *client
	sessions *sessions
	pages    map[string]*template.Template
	handler  http.Handler
	static   http.Handler
	disclose disclosureLog
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.API == nil || cfg.Codec == nil {
		return nil, errors.New("console: API and Codec are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg: cfg, log: cfg.Logger, pages: pages,
		api:      &client{h: cfg.API, codec: cfg.Codec},
		sessions: newSessions(cfg.Now, cfg.SessionTTL, cfg.IdleTimeout),
		static:   http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub)),
	}
	c.disclose = firstOf{auditLog{}, decisionLog{}}
	c.handler = c.routes()
	return c, nil
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := c.cfg.Now()
	sw := &api.StatusWriter{ResponseWriter: w, Status: http.StatusOK}
	securityHeaders(sw.Header())
	c.handler.ServeHTTP(sw, r)
	// The pattern, never the path: a path names a patient.
	c.log.LogAttrs(r.Context(), slog.LevelInfo, "console", slog.String("method", r.Method),
		slog.String("route", routeOf(r)), slog.Int("status", sw.Status),
		slog.Float64("duration_ms", float64(c.cfg.Now().Sub(start).Microseconds())/1000))
}

// securityHeaders are sent with every console response. The policy is CSP
// Level 3 (https://www.w3.org/TR/CSP3/): scripts, styles and forms from
// this origin only, no inline script or style, no framing (also
// clickjacking defence, OWASP Clickjacking Defense Cheat Sheet); pages
// name patients, so nothing is cached and no Referer leaves.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}

// Mount serves the console under Prefix beside api, which serves
// everything else; "/" leads to the console. Only the console's paths go
// through the ServeMux, which answers a path not in canonical form
// (/fhir//Task) with an HTML redirect: the API answers such paths itself
// (gateway/api routes.go), as FHIR clients expect.
func Mount(api http.Handler, c *Console) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", c)
	mux.Handle("GET "+Prefix, http.RedirectHandler(Prefix+"/", http.StatusSeeOther))
	mux.Handle("GET /{$}", http.RedirectHandler(Prefix+"/", http.StatusSeeOther))
	mux.Handle("/", api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/" || p == Prefix || strings.HasPrefix(p, Prefix+"/") {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// pathID is a path variable that must be a FHIR id
// (https://hl7.org/fhir/R4/datatypes.html#id).
func pathID(r *http.Request, name string) (string, bool) {
	v := r.PathValue(name)
	if v == "" || len(v) > 64 {
		return "", false
	}
	for _, ch := range v {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.') {
			return "", false
		}
	}
	return v, !strings.HasPrefix(v, ".")
}
