package console

import (
	"sync"
	"time"
)

// Delays are the growing waits after failed sign-ins, each kept by a key
// (an account's email address, a client's address): after a few failures
// free of any wait, each further failure doubles the wait before the next
// try is looked at, up to a cap. A success clears an account's failures.
// They are kept in memory, per instance, for at most a bounded number of
// keys.
type Delays struct {
	now func() time.Time

	mu   sync.Mutex
	keys map[string]failures
}

type failures struct {
	n    int
	last time.Time
}

// How the waits grow: free failures, the first wait, the cap, and how many
// keys are remembered.
const (
	accountFree = 3
	clientFree  = 10
	firstDelay  = time.Second
	maxDelay    = 15 * time.Minute
	maxKeys     = 100_000
)

// NewDelays returns delays on a clock (the wall clock if nil).
func NewDelays(now func() time.Time) *Delays {
	if now == nil {
		now = time.Now
	}
	return &Delays{now: now, keys: map[string]failures{}}
}

// delay is the wait after n failures when free of them cost nothing.
func delay(n, free int) time.Duration {
	if n < free {
		return 0
	}
	d := firstDelay
	for range n - free {
		if d *= 2; d >= maxDelay {
			return maxDelay
		}
	}
	return d
}

// Wait is how long the key must still wait before its next try.
func (d *Delays) Wait(key string, free int) time.Duration {
	d.mu.Lock()
	f, ok := d.keys[key]
	d.mu.Unlock()
	if !ok {
		return 0
	}
	return max(0, f.last.Add(delay(f.n, free)).Sub(d.now()))
}

// Fail counts a failure against the key.
func (d *Delays) Fail(key string) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.keys[key]; !ok && len(d.keys) >= maxKeys {
		d.forget(now)
	}
	f := d.keys[key]
	d.keys[key] = failures{n: f.n + 1, last: now}
}

// Clear forgets the key's failures.
func (d *Delays) Clear(key string) {
	d.mu.Lock()
	delete(d.keys, key)
	d.mu.Unlock()
}

// forget makes room: keys whose longest wait is over go first, then, in a
// flood, half of them.
func (d *Delays) forget(now time.Time) {
	for k, f := range d.keys {
		if now.Sub(f.last) > maxDelay {
			delete(d.keys, k)
		}
	}
	for k := range d.keys {
		if len(d.keys) < maxKeys/2 {
			break
		}
		delete(d.keys, k)
	}
}
