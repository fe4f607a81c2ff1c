package limit_test

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/limit"
)

// clock is a test's clock, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	ada = netip.MustParseAddr("198.51.100.7")
	eve = netip.MustParseAddr("203.0.113.9")
)

// A client gets its burst at once, then the rate; another client is not
// touched by the first one's use, and a refused request does not push the
// next allowed one back.
func TestClientsAllowBurstThenRate(t *testing.T) {
	c := newClock()
	l := limit.NewClients(limit.Rule{PerMinute: 6, Burst: 3}, 100, c.Now)
	for i := range 3 {
		ok, _ := l.Allow(ada)
		require.True(t, ok, "request %d of the burst", i+1)
	}
	ok, retry := l.Allow(ada)
	require.False(t, ok)
	require.Equal(t, 10*time.Second, retry, "6 a minute: one every 10 s")
	ok, _ = l.Allow(eve)
	require.True(t, ok, "another client has its own allowance")

	for range 5 {
		c.Advance(time.Second)
		ok, _ := l.Allow(ada)
		require.False(t, ok)
	}
	c.Advance(5 * time.Second)
	ok, _ = l.Allow(ada)
	require.True(t, ok, "10 s after the last allowed request, refusals in between notwithstanding")
	ok, _ = l.Allow(ada)
	require.False(t, ok)

	c.Advance(time.Hour)
	for range 3 {
		ok, _ := l.Allow(ada)
		require.True(t, ok, "refilled to the burst, no more")
	}
	ok, _ = l.Allow(ada)
	require.False(t, ok)
}

// A name is limited as an address is: its burst, then the rate, each
// name on its own.
func TestClientsAllowName(t *testing.T) {
	c := newClock()
	l := limit.NewClients(limit.Rule{PerMinute: 2, Burst: 2}, 100, c.Now)
	for range 2 {
		ok, _ := l.AllowName("token-a")
		require.True(t, ok)
	}
	ok, retry := l.AllowName("token-a")
	require.False(t, ok)
	require.Equal(t, 30*time.Second, retry)
	ok, _ = l.AllowName("token-b")
	require.True(t, ok, "another name has its own allowance")
	c.Advance(30 * time.Second)
	ok, _ = l.AllowName("token-a")
	require.True(t, ok)
}

// Spent looks without taking: only what Allow takes counts.
func TestClientsSpentTakesNothing(t *testing.T) {
	c := newClock()
	l := limit.NewClients(limit.Rule{PerMinute: 1, Burst: 2}, 100, c.Now)
	for range 10 {
		spent, _ := l.Spent(ada)
		require.False(t, spent)
	}
	l.Allow(ada)
	l.Allow(ada)
	spent, retry := l.Spent(ada)
	require.True(t, spent)
	require.Equal(t, time.Minute, retry)
	c.Advance(time.Minute)
	spent, _ = l.Spent(ada)
	require.False(t, spent)
}

// However many addresses appear, the limiter remembers at most its cap,
// its memory stays bounded, and a client that keeps asking stays limited
// while a million others churn around it.
func TestClientsMemoryIsBounded(t *testing.T) {
	const maxClients = 10_000
	c := newClock()
	l := limit.NewClients(limit.Rule{PerMinute: 1, Burst: 1}, maxClients, c.Now)
	ok, _ := l.Allow(ada)
	require.True(t, ok)

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	addr := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for i := range 2 * maxClients {
		l.Allow(addr(i))
		if i%1000 == 0 {
			l.Allow(ada)
		}
	}
	settled := heap()
	for i := range 1_000_000 {
		l.Allow(addr(i))
		if i%1000 == 0 {
			ok, _ := l.Allow(ada)
			require.False(t, ok, "the flooding client is still limited after %d other addresses", i)
			require.LessOrEqual(t, l.Len(), maxClients)
		}
	}
	grown := int64(heap()) - int64(settled)
	t.Logf("remembered %d addresses; heap %d kB after the first %d, %+d kB after a million more", l.Len(), settled/1024, 2*maxClients, grown/1024)
	require.Less(t, grown, int64(1<<20), "a million addresses do not grow the heap beyond the cap's worth")
}

// A forgotten address starts again with a full allowance: no more than a
// new address gets.
func TestClientsForgetOnlyTheIdle(t *testing.T) {
	c := newClock()
	l := limit.NewClients(limit.Rule{PerMinute: 1, Burst: 1}, 4, c.Now)
	l.Allow(ada)
	for i := range 4 {
		l.Allow(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	require.LessOrEqual(t, l.Len(), 4)
	ok, _ := l.Allow(ada)
	require.True(t, ok, "ada was idle while the table turned over twice: forgotten, and new again")
}
