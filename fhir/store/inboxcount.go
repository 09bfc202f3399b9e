package store

import bolt "go.etcd.io/bbolt"

// InboxCounts counts the queued writes not applied yet (the inbox) and
// those their owner set aside (Batch.Reject), for monitoring. The first is
// held in memory; the second walks the pages of the inboxfailed bucket,
// which stays small: set-aside writes wait for an operator.
func (s *Store) InboxCounts() (queued, failed int, err error) {
	if !s.Ready() {
		return 0, 0, ErrClosed
	}
	queued = s.wal.count()
	err = s.db.View(func(tx *bolt.Tx) error {
		failed = tx.Bucket(bucketInboxFailed).Stats().KeyN
		return nil
	})
	return queued, failed, err
}
