package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// AuditProblem is one departure of a stored audit log from its tree.
type AuditProblem struct {
	Index  uint64
	Kind   string // modified, removed, inserted, reordered, node, root, index
	Detail string
}

func (p AuditProblem) String() string {
	return fmt.Sprintf("entry %d %s: %s", p.Index, p.Kind, p.Detail)
}

// AuditReport is what VerifyAudit found.
type AuditReport struct {
	TreeSize uint64 // the size the file claims
	Root     []byte // recomputed from the leaves
	Entries  uint64 // bodies checked against their leaf hash
	Pruned   uint64 // tombstones, whose leaf hash was taken as stored
	// Problems, in entry order, the first is the one to name (at most
	// maxProblems).
	Problems []AuditProblem
	// RootsAt are the recomputed roots at the sizes asked for (those up
	// to TreeSize).
	RootsAt map[uint64][]byte
	// Checkpoints are the checkpoints kept in the file, the owner's
	// bytes, oldest first.
	Checkpoints [][]byte
}

const maxProblems = 20

// VerifyAudit checks the audit log of the database file at path offline
// (opened read-only: the server must not hold it, or run it on a backup):
// it recomputes every leaf hash from the stored entries (tombstones keep
// theirs), the whole tree from the leaves, and compares them with the
// stored leaves, nodes and root, naming the first entry modified, removed,
// inserted or reordered. It also checks the search index (auditidx), which
// the leaf hashes do not cover, against the entries: each entry's stored
// search fields are those its event implies, and the index holds exactly
// the keys those imply (auditIndexKeys), so that no entry is hidden from a
// search by patient, agent or break-the-glass ($disclosures,
// /admin/decisions) and none listed where it does not belong. Entries
// recorded after the last journal move are not in the file yet.
func VerifyAudit(path string, sizes ...uint64) (AuditReport, error) {
	rep := AuditReport{RootsAt: map[uint64][]byte{}}
	db, err := openBolt(path, true, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return rep, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketAudit) == nil {
			return fmt.Errorf("%s has no audit log (storage version before 8)", path)
		}
		// A newer relais may store entries in a form this one cannot
		// render: they would all look modified. Refuse, as Open does.
		if v := tx.Bucket(bucketMeta).Get(keyStorageVersion); len(v) == 8 && binary.BigEndian.Uint64(v) > storageVersion {
			return fmt.Errorf("%s has storage version %d; this relais reads up to %d", path, binary.BigEndian.Uint64(v), storageVersion)
		}
		tree, err := loadAuditTree(tx)
		if err != nil {
			return err
		}
		rep.TreeSize = tree.End()
		v := &auditVerifier{rep: &rep, entries: tx.Bucket(bucketAudit), nodes: tx.Bucket(bucketAuditNode),
			index: tx.Bucket(bucketAuditIdx), size: tree.End()}
		if err := v.leaves(); err != nil {
			return err
		}
		v.entriesCheck()
		v.indexCheck()
		// the roots of the checkpoints kept too (key: size(8) time(8))
		_ = tx.Bucket(bucketAuditCheckpoint).ForEach(func(k, _ []byte) error {
			if len(k) == 16 {
				sizes = append(sizes, binary.BigEndian.Uint64(k))
			}
			return nil
		})
		v.treeCheck(rootOf(tree), sizes)
		rep.Problems = append(rep.Problems, v.indexProblems[:min(len(v.indexProblems), maxProblems-len(rep.Problems))]...)
		slices.SortStableFunc(rep.Problems, func(a, b AuditProblem) int { return cmp.Compare(a.Index, b.Index) })
		return tx.Bucket(bucketAuditCheckpoint).ForEach(func(_, c []byte) error {
			rep.Checkpoints = append(rep.Checkpoints, bytes.Clone(c))
			return nil
		})
	})
	return rep, err
}

type auditVerifier struct {
	rep                   *AuditReport
	entries, nodes, index *bolt.Bucket
	size                  uint64
	stored                [][]byte // the stored leaf hashes
	byHash                map[string]uint64
	render                auditJSON
	// the index keys the entries imply (distinct), and whether one of
	// them is missing (entryIndexCheck)
	implied       uint64
	missing       bool
	indexProblems []AuditProblem
}

func (v *auditVerifier) problem(i uint64, kind, format string, args ...any) {
	if len(v.rep.Problems) < maxProblems {
		v.rep.Problems = append(v.rep.Problems, AuditProblem{i, kind, fmt.Sprintf(format, args...)})
	}
}

// indexProblem is a problem of the search index: reported after the
// tree's, so that of two problems of one entry the change of the entry
// itself is named first (a forged entry has the index keys of its own).
func (v *auditVerifier) indexProblem(i uint64, format string, args ...any) {
	if len(v.indexProblems) < maxProblems {
		v.indexProblems = append(v.indexProblems, AuditProblem{i, "index", fmt.Sprintf(format, args...)})
	}
}

func (v *auditVerifier) leaves() error {
	v.stored = make([][]byte, v.size)
	err := v.nodes.ForEach(func(k, h []byte) error {
		level, i, err := decodeAuditNodeKey(k)
		if err != nil {
			return fmt.Errorf("audit node key: %w", err)
		}
		switch {
		case level != 0:
		case i >= v.size:
			v.problem(i, "inserted", "a leaf hash beyond the tree size %d", v.size)
		default:
			v.stored[i] = bytes.Clone(h)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, h := range v.stored {
		if len(h) != 32 {
			v.problem(uint64(i), "removed", "its leaf hash is missing")
			v.stored[i] = make([]byte, 32)
		}
	}
	return nil
}

// leafOf is entry i's leaf hash recomputed from its body; pruned for a
// tombstone, nil when absent.
func (v *auditVerifier) leafOf(i uint64) (h []byte, pruned bool) {
	h, pruned, _, _ = v.entry(i)
	return h, pruned
}

// entry is leafOf, with the head entry i's event implies (nil when the
// entry is unreadable or absent) and whether its stored head is another:
// headOf its event, or the stored head for a tombstone and for a body
// stored as JSON (before storage version 9), which has no other.
func (v *auditVerifier) entry(i uint64) (h []byte, pruned bool, implied *auditHead, forged bool) {
	val := v.entries.Get(u64(i))
	if val == nil {
		return nil, false, nil, false
	}
	head, body, err := decodeAuditValue(val)
	if err != nil {
		return []byte{}, false, nil, false // unreadable: modified
	}
	if body == nil {
		return nil, head.flags&auditFlagPruned != 0, &head, false
	}
	js, e, err := v.render.decode(body)
	if err != nil {
		return []byte{}, false, nil, false // unreadable: modified
	}
	implied = &head
	if e != nil {
		eh := headOf(e)
		forged, implied = !eh.equal(&head), &eh
	}
	return hasher.HashLeaf(js), false, implied, forged
}

func (v *auditVerifier) indexOf(h []byte) (uint64, bool) {
	if v.byHash == nil {
		v.byHash = make(map[string]uint64, len(v.stored))
		for i, s := range v.stored {
			v.byHash[string(s)] = uint64(i)
		}
	}
	j, ok := v.byHash[string(h)]
	return j, ok
}

func (v *auditVerifier) entriesCheck() {
	for i := uint64(0); i < v.size; i++ {
		h, pruned, implied, forged := v.entry(i)
		if forged {
			v.indexProblem(i, "its stored search fields (patients, agents, kind, type, outcome...) are not its event's, and searches read them")
		}
		v.entryIndexCheck(i, implied)
		switch {
		case pruned:
			v.rep.Pruned++
			continue
		case h == nil:
			v.problem(i, "removed", "no entry at this position, and no tombstone")
			continue
		}
		v.rep.Entries++
		if bytes.Equal(h, v.stored[i]) {
			continue
		}
		j, ok := v.indexOf(h)
		var swapped bool // j holds this position's entry: the two were swapped
		if ok {
			hj, _ := v.leafOf(j)
			swapped = bytes.Equal(hj, v.stored[i])
		}
		switch {
		case swapped: // before the shifts: neighbours swapped look like one
			v.problem(i, "reordered", "entries %d and %d were swapped", i, j)
		case ok && j == i+1:
			v.problem(i, "removed", "the entry here is entry %d's: entry %d was removed and the ones after it moved up", j, i)
		case ok && j+1 == i:
			v.problem(i, "inserted", "the entry here is entry %d's: an entry was inserted before it", j)
		case ok:
			v.problem(i, "reordered", "the entry here was recorded at position %d", j)
		default:
			if n, _ := v.leafOf(i + 1); i+1 < v.size && bytes.Equal(n, v.stored[i]) {
				v.problem(i, "inserted", "an entry was inserted here: the next one is this position's")
			} else {
				v.problem(i, "modified", "its bytes do not match its leaf hash")
			}
		}
	}
	if k, _ := v.entries.Cursor().Last(); len(k) == 8 && binary.BigEndian.Uint64(k) >= v.size {
		v.problem(binary.BigEndian.Uint64(k), "inserted", "an entry beyond the tree size %d", v.size)
	}
}

// treeCheck recomputes the tree from the stored leaves, compares every
// node stored and the root, and notes the roots at sizes.
func (v *auditVerifier) treeCheck(storedRoot []byte, sizes []uint64) {
	want := map[uint64]bool{}
	for _, s := range sizes {
		want[s] = true
	}
	r := rangeFactory.NewEmptyRange(0)
	var bad *compact.NodeID
	visit := func(id compact.NodeID, h []byte) {
		if id.Level == 0 || bad != nil {
			return
		}
		if s := v.nodes.Get(auditNodeKey(id.Level, id.Index)); !bytes.Equal(s, h) {
			bad = &id
		}
	}
	if want[0] {
		v.rep.RootsAt[0] = hasher.EmptyRoot()
	}
	for i := uint64(0); i < v.size; i++ {
		_ = r.Append(v.stored[i], visit)
		if want[i+1] {
			v.rep.RootsAt[i+1] = rootOf(r)
		}
	}
	if bad != nil {
		begin, _ := bad.Coverage()
		v.problem(begin, "node", "tree node %d/%d does not match the leaves under it (a leaf hash was rewritten)", bad.Level, bad.Index)
	}
	v.rep.Root = rootOf(r)
	if !bytes.Equal(v.rep.Root, storedRoot) {
		v.problem(v.size, "root", "the stored root does not match the leaves")
	}
}

// entryIndexCheck checks that the index holds every key entry n's implied
// head implies, and counts them.
func (v *auditVerifier) entryIndexCheck(n uint64, implied *auditHead) {
	if implied == nil {
		return
	}
	keys := auditIndexKeys(implied, n)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	v.implied += uint64(len(keys))
	var gone []string
	for _, k := range keys {
		if v.index.Get(k) == nil {
			gone = append(gone, auditIndexKeyName(k))
		}
	}
	if len(gone) > 0 {
		v.missing = true
		v.indexProblem(n, "%d of its %d index keys are missing (%s): searches by them do not find it",
			len(gone), len(keys), strings.Join(gone, ", "))
	}
}

// indexCheck finds the index keys that no entry implies. Every implied key
// is present unless entryIndexCheck said otherwise, and implied keys are
// distinct, so an index of as many keys as implied has no other: only
// then, or when one is missing, does it look up the entry each key names.
func (v *auditVerifier) indexCheck() {
	var count uint64
	c := v.index.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		count++
	}
	if count == v.implied && !v.missing {
		return
	}
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		_, _, _, n, err := decodeAuditIndexKey(k)
		switch {
		case err != nil:
			v.indexProblem(v.size, "a malformed index key %q", k)
		case v.entries.Get(u64(n)) == nil:
			v.indexProblem(n, "an index key (%s) names it, and the log has no such entry", auditIndexKeyName(k))
		case !v.implies(n, k):
			v.indexProblem(n, "an index key names it that it does not imply (%s): searches by it list the entry", auditIndexKeyName(k))
		}
	}
}

// implies reports whether entry n's stored head implies index key k: the
// head entryIndexCheck compared with the event's.
func (v *auditVerifier) implies(n uint64, k []byte) bool {
	h, _, err := decodeAuditValue(v.entries.Get(u64(n)))
	return err == nil && slices.ContainsFunc(auditIndexKeys(&h, n), func(w []byte) bool { return bytes.Equal(w, k) })
}

// auditIndexKeyName names an index key in a report: "patient Patient/p1",
// "agent PractitionerRole/r", "break-the-glass".
func auditIndexKeyName(k []byte) string {
	tag, value, _, _, err := decodeAuditIndexKey(k)
	switch {
	case err != nil:
		return fmt.Sprintf("malformed %q", k)
	case tag == auditByPatient:
		return "patient " + value
	case tag == auditByAgent:
		return "agent " + value
	}
	return "break-the-glass"
}
