package limit_test

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/paidup/paidup/internal/limit"
)

// BenchmarkClientsAllow is the per-client limit's cost on each limited
// request: one client asking again and again, a new client each time
// (the table filling and turning over at its cap), and many at once.
func BenchmarkClientsAllow(b *testing.B) {
	rule := limit.Rule{PerMinute: 60, Burst: 30}
	b.Run("one client", func(b *testing.B) {
		l := limit.NewClients(rule, 100_000, nil)
		for b.Loop() {
			l.Allow(ada)
		}
	})
	b.Run("a new client each time", func(b *testing.B) {
		l := limit.NewClients(rule, 100_000, nil)
		i := uint32(0)
		for b.Loop() {
			i++
			l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := limit.NewClients(rule, 100_000, nil)
		var next atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) % 50_000
				l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
			}
		})
	})
}
