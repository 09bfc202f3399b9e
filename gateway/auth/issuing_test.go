package auth

import (
	"os"
	"path/filepath"
	"testing"
)

// TestIssuingKeyPersists: the key is created once, mode 0600, and loaded
// again from the same file.
func TestIssuingKeyPersists(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	a, err := LoadOrCreateIssuingKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Path() != filepath.Join(dir, IssuingKeyFile) {
		t.Errorf("Path = %s", a.Path())
	}
	fi, err := os.Stat(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := LoadOrCreateIssuingKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key().ID != b.Key().ID || !a.priv.Equal(b.priv) {
		t.Error("a second load made another key")
	}
	if err := os.WriteFile(a.Path(), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIssuingKey(dir); err == nil {
		t.Error("a corrupt key file was replaced or accepted")
	}
}
