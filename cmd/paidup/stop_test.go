package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/sqldb"
)

// SIGTERM is a graceful stop: the jobs running when it comes finish
// before paidup exits. Here the confirmation is on its way to a slow mail
// server when paidup is told to stop; it is delivered and recorded as
// sent, its job completes, and paidup started again sends nothing more —
// the customer gets one email, not the same one again after the restart.
func TestGracefulStopFinishesRunningJobs(t *testing.T) {
	mp := startMailpitWith(t, false) // every copy counts
	bin := buildPaidup(t)
	c := newCrashSetup(t, bin, mp, sqldb.SQLite)
	slow, connected := slowSMTP(t, mp.smtpAddr, 2*time.Second)
	p := c.startPaidup(t, bin, &mailpit{smtpAddr: slow, api: mp.api}, "", crashConfig{})
	customer := "patient-" + c.id + "@example.com"

	_, form := p.request(http.MethodGet, "/buy/pro-annual", nil, http.StatusOK)
	ref := regexp.MustCompile(`name="reference" value="([^"]+)"`).FindStringSubmatch(form)
	if ref == nil {
		t.Fatalf("no reference on the buy form:\n%s", form)
	}
	resp, _ := p.request(http.MethodPost, "/buy/pro-annual", url.Values{"email": {customer}, "reference": {ref[1]}}, http.StatusSeeOther)
	payOnSandboxPage(t, resp.Header.Get("Location"))

	select {
	case <-connected:
	case <-time.After(30 * time.Second):
		t.Fatalf("paidup never connected to the mail server:\n%s", logTail(p.lastLog))
	}
	// The confirmation is being sent: stop paidup now.
	p.stopGracefully()
	var status, job string
	if err := c.db.Read.QueryRow(`SELECT status FROM emails WHERE kind = 'confirmation'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if err := c.db.Read.QueryRow(`SELECT state FROM river_job WHERE kind = 'send_email'`).Scan(&job); err != nil {
		t.Fatal(err)
	}
	if status != "sent" || job != "completed" {
		t.Errorf("after the graceful stop the confirmation is %s and its job %s; want sent and completed:\n%s", status, job, logTail(p.lastLog))
	}

	p.start(false)
	p.waitSettled(customer, c.oncall, c.sandboxURL, c.db) // fails on a second email
	time.Sleep(time.Second)                               // anything late has come
	if msgs := mp.messagesTo(t, customer); len(msgs) != 1 {
		t.Fatalf("the customer got %d emails: %v", len(msgs), msgs)
	}
}

// slowSMTP is a mail server that is slow to answer: a proxy in front of
// target that holds each connection for delay before passing it on. It
// tells connected of each connection, as it arrives.
func slowSMTP(t *testing.T, target string, delay time.Duration) (addr string, connected <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan struct{}, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
			go func() {
				defer conn.Close()
				time.Sleep(delay)
				server, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer server.Close()
				go func() { io.Copy(server, conn); server.(*net.TCPConn).CloseWrite() }()
				io.Copy(conn, server)
			}()
		}
	}()
	return strings.TrimPrefix(ln.Addr().String(), "tcp://"), ch
}

// stopGracefully stops paidup as an operator does, with SIGTERM, and fails
// the test unless it exits cleanly.
func (p *paidupChild) stopGracefully() {
	p.t.Helper()
	p.proc.cmd.Process.Signal(syscall.SIGTERM)
	if !p.proc.waitExit(30*time.Second) || !p.proc.cmd.ProcessState.Success() {
		p.t.Fatalf("paidup did not stop cleanly (%s):\n%s", p.proc.state(), logTail(p.lastLog))
	}
}
