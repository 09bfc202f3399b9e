package store

// FreelistStats reports, for measurements in package store_test, bbolt's
// free pages and the size in bytes of the freelist a commit writes (free
// and pending pages, 8 bytes each, and a page header).
func FreelistStats(s *Store) (freePages, freelistBytes int) {
	bs := s.db.Stats()
	return bs.FreePageN, bs.FreelistInuse
}
