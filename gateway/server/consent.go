package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
)

// HashKeyFile, in the data directory, keys the HMAC of patient and actor
// references in log lines; it is created at first start.
const HashKeyFile = "log-hmac.key"

// consentEngine builds the consent engine over the store, with its decision
// log. It reads nothing of the store (build publishes the data-category
// CodeSystem once the store may be read).
func (s *Server) consentEngine(c *codec.Codec) (*consent.Engine, *consent.Log, error) {
	key, err := loadOrCreateKey(filepath.Join(s.cfg.DataDir, HashKeyFile))
	if err != nil {
		return nil, nil, err
	}
	src := consent.NewStoreSource(s.store, c, nil)
	decisions := consent.NewLog(s.store)
	e, err := consent.New(consent.Config{
		Directory: src, CareTeams: src, Consents: src,
		HashKey: key, Recorder: decisions, Logger: s.log,
	})
	if err != nil {
		return nil, nil, err
	}
	return e, decisions, nil
}

// publishCodeSystem stores a CodeSystem of the server's own (the data
// categories, consent.CodeSystem; routing's status and explanation codes,
// routing.CodeSystem) when it is missing or of another version, so that
// GET /fhir/CodeSystem/{id} serves the one this release uses.
func publishCodeSystem(st *store.Store, cs *cspb.CodeSystem) error {
	rec, err := st.Read("CodeSystem", cs.GetId().GetValue())
	if err == nil {
		var stored struct{ Version string }
		if json.Unmarshal(rec.JSON, &stored) == nil && stored.Version == cs.GetVersion().GetValue() {
			return nil
		}
	} else if outcome.KindOf(err) != outcome.NotFound && outcome.KindOf(err) != outcome.Gone {
		return err
	}
	_, _, err = st.Update(context.Background(), cs, 0)
	return err
}

func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}
