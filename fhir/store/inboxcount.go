package store

// InboxCounts counts the queued writes not applied yet (the inbox) and
// those their owner set aside (Batch.Reject), for monitoring. The first is
// held in memory; the second walks the pages of the inboxfailed bucket,
// which stays small: set-aside writes wait for an operator.
func (s *Store) InboxCounts() (queued, failed int, err error) {
	queued = s.wal.count()
	err = s.view(func(r *Snapshot) error {
		failed = r.tx.Bucket(bucketInboxFailed).Stats().KeyN
		return nil
	})
	return queued, failed, err
}
