package api

import (
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
	if _, err := a.store.Backup(w); err != nil {
		// Headers are gone; all we can do is cut the stream short.
		a.log.Error("backup failed", "request_id", requestID(r))
		panic(http.ErrAbortHandler)
	}
	return nil
}
