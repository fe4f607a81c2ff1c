package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// customers buy through the load balancer, each one purchase after
// another, until stopped: the buy form, payment on the processor's page,
// and back to the status page, following the redirects they are given.
// When paidup answers with an error or the connection breaks, they reload
// the page, as a person would.
type customers struct {
	f    *fleet
	n    int
	quit chan struct{}
	wg   sync.WaitGroup

	mu        sync.Mutex
	purchases []*customerPurchase
	failures  []string
	paid      atomic.Int64
	// reloads counts the pages customers had to load again.
	reloads atomic.Int64
}

// customerPurchase is one customer's purchase as they lived it.
type customerPurchase struct {
	email, reference string
	// browser is the customer's, connecting from an address of their own
	// (see customerBrowser).
	browser *http.Client
	// status is the status page the processor sent them back to, at the
	// end of the redirects; saw is its heading then.
	status, saw string
}

// startCustomers starts n customers buying at once, each pausing between
// purchases.
func (f *fleet) startCustomers(n int, pause time.Duration) *customers {
	c := &customers{f: f, n: n, quit: make(chan struct{})}
	for i := range n {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for k := 0; ; k++ {
				select {
				case <-c.quit:
					return
				default:
				}
				p, err := c.buy(fmt.Sprintf("buyer%d-%d-%s@example.com", i, k, crashID(3)))
				c.mu.Lock()
				if err != nil {
					c.failures = append(c.failures, err.Error())
				} else {
					c.purchases = append(c.purchases, p)
				}
				c.mu.Unlock()
				// A moment between purchases, so that the processor's
				// webhooks keep up on a small machine.
				select {
				case <-c.quit:
				case <-time.After(pause):
				}
			}
		}()
	}
	f.t.Cleanup(c.halt)
	return c
}

// halt stops the customers (after the purchases under way) and waits.
func (c *customers) halt() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	c.wg.Wait()
}

// stop is halt, failing the test if any purchase could not be made.
func (c *customers) stop() {
	c.f.t.Helper()
	c.halt()
	if len(c.failures) > 0 {
		c.f.t.Fatalf("%d purchases failed; the first: %s", len(c.failures), c.failures[0])
	}
}

// waitMore waits until n more purchases have been paid and seen through
// to the status page.
func (c *customers) waitMore(n int) {
	c.f.t.Helper()
	want := c.paid.Load() + int64(n)
	deadline := time.Now().Add(60 * time.Second)
	for c.paid.Load() < want {
		c.mu.Lock()
		failed := len(c.failures)
		c.mu.Unlock()
		if failed > 0 || time.Now().After(deadline) {
			c.stop()
			c.f.t.Fatalf("customers stalled: %d of %d purchases after 60 s", c.paid.Load(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var referenceField = regexp.MustCompile(`name="reference" value="([^"]+)"`)

// buy is one purchase of the one-year plan by a new customer.
func (c *customers) buy(email string) (*customerPurchase, error) {
	p := &customerPurchase{email: email, browser: customerBrowser()}
	shop := c.f.lb.URL
	_, _, form, err := c.visit(p.browser, http.MethodGet, shop+"/buy/pro-annual", nil)
	if err != nil {
		return nil, err
	}
	m := referenceField.FindStringSubmatch(form)
	if m == nil {
		return nil, fmt.Errorf("%s: no reference on the buy form:\n%s", email, form)
	}
	p.reference = m[1]
	status, payPage, body, err := c.visit(p.browser, http.MethodPost, shop+"/buy/pro-annual", url.Values{"email": {email}, "reference": {p.reference}})
	if err != nil {
		return nil, err
	}
	if status != http.StatusSeeOther || !strings.HasPrefix(payPage, c.f.sandboxURL+"/") {
		return nil, fmt.Errorf("%s: the buy form answered %d, to %q:\n%s", email, status, payPage, body)
	}
	back, err := payOn(p.browser, payPage)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", email, err)
	}
	// Back to paidup, wherever the processor and paidup send the customer.
	for hops := 0; ; hops++ {
		status, next, body, err := c.visit(p.browser, http.MethodGet, back, nil)
		if err != nil {
			return nil, err
		}
		if status == http.StatusOK {
			p.status = back
			p.saw = statusHeading(body)
			break
		}
		if status/100 != 3 || hops >= 5 {
			return nil, fmt.Errorf("%s: the status page %s answered %d:\n%s", email, back, status, body)
		}
		back = next
	}
	if p.saw != "You're in" && p.saw != "We're confirming your payment" {
		return nil, fmt.Errorf("%s paid, and the status page %s says %q", email, p.status, p.saw)
	}
	c.paid.Add(1)
	return p, nil
}

// visit loads a page through the load balancer without following
// redirects, reloading it for up to 15 s while the answer is an error or
// the connection breaks. It returns the status, the redirect's target
// (resolved against the page) and the body.
func (c *customers) visit(browser *http.Client, method, page string, form url.Values) (int, string, string, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, location, body, err := request(browser, method, page, form)
		if err == nil && status < 500 {
			return status, location, body, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d: %s", status, body)
			}
			return 0, "", "", fmt.Errorf("%s %s: still failing after 15 s: %w", method, page, err)
		}
		c.reloads.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
}

// request makes one request as a browser would, without following a
// redirect.
func request(browser *http.Client, method, page string, form url.Values) (int, string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, page, body)
	if err != nil {
		return 0, "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := browser.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, "", "", err
	}
	location := ""
	if l, err := resp.Location(); err == nil {
		location = l.String()
	}
	return resp.StatusCode, location, string(data), nil
}

// payOn pays with the test card on the processor's hosted page and returns
// where the processor sends the customer back to.
func payOn(browser *http.Client, page string) (string, error) {
	status, back, body, err := request(browser, http.MethodPost, page, url.Values{
		"card_number": {"4242 4242 4242 4242"}, "exp": {"12 / 34"}, "cvc": {"123"}, "name": {"Ada Lovelace"},
	})
	if err != nil {
		return "", fmt.Errorf("paying on %s: %w", page, err)
	}
	if status != http.StatusSeeOther || back == "" {
		return "", fmt.Errorf("paying on %s: status %d:\n%s", page, status, body)
	}
	return back, nil
}

// customerAddrs numbers the customers' addresses.
var customerAddrs atomic.Uint32

// customerBrowser is a new customer's browser. Each customer connects from
// an address of their own on the loopback network (127.0.0.2 onwards; the
// load balancer, which paidup trusts as a proxy, is 127.0.0.1), as
// customers on the internet do, so that paidup's per-client limits count
// each customer apart, as they would in production.
func customerBrowser() *http.Client {
	n := customerAddrs.Add(1) + 1 // from 2: 127.0.0.1 is the load balancer's
	local := netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n)})
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var h1 = regexp.MustCompile(`<h1>([^<]*)</h1>`)

// statusHeading is a page's heading, as the customer reads it.
func statusHeading(page string) string {
	m := h1.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&#39;", "'")
}
