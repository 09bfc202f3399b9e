package store

import "testing"

// TestIndexKeyIDs: an index key gives back its id, packed or not, and a
// packed id's key is 15 bytes shorter.
func TestIndexKeyIDs(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"114c2b4762bdf2447e291d74e228adbd", "114C2B4762BDF2447E291D74E228ADBD", "demo-patient", "a", "114c2b4762bdf2447e291d74e228adbz"} {
		k := indexKey2("Observation", "subject", tagRef, "p1", "Patient", 1234, id)
		val, got, err := splitIndexKey(k, len(indexPrefix(nil, "Observation", "subject", tagRef)), 2)
		if err != nil || got != id || string(val) != "p1\x00Patient" {
			t.Errorf("%s: got %q, %q, %v", id, got, val, err)
		}
	}
	long := indexKey("Patient", "name", tagString, []byte("dupont"), 1, "114c2b4762bdf2447e291d74e228adbd")
	short := indexKey("Patient", "name", tagString, []byte("dupont"), 1, "x")
	if len(long)-len(short) != 16 {
		t.Errorf("a packed id takes %d bytes more than a 1-byte one, want 16", len(long)-len(short))
	}
}

// TestKeySystems: the packed systems are distinct, none is empty, each
// packs to two bytes that cannot start a URI, and a system that starts
// with that byte anyway packs to no packed system's bytes.
func TestKeySystems(t *testing.T) {
	seen := map[string]bool{}
	for n, sys := range keySystems[1:] {
		if sys == "" || seen[sys] {
			t.Errorf("system %d: %q empty or repeated", n+1, sys)
		}
		seen[sys] = true
		if got := keySystem(sys); got != string([]byte{packedSystem, byte(n + 1)}) {
			t.Errorf("%s packs to %q", sys, got)
		}
	}
	if len(keySystems) >= packedEscape {
		t.Errorf("%d systems: the escape byte is a number", len(keySystems))
	}
	for _, sys := range []string{"\x01\x05", "\x01", "http://example.org"} {
		if got := keySystem(sys); seen[got] || len(got) == 2 && got[0] == packedSystem && got[1] != packedEscape {
			t.Errorf("%q packs to %q, a packed system's bytes", sys, got)
		}
	}
}
