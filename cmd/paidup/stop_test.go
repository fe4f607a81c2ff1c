package main

import (
	"bytes"
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
	slow, sending := slowSMTP(t, mp.smtpAddr, 2*time.Second)
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
	case <-sending:
	case <-time.After(30 * time.Second):
		t.Fatalf("paidup never sent to the mail server:\n%s", logTail(p.lastLog))
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

// slowSMTP is a mail server that is slow to take a message: a proxy in
// front of target that holds the end of each message's data for delay
// before passing it on, so that the message is being sent all that time.
// It tells sending of each message, as its end arrives. (Holding the
// connection instead would not do: paidup opens one at start, to learn
// the server's extensions, and sends on it later.)
func slowSMTP(t *testing.T, target string, delay time.Duration) (addr string, sending <-chan struct{}) {
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
			go func() {
				defer conn.Close()
				server, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer server.Close()
				go func() {
					holdMessageEnds(server, conn, delay, ch)
					server.(*net.TCPConn).CloseWrite()
				}()
				io.Copy(conn, server)
			}()
		}
	}()
	return strings.TrimPrefix(ln.Addr().String(), "tcp://"), ch
}

// holdMessageEnds copies what the client sends to the server, holding each
// chunk that ends a message's data ("\r\n.\r\n") for delay, and telling
// sending first.
func holdMessageEnds(server io.Writer, client io.Reader, delay time.Duration, sending chan<- struct{}) {
	end := []byte("\r\n.\r\n")
	var tail []byte // the last bytes seen, for an end split across reads
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			seen := append(tail, buf[:n]...)
			if bytes.Contains(seen, end) {
				select {
				case sending <- struct{}{}:
				default:
				}
				time.Sleep(delay)
			}
			tail = append([]byte(nil), seen[max(0, len(seen)-len(end)+1):]...)
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
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
