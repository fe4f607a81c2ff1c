package store

import "time"

// SessionsOnWallClock measures account sessions' lives on the wall clock
// instead of the business clock. A sandbox's test clock moved a month on
// would otherwise end every session at once, while the browser's cookie,
// on the wall clock, lives on. Call it before the store is used.
func (s *Store) SessionsOnWallClock() { s.sessionNow = time.Now }

// sessionStamp is now on the clock sessions live by.
func (s *Store) sessionStamp() time.Time {
	if s.sessionNow != nil {
		return ts(s.sessionNow())
	}
	return s.stamp()
}
