package directory

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
)

var testCodec = codec.MustNew()

// testCommunes loads the commune table once for every test.
var testCommunes = sync.OnceValues(LoadCommunes)

func communes(tb testing.TB) *Communes {
	tb.Helper()
	c, err := testCommunes()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// openStore opens a real store in a temporary directory, checked for
// integrity at cleanup.
func openStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "relais.db"), store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	st.Follow(identity.NewLinker(testCodec))
	tb.Cleanup(func() {
		if err := st.Check(); err != nil {
			tb.Error(err)
		}
		st.Close()
	})
	return st
}

// importLine imports one NDJSON line of directory resources into st.
func importLine(t *testing.T, st *store.Store, ndjson string) {
	t.Helper()
	if _, err := Import(context.Background(), st, testCodec, strings.NewReader(ndjson+"\n"), nil); err != nil {
		t.Fatal(err)
	}
}
