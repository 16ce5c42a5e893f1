package redisstore

// Pending tells whether the store has anything queued to send.
func (s *Store) Pending() bool { return s.pending() || s.sending() }
