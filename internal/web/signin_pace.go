package web

import (
	"net/url"
	"strconv"
	"sync"
	"time"
)

// signInPace counts the sign-in links asked for each address, in the
// windows the outbox sends them by (notify.Outbox.QueueSignIn), so that
// the page can say truthfully when the last was asked for, and when the
// address has had all it gets for now. It counts addresses, never
// customers: a stranger's address is counted as a customer's is, and the
// page reads no database, so its answer tells nobody whether an address
// is a customer's.
type signInPace struct {
	limit  int
	window time.Duration
	max    int // addresses remembered

	mu    sync.Mutex
	asked map[string]paceEntry
}

type paceEntry struct {
	window time.Time // the window's start
	n      int       // asked in it
	last   time.Time
}

func newSignInPace(limit int, window time.Duration, max int) *signInPace {
	return &signInPace{limit: limit, window: window, max: max, asked: map[string]paceEntry{}}
}

// ask counts a request for an address at now. ok says whether a link is
// to be sent; if not, last is when the last one was asked for and next
// when the address may ask again.
func (p *signInPace) ask(email string, now time.Time) (last, next time.Time, ok bool) {
	start := now.Truncate(p.window)
	p.mu.Lock()
	defer p.mu.Unlock()
	e, found := p.asked[email]
	if !found || !e.window.Equal(start) {
		e = paceEntry{window: start}
		if !found && len(p.asked) >= p.max {
			p.forget(start)
		}
	}
	if e.n >= p.limit {
		return e.last, start.Add(p.window), false
	}
	e.n, e.last = e.n+1, now
	p.asked[email] = e
	return now, time.Time{}, true
}

// forget makes room: the addresses of past windows go, or, if every one is
// of this window (a flood of addresses), half of them.
func (p *signInPace) forget(start time.Time) {
	for k, e := range p.asked {
		if !e.window.Equal(start) {
			delete(p.asked, k)
		}
	}
	for k := range p.asked {
		if len(p.asked) < p.max/2 {
			break
		}
		delete(p.asked, k)
	}
}

// signInAnswer is where the sign-in form sends the browser: the account
// page, saying when the link was asked for, or, past the limit, when the
// last was and when the address may ask again.
func signInAnswer(last, next time.Time, ok bool) string {
	q := url.Values{"sent": {strconv.FormatInt(last.Unix(), 10)}}
	if !ok {
		q.Set("next", strconv.FormatInt(next.Unix(), 10))
	}
	return "/account?" + q.Encode()
}

// signInNotice is what the sign-in form says after a request.
type signInNotice struct {
	Sent bool
	// At is when the last link was asked for ("18:42 UTC"); empty if the
	// answer does not say.
	At string
	// Next, past the limit: when the address may ask again; empty when
	// a link is on its way.
	Next string
}

// signInNoticeOf reads the notice from the page's address. Anyone can
// write such an address; it says only what it says to whoever opens it.
func signInNoticeOf(q url.Values) signInNotice {
	if q.Get("sent") == "" {
		return signInNotice{}
	}
	n := signInNotice{Sent: true}
	if at, ok := unixParam(q.Get("sent")); ok {
		n.At = clockTime(at)
	}
	if next, ok := unixParam(q.Get("next")); ok {
		n.Next = clockTime(next)
	}
	return n
}

// unixParam reads a time in Unix seconds, refusing what is not a
// plausible one (the sent=1 of older pages).
func unixParam(v string) (time.Time, bool) {
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 1_000_000_000 || sec > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// clockTime writes a moment for the page: "18:42 UTC".
func clockTime(t time.Time) string { return t.UTC().Format("15:04 MST") }
