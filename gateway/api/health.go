package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/auth"
)

// healthz: the process is up.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
	return nil
}

// readyz: the database is open.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	if !a.store.Ready() {
		return outcome.New(outcome.Busy, "database not open")
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ready"}`))
	return nil
}

// metadata: GET /fhir/metadata, the CapabilityStatement built at start-up.
func (a *API) metadata(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, a.capStmt)
	return nil
}

// backup: GET /admin/backup streams a consistent copy of the database. It
// needs a system scope that reads every type.
func (a *API) backup(w http.ResponseWriter, r *http.Request) error {
	if err := systemScope(r, "*", auth.Read, "backup needs system/*.r"); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="relais-`+strconv.FormatInt(a.now().Unix(), 10)+`.db"`)
	w.Header().Set("Last-Modified", httpTime(time.Now()))
	if _, err := a.store.Backup(&progressWriter{w: w, rc: http.NewResponseController(w), idle: backupIdle}); err != nil {
		// Headers are gone; all we can do is cut the stream short.
		a.log.Error("backup failed", "request_id", requestID(r))
		panic(http.ErrAbortHandler)
	}
	return nil
}

// backupIdle is how long a backup's client may take to receive each part
// of it. The server's write timeout (5 minutes for the whole response)
// cut a backup that took longer, a database of a few GB to a slow disk,
// leaving a truncated file; a client that stops reading is still cut
// within backupIdle, so that the read transaction a backup holds, which a
// remap of the growing file waits for, never stays open for long.
const backupIdle = time.Minute

// progressWriter moves the response's write deadline idle ahead before
// each write.
type progressWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	// (a writer without deadlines, a test's recorder, keeps the server's)
	if err := p.rc.SetWriteDeadline(time.Now().Add(p.idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return p.w.Write(b)
}
