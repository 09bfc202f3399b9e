package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/ingest"
)

// Operations, for system callers: the HL7 v2 inbox and its set-aside
// messages (retry, discard), and push delivery's dead letters (replay).
// The API decides who may (README, "The FHIR API": /admin/inbox and
// /admin/delivery/dead-letters); a section the caller may not see says so.

type operationsData struct {
	Inbox        *ingest.InboxReport
	InboxRefused string
	Dead         []delivery.DeadLetter
	DeadRefused  string
}

func (c *Console) operations(w http.ResponseWriter, r *http.Request, s *session) error {
	k := c.callerOf(r, s)
	d := operationsData{}
	if res, err := k.get("/admin/inbox"); err != nil {
		if d.InboxRefused, err = refusal(err); err != nil {
			return err
		}
	} else {
		d.Inbox = &ingest.InboxReport{}
		if err := json.Unmarshal(res.body, d.Inbox); err != nil {
			return err
		}
	}
	if res, err := k.get("/admin/delivery/dead-letters?limit=100"); err != nil {
		if d.DeadRefused, err = refusal(err); err != nil {
			return err
		}
	} else if err := json.Unmarshal(res.body, &d.Dead); err != nil {
		return err
	}
	v := c.newView(r, s, "title.operations")
	v.Data = d
	c.render(w, http.StatusOK, "operations", v)
	return nil
}

// refusal is the text of a 403 or 404 (a section not for this caller, or
// not served); any other error is returned.
func refusal(err error) (string, error) {
	var ae *apiError
	if errors.As(err, &ae) && (ae.status == http.StatusForbidden || ae.status == http.StatusNotFound) {
		if ae.text == "" {
			return http.StatusText(ae.status), nil
		}
		return ae.text, nil
	}
	return "", err
}

func seqOf(r *http.Request, name string) (string, bool) {
	n, err := strconv.ParseUint(r.PathValue(name), 10, 64)
	if err != nil || n == 0 {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}

func (c *Console) retryMessage(w http.ResponseWriter, r *http.Request, s *session) error {
	seq, ok := seqOf(r, "seq")
	if !ok {
		return errNotFound
	}
	if _, err := c.callerOf(r, s).do("POST", "/admin/inbox/failed/"+seq+"/retry", nil, nil); err != nil {
		return err
	}
	c.done(w, r, s, Prefix+"/operations", "done.retried")
	return nil
}

func (c *Console) discardMessage(w http.ResponseWriter, r *http.Request, s *session) error {
	seq, ok := seqOf(r, "seq")
	if !ok {
		return errNotFound
	}
	if _, err := c.callerOf(r, s).do("DELETE", "/admin/inbox/failed/"+seq, nil, nil); err != nil {
		return err
	}
	c.done(w, r, s, Prefix+"/operations", "done.discarded")
	return nil
}

func (c *Console) replayDeadLetter(w http.ResponseWriter, r *http.Request, s *session) error {
	sub, ok1 := pathID(r, "sub")
	n, ok2 := seqOf(r, "n")
	if !ok1 || !ok2 {
		return errNotFound
	}
	if _, err := c.callerOf(r, s).do("POST", "/admin/delivery/dead-letters/"+sub+"/"+n+"/replay", nil, nil); err != nil {
		return err
	}
	c.done(w, r, s, Prefix+"/operations", "done.replayed")
	return nil
}
