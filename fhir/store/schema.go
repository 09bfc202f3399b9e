package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The bbolt schema: every bucket and meta key the store uses. Buckets are
// created at Open; the layout of their keys is in keys.go.
//
//	meta      "storage-version" -> uint64 BE: the schema version of the file
//	current   type 0 id                 -> version(8) flags(1) lastUpdated(8)
//	versions  type 0 id 0 version(8)    -> flags(1) method(1) lastUpdated(8) JSON
//	log       seq(8)                    -> type 0 id 0 version(8)   (system history)
//	typelog   type 0 seq(8)             -> id 0 version(8)          (type history)
//	index     type 0 param 0 tag value 0 id -> tag-specific (date: the other bound)
//	idxrev    type 0 id                 -> the index keys of the current version
//
// Buckets kept by gateway packages through DB(), written in the same
// transaction as the data they describe (TxOptions.Extra):
//
//	hl7ack    sendingApp 0 sendingFacility 0 controlID -> the ACK record of a
//	          committed HL7 v2 message (gateway/ingest: resend detection)
//	eventtime type 0 id  -> int64 BE (Unix µs, sign bit flipped): the event
//	          time (EVN-2, else MSH-7) of the newest HL7 v2 message that wrote
//	          the resource (gateway/ingest: older events never overwrite)
//	consentlog    time(8) decisionID -> JSON decision record (gateway/consent:
//	              append-only; time is Unix µs BE with the sign bit flipped)
//	consentlogidx 'p' patient 0 time(8) decisionID | 'a' actor 0 time(8)
//	              decisionID | 'b' 0 time(8) decisionID (break-the-glass) -> empty:
//	              the consentlog key follows the prefix
var (
	bucketMeta     = []byte("meta")
	bucketCurrent  = []byte("current")
	bucketVersions = []byte("versions")
	bucketLog      = []byte("log")
	bucketTypeLog  = []byte("typelog")
	bucketIndex    = []byte("index")
	bucketIdxRev   = []byte("idxrev")

	// BucketHL7Ack and BucketEventTime belong to gateway/ingest.
	BucketHL7Ack    = []byte("hl7ack")
	BucketEventTime = []byte("eventtime")

	// BucketConsentLog and BucketConsentLogIdx belong to gateway/consent.
	BucketConsentLog    = []byte("consentlog")
	BucketConsentLogIdx = []byte("consentlogidx")

	allBuckets = [][]byte{bucketMeta, bucketCurrent, bucketVersions, bucketLog, bucketTypeLog, bucketIndex, bucketIdxRev,
		BucketHL7Ack, BucketEventTime, BucketConsentLog, BucketConsentLogIdx}

	keyStorageVersion = []byte("storage-version")
)

// storageVersion is the schema version this code writes. Opening a file with
// an older version runs the migrations after it; a newer one is refused.
const storageVersion = 1

// migrations[i] upgrades a file from version i to i+1. Version 0 is an empty
// file: creating the buckets is its migration.
var migrations = []func(tx *bolt.Tx) error{
	0: func(tx *bolt.Tx) error { return nil },
}

// initSchema creates missing buckets and brings the file to storageVersion.
func initSchema(db *bolt.DB) error {
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
		for v := have; v < storageVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate storage version %d to %d: %w", v, v+1, err)
			}
		}
		return meta.Put(keyStorageVersion, u64(storageVersion))
	})
}
