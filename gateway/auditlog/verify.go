package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/relais-health/relais/fhir/store"
)

// DBFile is the database's name in the data directory (server.DBFile).
const DBFile = "relais.db"

// Verify checks the audit log of the data directory dir offline
// (store.VerifyAudit) and, when cp is not nil, that the log still holds
// what cp committed to: its first cp.TreeSize entries hash to cp's root
// (a log shorter than cp was truncated). The checkpoints kept in the
// database are checked the same way. The problems come first entry first;
// none means the log verifies.
func Verify(dir string, cp *Checkpoint) (store.AuditReport, []string, error) {
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
	if key, err := LoadOrCreateKeyReadOnly(dir); err == nil {
		pub := key.Public().(ed25519.PublicKey)
		for _, c := range rep.Checkpoints {
			var k Checkpoint
			if json.Unmarshal(c, &k) != nil || k.Verify(pub) != nil {
				out = append(out, fmt.Sprintf("a kept checkpoint (tree size %d) does not verify with the data directory's key", k.TreeSize))
				continue
			}
			out = append(out, against(&rep, &k, "a kept checkpoint")...)
		}
		if cp != nil && cp.Verify(pub) != nil {
			out = append(out, "the checkpoint file is not signed by the data directory's key")
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
