package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/demo"
)

// Sign-in. With a Minter (relais serve --dev) the page offers the demo
// identities; every server also takes an access token from the site's
// identity provider (SMART App Launch or OpenID Connect, issued for this
// server's audience and signed by a key it trusts), pasted or posted by
// the provider's redirect page. Either way the API must accept the token
// before a session holds it.

// demoTTL is the lifetime of a demo identity's token.
const demoTTL = time.Hour

// maxToken bounds a pasted token (auth.MaxTokenBytes refuses larger ones).
const maxToken = 16 << 10

type signinData struct {
	Identities []demo.Identity
	Expired    bool
	Refused    string // the API's reason for refusing a token
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if s == nil {
		s = c.sessions.create()
		c.setCookie(w, s)
	}
	v := c.newView(r, s, "title.signin")
	d := signinData{Expired: r.URL.Query().Get("expired") != ""}
	if c.cfg.Minter != nil {
		d.Identities = demo.Identities
	}
	v.Data = d
	c.render(w, http.StatusOK, "signin", v)
	return nil
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request, s *session) error {
	token, label, err := c.tokenFrom(r)
	if err != nil {
		return err
	}
	k := caller{c: c.api, r: r, token: token}
	// Any valid token may read the write policy: the API's verdict on the
	// token, nothing more.
	if _, err := k.get("/admin/write-policy"); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
			v := c.newView(r, s, "title.signin")
			d := signinData{Refused: ae.text}
			if c.cfg.Minter != nil {
				d.Identities = demo.Identities
			}
			v.Data = d
			c.render(w, http.StatusUnauthorized, "signin", v)
			return nil
		}
		return err
	}
	exp, fhirUser := tokenClaims(token)
	if label == "" {
		label = fhirUser
		if label == "" {
			label = langOf(r).t("who.system")
		}
	}
	ns := c.sessions.signIn(s, token, fhirUser, label, exp)
	c.setCookie(w, ns)
	if strings.HasPrefix(fhirUser, "Patient/") {
		http.Redirect(w, r, Prefix+"/patients/"+strings.TrimPrefix(fhirUser, "Patient/"), http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	return nil
}

// tokenFrom is the token the form brings: a demo identity's, minted here,
// or the one pasted.
func (c *Console) tokenFrom(r *http.Request) (token, label string, err error) {
	if name := r.PostFormValue("identity"); name != "" {
		id, ok := demo.IdentityNamed(name)
		if !ok || c.cfg.Minter == nil {
			return "", "", &pageError{status: http.StatusBadRequest, key: "err.identity"}
		}
		tok, err := c.cfg.Minter.Mint(auth.MintOptions{Scope: id.Scope, FHIRUser: id.FHIRUser, TTL: demoTTL})
		if err != nil {
			return "", "", err
		}
		return tok, langOf(r).t("who." + id.Name), nil
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	tok = strings.TrimPrefix(tok, "Bearer ")
	if tok == "" || len(tok) > maxToken {
		return "", "", &pageError{status: http.StatusBadRequest, key: "err.token"}
	}
	return tok, "", nil
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) error {
	c.sessions.end(s.id)
	c.clearCookie(w)
	http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
	return nil
}
