package lifecycle

// Schedule is schedule, for the benchmarks.
var Schedule = (*Service).schedule

// AfterRefundsRead runs f, once, between the next sync's read of its
// payments' refunds and its transaction.
func AfterRefundsRead(s *Service, f func()) {
	s.afterRefundsRead = func() {
		s.afterRefundsRead = nil
		f()
	}
}
