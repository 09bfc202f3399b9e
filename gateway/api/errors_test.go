package api

import (
	"bytes"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
)

// TestWriteErrorLogsTheCause: a request that failed because the disk is
// full is logged with every summary of its error and the system's error
// ("consent decision not recorded: audit journal write failed: no space
// left on device"), where the log said "consent decision not recorded"
// alone; the caller still sees only the outer summary, never a path.
func TestWriteErrorLogsTheCause(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	a := &API{log: slog.New(slog.NewTextHandler(&logs, nil)), codec: codec.MustNew()}
	full := &fs.PathError{Op: "write", Path: "/var/lib/relais/relais.db.decisions.0", Err: syscall.ENOSPC}
	err := outcome.Wrap(outcome.Internal, "consent decision not recorded", outcome.Wrap(outcome.Internal, "audit journal write failed", full))
	w := httptest.NewRecorder()
	a.writeError(w, httptest.NewRequest("GET", "/fhir/Patient/p1", nil), err)
	if want := "consent decision not recorded: audit journal write failed: no space left on device"; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q lacks %q", logs.String(), want)
	}
	if body := w.Body.String(); w.Code != 500 || strings.Contains(body, "journal") || strings.Contains(body, "/var/lib") {
		t.Errorf("the caller sees %d %s", w.Code, body)
	}
}
