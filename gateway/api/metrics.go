package api

import (
	"net/http"

	"github.com/relais-health/relais/gateway/auth"
)

// metricsScrape: GET /metrics serves the server's metrics (gateway/metrics)
// to a caller whose token reads every type in the system context: they
// describe the whole server's work, across patients, as the /admin
// reports do.
func (a *API) metricsScrape(w http.ResponseWriter, r *http.Request) error {
	if a.metrics == nil {
		return errNoRoute
	}
	if err := systemScope(r, "*", auth.Read, "metrics need system/*.r"); err != nil {
		return err
	}
	a.metrics.ServeHTTP(w, r)
	return nil
}
