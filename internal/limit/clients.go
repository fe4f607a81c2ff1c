// Package limit bounds how often paidup works for others: per client
// address (how often one client may start a checkout, ask for a sign-in
// link, look up a purchase, fail to authenticate), and in all (how often
// paidup calls the payment processor, whose own API limit is shared by
// everything paidup does).
package limit

import (
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"
)

// Rule is an allowance per client: Burst requests at once, refilled at
// PerMinute requests a minute.
type Rule struct {
	PerMinute float64
	Burst     int
}

// Clients keeps a token bucket per client address, for at most max
// addresses, so that memory is bounded however many addresses appear.
//
// The addresses live in two generations of max/2 each. A request moves its
// address into the current generation; when that is full it becomes the
// previous one and the previous one is forgotten. So what is forgotten is
// only an address that sent nothing while max/2 other addresses arrived: a
// client that keeps asking stays remembered, and stays limited, however
// many addresses churn around it. A forgotten address starts again with a
// full allowance, no more than a new address gets.
type Clients struct {
	burst   float64
	perNano float64 // tokens refilled per nanosecond
	half    int
	now     func() time.Time
	epoch   time.Time

	mu       sync.Mutex
	cur, old map[key]bucket
}

// key is a client address as the tables hold it: 16 bytes and no pointer
// (netip.Addr holds one), so that the garbage collector need not scan
// tables of a hundred thousand addresses, and hashing is cheap.
type key [16]byte

// bucket is a client's allowance: tokens as of at (nanoseconds since the
// limiter's epoch).
type bucket struct {
	tokens float64
	at     int64
}

// NewClients returns a limiter that applies r to each of at most
// maxClients client addresses. now is its clock (time.Now if nil): rates are about
// real time, not the business clock.
func NewClients(r Rule, maxClients int, now func() time.Time) *Clients {
	if now == nil {
		now = time.Now
	}
	return &Clients{
		burst:   float64(max1(r.Burst)),
		perNano: r.PerMinute / float64(time.Minute),
		half:    max1(maxClients / 2),
		now:     now,
		epoch:   now(),
		cur:     map[key]bucket{},
		old:     map[key]bucket{},
	}
}

func max1(n int) int { return max(n, 1) }

// Allow takes one request from the client's allowance. When there is none
// left it says so, and how long until there will be; a refused request
// takes nothing, so asking again sooner does not push that back.
func (c *Clients) Allow(a netip.Addr) (ok bool, retryAfter time.Duration) {
	return c.allow(key(a.As16()))
}

// AllowName is Allow for a client known by a name rather than an address
// (the token of a link, whoever follows it). A limiter keeps names or
// addresses, not both.
func (c *Clients) AllowName(name string) (ok bool, retryAfter time.Duration) {
	sum := sha256.Sum256([]byte(name))
	return c.allow(key(sum[:16]))
}

func (c *Clients) allow(k key) (ok bool, retryAfter time.Duration) {
	t := c.since()
	c.mu.Lock()
	b, current := c.refilled(k, t)
	if ok = b.tokens >= 1; ok {
		b.tokens--
	}
	c.store(k, b, current)
	c.mu.Unlock()
	if ok {
		return true, 0
	}
	return false, c.untilOne(b)
}

// Spent reports whether the client has no allowance left, without taking
// any: for counting only failures, checked before the work.
func (c *Clients) Spent(a netip.Addr) (spent bool, retryAfter time.Duration) {
	t := c.since()
	c.mu.Lock()
	b, _ := c.refilled(key(a.As16()), t)
	c.mu.Unlock()
	if b.tokens >= 1 {
		return false, 0
	}
	return true, c.untilOne(b)
}

// Len is how many addresses the limiter remembers.
func (c *Clients) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

func (c *Clients) since() int64 { return int64(c.now().Sub(c.epoch)) }

// refilled is the client's bucket as of t: remembered (in the current
// generation or not), or new and full.
func (c *Clients) refilled(a key, t int64) (b bucket, current bool) {
	b, current = c.cur[a]
	if !current {
		var ok bool
		if b, ok = c.old[a]; !ok {
			return bucket{tokens: c.burst, at: t}, false
		}
	}
	if t > b.at {
		b.tokens = min(c.burst, b.tokens+float64(t-b.at)*c.perNano)
		b.at = t
	}
	return b, current
}

// store keeps the client's bucket in the current generation.
func (c *Clients) store(a key, b bucket, current bool) {
	if !current {
		delete(c.old, a)
		if len(c.cur) >= c.half {
			c.old, c.cur = c.cur, make(map[key]bucket, len(c.cur)/4)
		}
	}
	c.cur[a] = b
}

func (c *Clients) untilOne(b bucket) time.Duration {
	if c.perNano <= 0 {
		return time.Minute
	}
	return time.Duration((1 - b.tokens) / c.perNano)
}
