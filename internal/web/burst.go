package web

import (
	"sync"
	"time"
)

// burstWindow is how far back refusals are counted for an alert, by the
// minute.
const (
	burstWindow  = 10 * time.Minute
	burstBuckets = int64(burstWindow / time.Minute)
)

// burstCount counts refusals over the last burstWindow in one bucket per
// minute, so that its size is the same however many there are, and says
// when they call for an alert: when the window holds at least the
// threshold, and again each hour while they go on.
type burstCount struct {
	mu        sync.Mutex
	minute    [burstBuckets]int64 // the minute (since the epoch) each bucket counts
	count     [burstBuckets]int
	lastAlert time.Time
}

// add counts a refusal at now, and returns how many the window holds and
// whether to alert.
func (c *burstCount) add(now time.Time, threshold int) (n int, alert bool) {
	m := now.Unix() / 60
	i := ((m % burstBuckets) + burstBuckets) % burstBuckets
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.minute[i] != m {
		c.minute[i], c.count[i] = m, 0
	}
	c.count[i]++
	for j := range c.count {
		if age := m - c.minute[j]; age >= 0 && age < burstBuckets {
			n += c.count[j]
		}
	}
	if threshold <= 0 || n < threshold || (!c.lastAlert.IsZero() && now.Before(c.lastAlert.Add(time.Hour))) {
		return n, false
	}
	c.lastAlert = now
	return n, true
}
