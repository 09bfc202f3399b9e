package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/relais-health/relais/fhir/store"
)

// DBFile is the database's name in the data directory (server.DBFile).
const DBFile = "relais.db"

// Verify checks the audit log of the data directory dir offline
// (store.VerifyAudit) and, when cp is not nil, that the log still holds
// what cp committed to: its first cp.TreeSize entries hash to cp's root
// (a log shorter than cp was truncated). The checkpoints kept in the
// database are checked the same way. Signatures are checked with pub,
// the key the auditor holds; nil, with the data directory's key, which
// whoever holds the directory may have replaced or removed: a checkpoint
// file with no key to check it is a problem. The problems come first
// entry first; none means the log verifies.
func Verify(dir string, cp *Checkpoint, pub ed25519.PublicKey) (store.AuditReport, []string, error) {
	var sizes []uint64
	if cp != nil {
		sizes = append(sizes, cp.TreeSize)
	}
	rep, err := store.VerifyAudit(filepath.Join(dir, DBFile), sizes...)
	if err != nil {
		return rep, nil, err
	}
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.String())
	}
	whose := "the auditor's key"
	if pub == nil {
		if key, err := LoadOrCreateKeyReadOnly(dir); err == nil {
			pub, whose = key.Public().(ed25519.PublicKey), "the data directory's key"
		}
	}
	if pub == nil && cp != nil {
		out = append(out, "the checkpoint file's signature was not checked: no verification key (the data directory has none; give --key)")
	}
	if pub != nil {
		for _, c := range rep.Checkpoints {
			var k Checkpoint
			if json.Unmarshal(c, &k) != nil || k.Verify(pub) != nil {
				out = append(out, fmt.Sprintf("a kept checkpoint (tree size %d) does not verify with %s", k.TreeSize, whose))
				continue
			}
			out = append(out, against(&rep, &k, "a kept checkpoint")...)
		}
		if cp != nil && cp.Verify(pub) != nil {
			out = append(out, "the checkpoint file is not signed by "+whose)
		}
	}
	if cp != nil {
		out = append(out, against(&rep, cp, "the checkpoint file")...)
	}
	return rep, out, nil
}

// against compares the recomputed log with checkpoint c.
func against(rep *store.AuditReport, c *Checkpoint, what string) []string {
	if c.TreeSize > rep.TreeSize {
		return []string{fmt.Sprintf("entry %d removed: the log was truncated: %s covers %d entries, the log has %d (entries %d to %d are gone)",
			rep.TreeSize, what, c.TreeSize, rep.TreeSize, rep.TreeSize, c.TreeSize-1)}
	}
	if root := rep.RootsAt[c.TreeSize]; !bytes.Equal(root, c.RootHash) {
		return []string{fmt.Sprintf("the log's first %d entries do not hash to the root of %s: an entry before %d was changed and the tree rebuilt", c.TreeSize, what, c.TreeSize)}
	}
	return nil
}

// ReadKey reads a checkpoint verification key from path: the JSON GET
// /admin/audit/key serves (its publicKey), or a C2SP note verifier key
// ("<origin>+<keyid>+base64(0x01 || key)") on a line of its own.
func ReadKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var served struct {
		PublicKey string `json:"publicKey"`
	}
	raw := []byte(nil)
	if json.Unmarshal(b, &served) == nil && served.PublicKey != "" {
		raw, err = base64.StdEncoding.DecodeString(served.PublicKey)
	} else if parts := strings.SplitN(strings.TrimSpace(string(b)), "+", 3); len(parts) == 3 {
		// name+hash+key: the name has no "+" (C2SP signed-note), the base64 key may
		raw, err = base64.StdEncoding.DecodeString(parts[2])
		if err == nil && (len(raw) != ed25519.PublicKeySize+1 || raw[0] != 0x01) {
			err = errors.New("not an Ed25519 verifier key")
		}
		if err == nil {
			raw = raw[1:]
		}
	} else {
		err = errors.New("neither the JSON of GET /admin/audit/key nor a note verifier key")
	}
	if err == nil && len(raw) != ed25519.PublicKeySize {
		err = errors.New("not an Ed25519 public key")
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return ed25519.PublicKey(raw), nil
}
