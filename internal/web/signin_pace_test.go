package web

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// The pace lets an address ask limit times a window, then names the last
// request and the window's end; a new window starts afresh; it remembers
// a bounded number of addresses.
func TestSignInPace(t *testing.T) {
	p := newSignInPace(3, 10*time.Minute, 4)
	t0 := time.Date(2026, 12, 4, 18, 40, 0, 0, time.UTC)
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Minute)
		if last, _, ok := p.ask("ada@example.com", at); !ok || !last.Equal(at) {
			t.Fatalf("request %d: ok %v, last %s", i+1, ok, last)
		}
	}
	last, next, ok := p.ask("ada@example.com", t0.Add(5*time.Minute))
	if ok || !last.Equal(t0.Add(2*time.Minute)) || !next.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("past the limit: ok %v, last %s, next %s", ok, last, next)
	}
	if _, _, ok := p.ask("eve@example.com", t0.Add(5*time.Minute)); !ok {
		t.Fatal("another address has its own allowance")
	}
	if _, _, ok := p.ask("ada@example.com", t0.Add(10*time.Minute)); !ok {
		t.Fatal("a new window starts afresh")
	}
	for i := range 20 {
		p.ask(fmt.Sprintf("a%d@example.com", i), t0.Add(11*time.Minute))
	}
	if len(p.asked) > 4 {
		t.Fatalf("remembers %d addresses, at most 4", len(p.asked))
	}

	n := signInNoticeOf(url.Values{"sent": {"1"}})
	if !n.Sent || n.At != "" {
		t.Fatalf("an older page's sent=1: %+v", n)
	}
	n = signInNoticeOf(url.Values{"sent": {fmt.Sprint(t0.Unix())}, "next": {fmt.Sprint(t0.Add(10 * time.Minute).Unix())}})
	if n.At != "18:40 UTC" || n.Next != "18:50 UTC" {
		t.Fatalf("notice: %+v", n)
	}
}
