package store

import bolt "go.etcd.io/bbolt"

// InboxCounts counts the queued writes not applied yet (the inbox) and
// those their owner set aside (Batch.Reject), for monitoring. It walks the
// pages of both buckets, which stay small while writes keep up: the inbox
// empties as it is applied, and set-aside writes wait for an operator.
func (s *Store) InboxCounts() (queued, failed int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		queued = tx.Bucket(bucketInbox).Stats().KeyN
		failed = tx.Bucket(bucketInboxFailed).Stats().KeyN
		return nil
	})
	return queued, failed, err
}
