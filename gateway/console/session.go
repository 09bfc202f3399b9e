package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Sessions and cross-site request forgery defence.
//
// A session is server-side state keyed by a random id (OWASP Session
// Management Cheat Sheet): the cookie carries only the id, HttpOnly,
// SameSite=Strict, Path=/console and Secure unless --dev serves HTTP. A
// visitor gets an anonymous session (with its CSRF token) on the sign-in
// page, so the sign-in form is protected too; signing in replaces it with
// a new id (no session fixation), signing out deletes it.
//
// Every POST must carry the session's synchronizer token (OWASP CSRF
// Prevention Cheat Sheet, "Synchronizer Token Pattern") and, when the
// browser sends them, a Sec-Fetch-Site of same-origin (or none: typed by
// the user) and an Origin equal to the console's own ("Verifying Origin
// With Standard Headers"; Fetch Metadata, https://www.w3.org/TR/fetch-metadata/).

// CookieName is the session cookie.
const CookieName = "relais_console"

type session struct {
	id, csrf string
	// token is the person's access token; empty until she signs in. It
	// goes only into the Authorization header of the console's calls to
	// the API.
	token    string
	fhirUser string // for display only: the API decides from the token
	label    string // who signed in, as the sign-in page named her
	expires  time.Time
	seen     time.Time
	// searches are the criteria of her last patient searches, by handle
	// (remember); guarded by the sessions' mutex.
	searches []rememberedSearch
	// notice is what her last action did, for the page it led to
	// (announce, noticeFor); guarded by the sessions' mutex.
	notice pendingNotice
}

// pendingNotice is a catalogue key to show once on the page at path.
type pendingNotice struct{ path, key string }

// announce keeps notice key for the next GET of path in s: the page an
// action redirects to says what it did, once. In the session, not in
// the address: a reload, Back or a link kept in the history would say
// it again, and an address anyone can write would announce an action
// nobody took (a revocation, say).
func (ss *sessions) announce(s *session, path, key string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.notice = pendingNotice{path, key}
}

// noticeFor takes the notice s keeps for path, "" when none: it is shown
// once.
func (ss *sessions) noticeFor(s *session, path string) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s.notice.key == "" || s.notice.path != path {
		return ""
	}
	key := s.notice.key
	s.notice = pendingNotice{}
	return key
}

type rememberedSearch struct {
	handle string
	q      searchCriteria
}

// maxSearches is how many searches a session remembers: enough for Back
// through a morning's searches, no more.
const maxSearches = 20

// remember keeps q in s and returns its handle, a random value naming
// nothing of the patient.
func (ss *sessions) remember(s *session, q searchCriteria) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	h := randomToken()[:22]
	s.searches = append(s.searches, rememberedSearch{h, q})
	if len(s.searches) > maxSearches {
		s.searches = s.searches[len(s.searches)-maxSearches:]
	}
	return h
}

// recall returns the criteria s remembers under handle.
func (ss *sessions) recall(s *session, handle string) (searchCriteria, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, r := range s.searches {
		if subtle.ConstantTimeCompare([]byte(r.handle), []byte(handle)) == 1 {
			return r.q, true
		}
	}
	return searchCriteria{}, false
}

func (s *session) signedIn() bool { return s != nil && s.token != "" }

type sessions struct {
	mu        sync.Mutex
	m         map[string]*session
	now       func() time.Time
	ttl, idle time.Duration
}

func newSessions(now func() time.Time, ttl, idle time.Duration) *sessions {
	return &sessions{m: map[string]*session{}, now: now, ttl: ttl, idle: idle}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// get returns the live session of id, or nil.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil
	}
	now := ss.now()
	if now.After(s.expires) || now.Sub(s.seen) > ss.idle {
		delete(ss.m, id)
		return nil
	}
	s.seen = now
	return s
}

// maxAnonymous bounds the sessions of visitors not signed in, which anyone
// can open by asking for the sign-in page.
const maxAnonymous = 10000

// create starts an anonymous session, dropping others if too many exist.
func (ss *sessions) create() *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxAnonymous {
		ss.sweep()
		anonymous := 0
		for id, s := range ss.m {
			if s.token == "" {
				if anonymous++; anonymous >= maxAnonymous/2 {
					delete(ss.m, id)
				}
			}
		}
	}
	now := ss.now()
	s := &session{id: randomToken(), csrf: randomToken(), seen: now, expires: now.Add(ss.ttl)}
	ss.m[s.id] = s
	return s
}

// signIn replaces old (which may be nil) by a signed-in session with a new
// id and CSRF token, ending no later than the token.
func (ss *sessions) signIn(old *session, token, fhirUser, label string, tokenExp time.Time) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if old != nil {
		delete(ss.m, old.id)
	}
	now := ss.now()
	s := &session{id: randomToken(), csrf: randomToken(), token: token, fhirUser: fhirUser, label: label,
		seen: now, expires: now.Add(ss.ttl)}
	if !tokenExp.IsZero() && tokenExp.Before(s.expires) {
		s.expires = tokenExp
	}
	ss.m[s.id] = s
	return s
}

func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// sweep drops expired sessions; the caller holds mu.
func (ss *sessions) sweep() {
	now := ss.now()
	for id, s := range ss.m {
		if now.After(s.expires) || now.Sub(s.seen) > ss.idle {
			delete(ss.m, id)
		}
	}
}

// sessionOf returns the request's live session, or nil; ended reports a
// cookie naming a session that has ended (signed out, idle, past 8 hours
// or past its token's expiry), so that the person can be told to sign in
// again rather than refused.
func (c *Console) sessionOf(r *http.Request) (s *session, ended bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return nil, false
	}
	s = c.sessions.get(ck.Value)
	return s, s == nil
}

// signinAgain is where a person whose session ended goes: the sign-in page,
// saying so.
const signinAgain = Prefix + "/signin?expired=1"

func (c *Console) setCookie(w http.ResponseWriter, s *session) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.id, Path: Prefix, HttpOnly: true,
		Secure: !c.cfg.InsecureCookies, SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true,
		Secure: !c.cfg.InsecureCookies, SameSite: http.SameSiteStrictMode})
}

// errForgery is the refusal of a form post that fails the CSRF checks.
var errForgery = &pageError{status: http.StatusForbidden, key: "err.csrf"}

// checkOrigin refuses a form post that another site sends: a
// Sec-Fetch-Site other than same-origin (or none: typed by the user), or
// an Origin other than the console's.
func (c *Console) checkOrigin(r *http.Request) error {
	site := r.Header.Get("Sec-Fetch-Site")
	switch site {
	case "", "same-origin", "none":
	default:
		return errForgery
	}
	switch o := r.Header.Get("Origin"); {
	case o == "null":
		// The console's Referrer-Policy (no-referrer) makes browsers send
		// Origin: null on form posts (Fetch, "serializing a request
		// origin"); the Fetch Metadata header then vouches for the origin.
		if site != "same-origin" {
			return errForgery
		}
	case o != "" && !strings.EqualFold(o, c.origin(r)):
		return errForgery
	}
	return nil
}

// checkToken refuses a form post without session s's synchronizer token.
func checkToken(r *http.Request, s *session) error {
	if s == nil {
		return errForgery
	}
	got := r.PostFormValue("csrf")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return errForgery
	}
	return nil
}

// origin is the console's own origin (RFC 6454): the configured base, else
// the request's scheme and Host.
func (c *Console) origin(r *http.Request) string {
	if c.cfg.BaseURL != "" {
		if u, err := url.Parse(c.cfg.BaseURL); err == nil {
			return u.Scheme + "://" + u.Host
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// tokenClaims reads, without verifying, the claims a session needs of a
// token the API has just accepted: when it expires, and whom it names
// (for display; the API decides from the verified token on every call).
func tokenClaims(token string) (exp time.Time, fhirUser string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, ""
	}
	var c struct {
		Exp      float64 `json:"exp"`
		FHIRUser string  `json:"fhirUser"`
	}
	if json.Unmarshal(b, &c) != nil {
		return time.Time{}, ""
	}
	if c.Exp > 0 {
		exp = time.Unix(int64(c.Exp), 0)
	}
	return exp, c.FHIRUser
}
