package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/search"
)

// The bbolt schema: every bucket and meta key the store uses. Buckets are
// created at Open; the layout of their keys is in keys.go.
//
//	meta      "storage-version" -> uint64 BE: the schema version of the file
//	          "inbox-applied" -> seq(8) then seq(8)...: every inbox entry up
//	          to the first seq is applied, and so are the ones listed
//	          (inboxlog.go); written with the transaction that applies them
//	current   type 0 id                 -> version(8) flags(1) lastUpdated(8)
//	          created(8) eventTime(8) values
//	          (values: the index values of the current version, keys.go;
//	          eventTime: the newest event that wrote it, TxEntry.EventTime)
//	history   type 0 created(8) id 0 version(8) -> flags(1) method(1)
//	          lastUpdated(8) JSON: every version (created: the pointer's)
//	versions  type 0 id 0 version(8)    -> the same: the versions stored
//	          before storage version 5, read, never written
//	log       seq(8)                    -> type 0 id 0 version(8)   (system history)
//	typelog   type 0 seq(8)             -> id 0 version(8)          (type history)
//	index     type 0 param 0 tag value 0 created(8) id -> empty
//	          (tags and values in keys.go: one key per token, string and
//	          reference value, two per date; created orders the keys of
//	          one value by arrival)
//	inbox     seq(8) -> payload: a write accepted durably and not applied
//	          yet, as versions before the inbox log queued them; read at
//	          Open (queued with the log's) and emptied as they are applied;
//	          nothing new is written here: Enqueue appends to the inbox log,
//	          a file next to the database (inboxlog.go has its layout)
//	inboxfailed seq(8) -> payload: a queued write its owner could not
//	          apply (Batch.Reject), kept until an operator applies it
//	          again (RetryFailed) or drops it (DiscardFailed)
//	hl7ack    MSH-3 0 MSH-4 0 MSH-10 -> the ACK record of an applied HL7 v2
//	          message, the owner's bytes (hl7ack.go: resend detection),
//	          written in the transaction that applies the message (until
//	          then the inbox log keeps it)
//	hl7acktime time(8) hl7ack key -> empty: when each ACK record was
//	          written, so that records past their retention are found
//	          without a scan (PruneACKs)
//	          "audit-tree" -> size(8) then the audit tree's compact range
//	          (keys.go: encodeAuditTree)
//	          "audit-pruned/" kind -> index(8): the first entry PruneAudit
//	          has not yet examined for that kind
//	audit     index(8) -> an audit entry: its head (the index fields) and
//	          its event's stored form (audit.Encode; its AuditEvent JSON
//	          before storage version 9), whose JSON is the tree's leaf, or
//	          a tombstone once pruned (keys.go: encodeAuditValue; audit.go)
//	auditnode end(8) level(1) -> hash(32): every node of the audit tree,
//	          leaf hashes at level 0, kept when entries are pruned; end is
//	          (index+1) << level, so that appends write at the end
//	          (keys.go: auditNodeKey)
//	auditidx  tag(1) [value 0] time(8) index(8) -> empty: the entries by
//	          patient, agent and break-the-glass (keys.go: auditIndexKey),
//	          exactly the keys each entry's head implies (auditIndexKeys;
//	          VerifyAudit checks it: the leaf hashes do not cover them)
//	auditid   AuditEvent id -> index(8)
//	auditcp   size(8) time(8) -> a signed checkpoint of the audit tree
//	clients   client id -> the registered backend-service client
//	          (keys.go: encodeClient)
//	jti       client assertion key -> until(8): an assertion used, not to
//	          be accepted again before until (clients.go: UseJTI)
//	jtitime   until(8) jti key -> empty: the same records by expiry, so
//	          that expired ones are found without a scan (PruneJTIs)
//	claims    type 0 system 0 value -> id: the resource of type an
//	          identifier names (identity.go), written with the write that
//	          claims it, so that two concurrent writes cannot both create
//	          a resource for one person
//	identityreview kind 0 "Type/id" (0 "Type/id")... -> JSON {reason,
//	          time}: resources an identity administrator must look at
//	          (probable duplicates, merges)
//	taskload  owner ("Type/id") -> count(8) BE: how many current Tasks
//	          the owner holds in an open status (taskload.go), derived
//	          from the current values and kept by every write of a Task
//	          in its own transaction; no key for a count of 0
//	outbox    subscription 0 number(8) -> state(1) attempts(4) version(8)
//	          time(8) since(8) next(8) then type, id, error, decision, each a
//	          uvarint length and its bytes: one notification event
//	          (outbox.go), written in the transaction of the write it
//	          comes from (keys.go: encodeEvent)
//	outboxsub subscription -> last(8) head(8) delivered(8) withheld(8)
//	          dead(8) cancelled(8): a Subscription's event count, the
//	          lowest number that may still be pending, and how many events
//	          ended in each state (pruned ones included); a value written
//	          before events could be cancelled has 40 bytes, no cancelled
//	          count, and is read as 0 cancelled
//	outboxdead subscription 0 number(8) -> empty: the dead letters
//	outboxtry subscription 0 number(8) attempt(4) -> time(8) state(1)
//	          then decision and error, each a uvarint length and its
//	          bytes: every delivery attempt, with its consent decision
//
// Storage version 1 kept the index keys of each current version in a bucket
// of their own (idxrev: type 0 id -> uvarint-prefixed index keys) and
// 17-byte current values; version 2 moves the index values into the
// current value and drops idxrev. Version 3 keys tokens code first and
// references id first, one key each where versions 1 and 2 had two; its
// migration rebuilds the index from the current values. Version 4 adds the
// inbox: a relais that does not know it would leave queued writes
// unapplied, so it must refuse the file. The hl7acktime bucket came later
// without a new version: a relais that does not know it only keeps ACK
// records longer. Version 5 stores large versions compressed (flag
// flagCompressed, compress.go): a relais that does not know it would serve
// compressed bytes as JSON. Version 5 also moves each resource's event
// time from the eventtime bucket (type 0 id -> time(8)), which it drops,
// into the current pointer, adds the creation time there, and keys the
// index with it, and the versions it writes from then on (bucket history,
// where the versions of resources stored together are adjacent): its
// migration rewrites every pointer (a resource stored before gets its last
// update as its creation time) and rebuilds the index, in time
// proportional to the number of resources; the versions stored before stay
// in versions, as they were, and are read from there. Version 6 moves the inbox
// into the inbox log, a file next to the database: a relais that does not
// know it would not see the messages queued there, nor their ACK records.
// Its migration is empty: the inbox bucket is still read at Open. The
// clients, jti and jtitime buckets came later without a new version: they
// are created at Open like every bucket, and a relais that does not know
// them has no token endpoint, so it neither issues tokens to the clients
// nor accepts their assertions, and its verifier does not trust the
// tokens this one issued. The claims and identityreview buckets came later
// without a new version either: a relais that does not know them writes
// without claiming, which a later one tolerates (a resource written
// meanwhile is claimed by its next write). Version 7 adds the taskload
// bucket: a relais that does not know it would write Tasks without
// counting them, and every count read after would be wrong, so it must
// refuse the file. Its migration counts the open Tasks of the current
// values, in time proportional to the number of resources. The outbox
// buckets need no version of their own: a relais that does not know them
// delivers no notifications, and the events wait for one that does. The
// cancelled count of outboxsub came later without a new version either:
// a relais that does not know it refuses the 48-byte counts (an error
// reading that Subscription's outbox), and this one reads the 40-byte ones.
// Version 8 replaces the decision log (consentlog: time(8) decisionID ->
// the decision record, JSON; consentlogidx: 'p' patient 0, 'a' actor 0 or
// 'b' 0, then the consentlog key -> empty) with the audit log: a relais
// that does not know it would record decisions nowhere it reads, so it
// must refuse the file. Its migration appends every decision record, in
// key order, to the audit tree as a BALP AuthZ consent AuditEvent
// (audit.DecisionEvent of the record, whose JSON audit.Decision reads)
// and drops both buckets, in time proportional to the number of records.
// Version 9 stores new audit entries as their event's fields (audit.Encode)
// instead of their JSON, and may store a version's large base64 value as
// the bytes it encodes (flagDecoded, compress.go): a relais that does not
// know them would serve either as JSON, so it must refuse the file. Its
// migration is empty: what version 8 stored reads as it is. Version 10
// compresses versions with a dictionary (dictionary.go), small ones too: a
// relais that does not know the dictionary cannot read them, so it must
// refuse the file. Its migration is empty: frames written before name no
// dictionary and read as they are. Version 11 writes the common code
// systems of token index keys as a number (keys.go: keySystem): a relais
// that does not know it would find none of those tokens by system, so it
// must refuse the file. Its migration rebuilds the index from the current
// values (reindexAll), in time proportional to the number of resources.
// Version 12 packs those systems in the token values kept with each
// current pointer too (keys.go: appendToken): a relais that does not know
// it would read them as systems, so it must refuse the file. Its
// migration rewrites the current values, in time proportional to the
// number of resources; the index is unchanged. Version 13 stores small
// versions as S2 blocks (flagS2, compress.go): a relais that does not
// know them would read them as Zstandard frames and fail, so it must
// refuse the file. Its migration is empty. Version 14 stores new audit
// entries in the event's second field format (audit.Encode: the agents'
// network types, a query's request): a relais that does not know it
// would fail to read them, so it must refuse the file. Its migration is
// empty: entries in the first format render as they did. Version 15
// folds string values with punctuation read as a space (search.Normalize:
// "le-goff" is "le goff"): a relais that does not know it would find
// neither spelling of a compound name by the other, so it must refuse the
// file. Its migration folds the string values of every current pointer
// again (search.Refold) and rebuilds the index from them (refoldStrings),
// in time proportional to the number of resources. Version 16 indexes
// DiagnosticReport, and Binary by the patient its securityContext names:
// a relais that does not know them would leave their values stale on
// write, so it must refuse the file. Its migration extracts them from the
// stored JSON of the current versions of those types and rebuilds the
// index (indexTypes).
//
// Times in keys and values are timeKey's (keys.go): Unix µs, big-endian,
// sign bit flipped.
var (
	bucketMeta     = []byte("meta")
	bucketCurrent  = []byte("current")
	bucketVersions = []byte("versions") // read only since storage version 5
	bucketHistory  = []byte("history")
	bucketLog      = []byte("log")
	bucketTypeLog  = []byte("typelog")
	bucketIndex    = []byte("index")
	bucketIdxRev   = []byte("idxrev") // storage version 1 only

	bucketInbox       = []byte("inbox")
	bucketInboxFailed = []byte("inboxfailed")

	bucketHL7Ack     = []byte("hl7ack")
	bucketHL7AckTime = []byte("hl7acktime")

	bucketConsentLog    = []byte("consentlog")    // storage version 7 only
	bucketConsentLogIdx = []byte("consentlogidx") // storage version 7 only

	bucketAudit           = []byte("audit")
	bucketAuditNode       = []byte("auditnode")
	bucketAuditIdx        = []byte("auditidx")
	bucketAuditID         = []byte("auditid")
	bucketAuditCheckpoint = []byte("auditcp")

	bucketClients = []byte("clients")
	bucketJTI     = []byte("jti")
	bucketJTITime = []byte("jtitime")

	bucketClaims         = []byte("claims")
	bucketIdentityReview = []byte("identityreview")

	bucketTaskLoad   = []byte("taskload")
	bucketOutbox     = []byte("outbox")
	bucketOutboxSub  = []byte("outboxsub")
	bucketOutboxDead = []byte("outboxdead")
	bucketOutboxTry  = []byte("outboxtry")

	bucketEventTime = []byte("eventtime") // storage version 4 only

	allBuckets = [][]byte{bucketMeta, bucketCurrent, bucketVersions, bucketHistory, bucketLog, bucketTypeLog, bucketIndex,
		bucketInbox, bucketInboxFailed,
		bucketHL7Ack, bucketHL7AckTime,
		bucketAudit, bucketAuditNode, bucketAuditIdx, bucketAuditID, bucketAuditCheckpoint,
		bucketClients, bucketJTI, bucketJTITime, bucketClaims, bucketIdentityReview, bucketTaskLoad,
		bucketOutbox, bucketOutboxSub, bucketOutboxDead, bucketOutboxTry}

	keyStorageVersion = []byte("storage-version")
	keyInboxApplied   = []byte("inbox-applied")
	keyAuditTree      = []byte("audit-tree")
	// keyAuditPrunedPrefix + a kind: PruneAudit's position, index(8).
	keyAuditPrunedPrefix = []byte("audit-pruned/")
	// keyCursorPrefix + a consumer's name: its position in the change log
	// (Store.Cursor), an 8-byte sequence number.
	keyCursorPrefix = []byte("cursor/")
)

// fills are the fill percents of the buckets whose keys mostly arrive in
// key order: at the end of the bucket (the logs, the inbox, the ACK times,
// the decision log), or at the end of a value's or type's range (the
// index and history, whose keys put the creation time before the id).
// bbolt splits a page that grows past a node's size at the bucket's
// FillPercent, 50% by default, which leaves every page behind an append
// half empty. The index and history also take inserts in the middle (an
// updated resource's new values and versions), so they keep some room.
var fills = map[string]float64{
	string(bucketLog): 1, string(bucketTypeLog): 1, string(bucketInbox): 1,
	string(bucketHL7AckTime): 1, string(bucketAudit): 1, string(bucketAuditNode): 0.9, string(bucketIndex): 0.9,
	string(bucketHistory): 0.9, string(bucketOutbox): 0.9, string(bucketOutboxTry): 0.9,
}

// writable returns tx's bucket name with its fill percent (fills) set, for
// writing.
func writable(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	if f, ok := fills[string(name)]; ok {
		b.FillPercent = f
	}
	return b
}

// storageVersion is the schema version this code writes. Opening a file with
// an older version runs the migrations after it; a newer one is refused.
const storageVersion = 16

// migrations[i] upgrades a file from version i to i+1. Version 0 is an empty
// file: creating the buckets is its migration.
var migrations = []func(tx *bolt.Tx, env schemaEnv) error{
	0:  txOnly(func(tx *bolt.Tx) error { return nil }),
	1:  txOnly(moveIdxRev),
	2:  txOnly(rebuildIndex),
	3:  txOnly(func(tx *bolt.Tx) error { return nil }), // the inbox buckets, created at Open
	4:  txOnly(toVersion5),
	5:  txOnly(func(tx *bolt.Tx) error { return nil }), // the inbox log; the inbox bucket is read at Open
	6:  txOnly(rebuildTaskLoad),
	7:  txOnly(decisionsToAudit),
	8:  txOnly(func(tx *bolt.Tx) error { return nil }), // new encodings only: audit entries, decoded base64
	9:  txOnly(func(tx *bolt.Tx) error { return nil }), // new encodings only: versions compressed with a dictionary
	10: txOnly(reindexAll),                             // token keys with packed systems
	11: txOnly(packCurrentTokens),
	12: txOnly(func(tx *bolt.Tx) error { return nil }), // new encodings only: small versions as S2 blocks
	13: txOnly(func(tx *bolt.Tx) error { return nil }), // new encodings only: audit entries in field format 2
	14: txOnly(refoldStrings),
	15: indexTypes, // DiagnosticReport, and Binary by its securityContext
}

// decisionsToAudit (7 to 8) appends the decision records to the audit
// tree, oldest first, and drops the decision log's buckets.
func decisionsToAudit(tx *bolt.Tx) error {
	b := tx.Bucket(bucketConsentLog)
	if b == nil {
		return nil
	}
	var recs []auditRecord
	err := b.ForEach(func(k, v []byte) error {
		r, err := legacyDecision(v)
		if err != nil {
			return fmt.Errorf("decision record %x: %w", k, err)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return err
	}
	if err := putAudit(tx, recs); err != nil {
		return err
	}
	for _, name := range [][]byte{bucketConsentLog, bucketConsentLogIdx} {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// legacyDecision is a decision record of storage version 7 (its JSON is
// audit.Decision's) as an audit entry.
func legacyDecision(record []byte) (auditRecord, error) {
	var d audit.Decision
	if err := json.Unmarshal(record, &d); err != nil {
		return auditRecord{}, err
	}
	e := audit.DecisionEvent(&d)
	return auditRecordOf(&e)
}

// rebuildIndex (version 2 to 3) puts the index values of each current
// pointer in version 3's order (the leading parameters first, one group per
// parameter). Version 3 also keyed the index anew; toVersion5 does that
// again, with version 5's keys, so the index is left for it.
func rebuildIndex(tx *bolt.Tx) error {
	return rewriteValues(tx, pointerSizeV4, func(vs []search.Value) []search.Value {
		slices.SortStableFunc(vs, func(a, b search.Value) int { return strings.Compare(a.Param, b.Param) })
		orderValues(vs)
		return vs
	})
}

// packCurrentTokens (11 to 12) rewrites every current pointer whose token
// values have a system to pack: encodeValues packs them.
func packCurrentTokens(tx *bolt.Tx) error {
	return rewriteValues(tx, pointerSize, func(vs []search.Value) []search.Value { return vs })
}

// refoldStrings (14 to 15) folds the string values of every current
// pointer as writes fold them now (search.Refold), then keys the index
// anew from the current values.
func refoldStrings(tx *bolt.Tx) error {
	if err := rewriteValues(tx, pointerSize, search.Refold); err != nil {
		return err
	}
	return reindexAll(tx)
}

// rewriteValues encodes again the index values of every current pointer
// whose values follow a header of size bytes, after reorder (which may
// drop some), and puts those that change.
func rewriteValues(tx *bolt.Tx, size int, reorder func([]search.Value) []search.Value) error {
	cur := tx.Bucket(bucketCurrent)
	var updates []update // a bucket is not written while ForEach reads it
	err := cur.ForEach(func(k, pv []byte) error {
		if len(pv) <= size {
			return nil
		}
		vs, err := decodeValues(pv[size:])
		if err != nil {
			return fmt.Errorf("current values of %s: %w", k, err)
		}
		vs = reorder(vs)
		if v := encodeValues(vs); !bytes.Equal(v, pv[size:]) {
			updates = append(updates, update{bytes.Clone(k), append(bytes.Clone(pv[:size]), v...)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return putAll(cur, updates)
}

// toVersion5 (4 to 5): each pointer gains the resource's creation time
// (its last update, for the resources stored before, as the best estimate
// of the order they came in) and its event time, moved from the eventtime
// bucket, which goes; the index is rebuilt with the creation times in its
// keys. Stored versions are kept as they are: uncompressed, read as such.
func toVersion5(tx *bolt.Tx) error {
	cur, times := tx.Bucket(bucketCurrent), tx.Bucket(bucketEventTime)
	var updates []update
	err := cur.ForEach(func(k, pv []byte) error {
		if len(pv) < pointerSizeV4 {
			return fmt.Errorf("current pointer of %s: %w", k, errBadKey)
		}
		p := decodePointerV4(pv)
		p.created = p.lastUpdated
		if times != nil {
			if v := times.Get(k); len(v) == 8 {
				p.eventTime = i64of(v)
			}
		}
		updates = append(updates, update{bytes.Clone(k), p.encode(pv[pointerSizeV4:])})
		return nil
	})
	if err != nil {
		return err
	}
	if err := putAll(cur, updates); err != nil {
		return err
	}
	if times != nil {
		if err := tx.DeleteBucket(bucketEventTime); err != nil {
			return err
		}
	}
	return reindexAll(tx)
}

// reindexAll replaces the index with the keys of every current pointer's
// values.
func reindexAll(tx *bolt.Tx) error {
	return replaceIndex(tx, func(typ, id string, pv []byte) ([][]byte, error) {
		p, err := decodePointer(pv)
		if err != nil || len(pv) == pointerSize {
			return nil, err
		}
		vs, err := decodeValues(pv[pointerSize:])
		if err != nil {
			return nil, err
		}
		return indexKeys(typ, id, p.created, vs), nil
	})
}

// replaceIndex replaces the index with the keys keysOf gives for each
// current value. The keys are put in key order: bbolt splits a node only
// when the transaction commits, so the new bucket's one leaf would take
// every key, and a key put in the middle of it moves all those after it
// (a rebuild of 1.5 million keys in current-key order did not finish in
// ten minutes). Sorting holds every key in memory once, about twice their
// bytes.
func replaceIndex(tx *bolt.Tx, keysOf func(typ, id string, pv []byte) ([][]byte, error)) error {
	var all [][]byte
	err := tx.Bucket(bucketCurrent).ForEach(func(k, pv []byte) error {
		typ, id, err := splitCurrentKey(k)
		if err != nil {
			return err
		}
		keys, err := keysOf(typ, id, pv)
		if err != nil {
			return fmt.Errorf("current value of %s: %w", k, err)
		}
		all = append(all, keys...)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(all, bytes.Compare)
	if err := tx.DeleteBucket(bucketIndex); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketIndex); err != nil {
		return err
	}
	idx := writable(tx, bucketIndex)
	for i, key := range all {
		if i > 0 && bytes.Equal(key, all[i-1]) {
			continue
		}
		if err := idx.Put(key, nil); err != nil {
			return err
		}
	}
	return nil
}

// update is a Put collected during a ForEach of the bucket it goes to.
type update struct{ k, v []byte }

func putAll(b *bolt.Bucket, updates []update) error {
	for _, u := range updates {
		if err := b.Put(u.k, u.v); err != nil {
			return err
		}
	}
	return nil
}

// moveIdxRev (version 1 to 2) rebuilds every current value with the index
// values its idxrev keys hold, then drops idxrev. The index itself is
// unchanged: the keys rebuilt from the values are the keys it holds.
func moveIdxRev(tx *bolt.Tx) error {
	rev := tx.Bucket(bucketIdxRev)
	if rev == nil {
		return nil
	}
	cur := tx.Bucket(bucketCurrent)
	var updates []update
	err := cur.ForEach(func(k, pv []byte) error {
		if len(pv) < pointerSizeV4 {
			return fmt.Errorf("current pointer of %s: %w", k, errBadKey)
		}
		p := decodePointerV4(pv)
		typ, _, err := splitCurrentKey(k)
		if err != nil {
			return err
		}
		var values []byte
		if rv := rev.Get(k); rv != nil && !p.deleted {
			keys, err := decodeKeys(rv)
			if err != nil {
				return err
			}
			vs, err := valuesOfKeys(typ, keys)
			if err != nil {
				return fmt.Errorf("idxrev of %s: %w", k, err)
			}
			values = encodeValues(vs)
		}
		updates = append(updates, update{bytes.Clone(k), p.encodeV4(values)})
		return nil
	})
	if err != nil {
		return err
	}
	if err := putAll(cur, updates); err != nil {
		return err
	}
	return tx.DeleteBucket(bucketIdxRev)
}

// valuesOfKeys recovers index values from the version 1 index keys of one
// resource of type typ, in key order: one value per 't', 's', 'r' and 'd'
// key ('c', 'i' and 'e' keys repeat them).
func valuesOfKeys(typ string, keys [][]byte) ([]search.Value, error) {
	var out []search.Value
	pre := len(typ) + 1
	for _, k := range keys {
		if len(k) <= pre || string(k[:pre-1]) != typ || k[pre-1] != 0 {
			return nil, errBadKey
		}
		end := bytes.IndexByte(k[pre:], 0)
		if end < 0 || pre+end+2 > len(k) {
			return nil, errBadKey
		}
		param, tag, off := string(k[pre:pre+end]), k[pre+end+1], pre+end+2
		switch tag {
		case 't', 's', 'r':
			_, v, err := idOfIndexKey(k, off, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, search.Value{Param: param, Kind: search.Kind(tag), Text: string(v)})
		case 'd':
			_, v, err := idOfIndexKey(k, off, 16)
			if err != nil {
				return nil, err
			}
			out = append(out, search.Value{Param: param, Kind: search.Date, Start: i64of(v[:8]), End: i64of(v[8:])})
		}
	}
	return out, nil
}

// schemaEnv is what a migration may need besides its transaction: the
// codec and the compressors that read stored versions.
type schemaEnv struct {
	codec *codec.Codec
	zip   *codecs
	// noUpgrade refuses a file of an earlier version (Options.NoUpgrade).
	noUpgrade bool
	// log says when an upgrade starts and ends: it takes time in
	// proportion to the resources, before the server serves anything.
	log *slog.Logger
}

// txOnly is a migration that needs its transaction alone.
func txOnly(f func(tx *bolt.Tx) error) func(*bolt.Tx, schemaEnv) error {
	return func(tx *bolt.Tx, _ schemaEnv) error { return f(tx) }
}

// indexTypes (15 to 16) extracts, from their stored JSON, the index values
// of the current versions of the types version 15 did not index: a
// DiagnosticReport none, a Binary not the patient its securityContext
// names. Without them the consent engine could tell no one's report or
// source document from another (only system callers read them); the index
// is then rebuilt (reindexAll), in time proportional to the number of
// resources.
func indexTypes(tx *bolt.Tx, env schemaEnv) error {
	r := &Snapshot{s: &Store{codec: env.codec, zip: env.zip}, tx: tx}
	cur := tx.Bucket(bucketCurrent)
	var updates []update // a bucket is not written while a cursor reads it
	for _, typ := range []string{"DiagnosticReport", "Binary"} {
		prefix := currentKey(typ, "")
		c := cur.Cursor()
		for k, pv := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, pv = c.Next() {
			_, id, err := splitCurrentKey(k)
			if err != nil {
				return err
			}
			p, err := decodePointer(pv)
			if err != nil {
				return fmt.Errorf("current value of %s: %w", k, err)
			}
			if p.deleted {
				continue
			}
			rec, err := r.versionAt(typ, id, p.created, p.version)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", typ, id, err)
			}
			m, err := env.codec.DecodeStored(rec.JSON)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", typ, id, err)
			}
			vs := search.Extract(m)
			orderValues(vs)
			updates = append(updates, update{bytes.Clone(k), append(bytes.Clone(pv[:pointerSize]), encodeValues(vs)...)})
		}
	}
	if err := putAll(cur, updates); err != nil {
		return err
	}
	return reindexAll(tx)
}

// initSchema creates missing buckets and brings the file to storageVersion.
func initSchema(db *bolt.DB, env schemaEnv) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		var have uint64
		if v := meta.Get(keyStorageVersion); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("corrupt storage-version")
			}
			have = binary.BigEndian.Uint64(v)
		}
		if have > storageVersion {
			return fmt.Errorf("database has storage version %d; this relais reads up to %d", have, storageVersion)
		}
		if have < storageVersion && env.noUpgrade {
			return fmt.Errorf("%w: the database has storage version %d, which this relais would upgrade to %d", ErrUpgradeNeeded, have, storageVersion)
		}
		upgrade := have > 0 && have < storageVersion && env.log != nil
		start := time.Now()
		if upgrade {
			env.log.Info("upgrading the database's storage version (nothing is served meanwhile)", "from", have, "to", storageVersion)
		}
		for v := have; v < storageVersion; v++ {
			if err := migrations[v](tx, env); err != nil {
				return fmt.Errorf("migrate storage version %d to %d: %w", v, v+1, err)
			}
		}
		if err := meta.Put(keyStorageVersion, u64(storageVersion)); err != nil {
			return err
		}
		if upgrade {
			env.log.Info("storage version upgraded (committing)", "from", have, "to", storageVersion, "took", time.Since(start).Round(time.Millisecond))
		}
		return nil
	})
}
