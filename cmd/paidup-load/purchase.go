package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var customerClient = &http.Client{
	Timeout:       60 * time.Second,
	Transport:     &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// customers numbers the customers, each buying from an address of its own.
var customers atomic.Uint32

// buy submits paidup's buy form as a customer does (paidup records the
// checkout attempt and creates the processor checkout) and returns the id
// of the checkout session it sends the customer to. Each customer comes
// from an address of its own, through the loopback proxy paidup trusts
// (server.trusted_proxies), so that paidup's per-client limits are on and
// measured, as a shop's many customers meet them.
func buy(ctx context.Context, shopURL, sandboxURL, email string) (string, error) {
	return buyWith(ctx, shopURL, sandboxURL, url.Values{"email": {email}})
}

// buyWith submits the buy form with the fields given.
func buyWith(ctx context.Context, shopURL, sandboxURL string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, shopURL+"/buy/"+plan.id, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	n := customers.Add(1)
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n)))
	resp, err := customerClient.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("buy form: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, sandboxURL+"/c/pay/")
	if !ok {
		return "", fmt.Errorf("buy form sent the customer to %q", loc)
	}
	return id, nil
}

// purchase is one customer buying: when it was due to start, and when the
// processor confirmed the payment.
type purchase struct {
	email     string
	scheduled time.Time
	paid      time.Time
	err       error
}

// buyer makes purchases: through paidup's buy form, then paying on the
// processor.
type buyer struct {
	w      *world
	shop   string
	prefix string
	next   atomic.Int64
	paid   atomic.Int64
	failed atomic.Int64
}

func (b *buyer) buy(ctx context.Context, scheduled time.Time) *purchase {
	p := &purchase{email: fmt.Sprintf("%s-%d@example.test", b.prefix, b.next.Add(1)), scheduled: scheduled}
	id, err := buy(ctx, b.shop, b.w.sandboxURL, p.email)
	if err == nil {
		err = b.w.pay(ctx, id)
	}
	if err != nil {
		p.err = err
		b.failed.Add(1)
		return p
	}
	p.paid = time.Now()
	b.paid.Add(1)
	return p
}

// openLoop starts purchases at a constant rate for a duration, each at its
// scheduled time whether or not earlier ones have finished (open loop:
// a slow system does not slow the arrivals).
func openLoop(ctx context.Context, perSecond float64, d time.Duration, fn func(scheduled time.Time)) {
	n := int(perSecond * d.Seconds())
	interval := time.Duration(float64(time.Second) / perSecond)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-time.After(w):
			}
		}
		wg.Add(1)
		go func() { defer wg.Done(); fn(at) }()
	}
	wg.Wait()
}

// pipelineResult is what a purchase run measured.
type pipelineResult struct {
	offered         float64 // purchases per second asked for
	duration        time.Duration
	started, paid   int
	failed          int
	paidRate        float64 // payments per second achieved
	email, access   latencies
	missingEmail    int
	missingAccess   int
	duplicates      int // customers with more than one confirmation or grant
	backlogMax      int // paid, confirmation not yet at the mail server
	backlogEnd      int // the same, when the last purchase was paid
	drain           time.Duration
	cpu             string
	cpuPer          string // the measured program's CPU time per purchase
	per             string // requests, connections and commits per purchase
	check           string
	firstFailure    string
	notes           []string
	emailsPerSec    float64
	emailsDuringRun int
}

// runPipeline buys at a constant rate for a duration, then waits (up to
// wait) for every paid purchase's confirmation, and measures payment to
// confirmation-at-the-mail-server and payment to access.
func runPipeline(ctx context.Context, w *world, p *paidupProc, perSecond float64, d, wait time.Duration, prefix, dir string) (*pipelineResult, error) {
	b := &buyer{w: w, shop: p.shopURL, prefix: prefix}
	res := &pipelineResult{offered: perSecond, duration: d}
	var mu sync.Mutex
	var purchases []*purchase
	meter, t0 := startCPU(p.cmd.Process.Pid), time.Now()
	counts := w.startTally(ctx, p)
	// Mail already in the mailbox (another scenario's, before the run) is
	// not this run's.
	before, err := w.mailCount(ctx)
	if err != nil {
		return nil, err
	}
	mailed := func() (int, error) {
		n, err := w.mailCount(ctx)
		return n - before, err
	}

	// Sample the backlog every half second while buying.
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				n, err := mailed()
				if err == nil {
					res.backlogMax = max(res.backlogMax, int(b.paid.Load())-n)
				}
			}
		}
	}()
	openLoop(ctx, perSecond, d, func(at time.Time) {
		pu := b.buy(ctx, at)
		mu.Lock()
		purchases = append(purchases, pu)
		mu.Unlock()
	})
	genEnd := time.Now()
	close(stopSampling)
	<-sampled
	mailedAtEnd, _ := mailed()
	res.backlogEnd = int(b.paid.Load()) - mailedAtEnd
	res.backlogMax = max(res.backlogMax, res.backlogEnd)

	deadline := time.Now().Add(wait)
	for {
		n, err := mailed()
		if err != nil {
			return nil, err
		}
		if n >= int(b.paid.Load()) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.drain = time.Since(genEnd)
	res.cpu = meter.String()
	res.cpuPer = meter.procPer(int(b.paid.Load()))
	// Committed statistics reach pg_stat_database within a second.
	if counts.commits >= 0 {
		time.Sleep(time.Second)
	}
	res.per = counts.per(ctx, int(b.paid.Load()))

	mail, mailCount, err := w.mail(ctx)
	if err != nil {
		return nil, err
	}
	grants, grantCount, err := p.grants(ctx)
	if err != nil {
		return nil, err
	}
	var emailLat, accessLat []time.Duration
	var lastPaid time.Time
	// Every purchase's figures, for plotting: purchases.csv beside the logs.
	var csv strings.Builder
	csv.WriteString("email,scheduled_unix_ms,paid_unix_ms,email_ms,access_ms,error\n")
	defer func() { os.WriteFile(filepath.Join(dir, "purchases.csv"), []byte(csv.String()), 0o644) }()
	for _, pu := range purchases {
		emailMS, accessMS := "", ""
		if at, ok := mail[pu.email]; ok && pu.err == nil {
			emailMS = fmt.Sprintf("%.1f", float64(at.Sub(pu.paid))/1e6)
		}
		if at, ok := grants[pu.email]; ok && pu.err == nil {
			accessMS = fmt.Sprintf("%.1f", float64(at.Sub(pu.paid))/1e6)
		}
		errText := ""
		if pu.err != nil {
			errText = strings.ReplaceAll(pu.err.Error(), ",", ";")
		}
		fmt.Fprintf(&csv, "%s,%d,%d,%s,%s,%s\n", pu.email, pu.scheduled.UnixMilli(), pu.paid.UnixMilli(), emailMS, accessMS, errText)
		res.started++
		if pu.err != nil {
			res.failed++
			if res.firstFailure == "" {
				res.firstFailure = pu.err.Error()
			}
			continue
		}
		res.paid++
		if pu.paid.After(lastPaid) {
			lastPaid = pu.paid
		}
		if at, ok := mail[pu.email]; ok {
			emailLat = append(emailLat, at.Sub(pu.paid))
			if !at.After(genEnd) {
				res.emailsDuringRun++
			}
		} else {
			res.missingEmail++
		}
		if at, ok := grants[pu.email]; ok {
			accessLat = append(accessLat, at.Sub(pu.paid))
		} else {
			res.missingAccess++
		}
		if mailCount[pu.email] > 1 || grantCount[pu.email] > 1 {
			res.duplicates++
		}
	}
	res.paidRate = rate(res.paid, genEnd.Sub(t0))
	res.emailsPerSec = rate(res.emailsDuringRun, genEnd.Sub(t0))
	res.email, res.access = summarise(emailLat), summarise(accessLat)
	return res, nil
}
