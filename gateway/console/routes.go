package console

import (
	"net/http"
)

// maxForm bounds a form post: the largest is a pasted token.
const maxForm = 64 << 10

// handler is a console page or form handler; its error is rendered by fail.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

type route struct {
	pattern string
	h       handler
}

// routes is the console's route table (README, "Console"). Sign-in and the
// stylesheet are the only routes open without a session; every POST is
// checked against forgery first.
func (c *Console) routes() http.Handler {
	open := []route{
		{"GET /console/signin", c.signinPage},
		{"POST /console/signin", c.signin},
	}
	authed := []route{
		{"GET /console/{$}", c.home},
		{"POST /console/signout", c.signout},
		{"POST /console/patients/search", c.findPatients},
		{"GET /console/patients", c.found},
		{"GET /console/patients/{id}", c.patient},
		{"GET /console/patients/{id}/consents", c.consents},
		{"POST /console/patients/{id}/consents", c.recordConsent},
		{"POST /console/patients/{id}/consents/{cid}/revoke", c.revokeConsent},
		{"GET /console/patients/{id}/what-if", c.whatIf},
		{"GET /console/patients/{id}/plan", c.plan},
		{"POST /console/patients/{id}/tasks/{tid}/assign", c.assignTask},
		{"POST /console/patients/{id}/tasks/{tid}/cancel", c.cancelTask},
		{"POST /console/patients/{id}/tasks/{tid}/reroute", c.rerouteTask},
		{"GET /console/patients/{id}/disclosures", c.disclosures},
		{"GET /console/operations", c.operations},
		{"POST /console/operations/inbox/{seq}/retry", c.retryMessage},
		{"POST /console/operations/inbox/{seq}/discard", c.discardMessage},
		{"POST /console/operations/dead-letters/{sub}/{n}/replay", c.replayDeadLetter},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /console/static/", c.static)
	for _, rt := range open {
		mux.Handle(rt.pattern, c.wrap(rt.h, false))
	}
	for _, rt := range authed {
		mux.Handle(rt.pattern, c.wrap(rt.h, true))
	}
	mux.Handle("/console/", c.wrap(func(http.ResponseWriter, *http.Request, *session) error { return errNotFound }, false))
	return mux
}

// wrap runs h with the request's session: the language choice kept, the
// forgery checks on posts, and, when signedIn, a signed-in session
// required (a GET without one goes to the sign-in page). A post or a page
// asked for after the session ended leads to the sign-in page, which says
// so; a post from another site is refused before that.
func (c *Console) wrap(h handler, signedIn bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keepLang(w, r)
		s, ended := c.sessionOf(r)
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := c.checkOrigin(r); err != nil {
				c.fail(w, r, s, err)
				return
			}
			if ended {
				c.clearCookie(w)
				http.Redirect(w, r, signinAgain, http.StatusSeeOther)
				return
			}
			if err := checkToken(r, s); err != nil {
				c.fail(w, r, s, err)
				return
			}
		}
		if signedIn && !s.signedIn() {
			switch {
			case r.Method != http.MethodGet:
				c.fail(w, r, s, errForgery)
			case ended:
				c.clearCookie(w)
				http.Redirect(w, r, signinAgain, http.StatusSeeOther)
			default:
				http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
			}
			return
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}
