package notify_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/notify"
)

// fakeSMTP is a scripted mail server: it records each connection's
// commands and the messages it took, and can be told how to misbehave.
type fakeSMTP struct {
	t  *testing.T
	ln net.Listener

	mu       sync.Mutex
	open     []net.Conn
	conns    int
	messages []string // Message-IDs taken, in order
	commands [][]string
	mails    []string // the MAIL commands, whole
	// extensions are what EHLO offers.
	extensions []string
	// onCommand, if set, decides what to do with a command on connection
	// n (counted from 1): "" to answer normally, "drop" to close the
	// connection without a reply, or a reply line to send instead.
	onCommand func(conn int, cmd string) string
}

func newFakeSMTP(t *testing.T) *fakeSMTP { return newFakeSMTPOn(t, "127.0.0.1:0") }

// newFakeSMTPOn runs the fake server on addr.
func newFakeSMTPOn(t *testing.T, addr string) *fakeSMTP {
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	f := &fakeSMTP{t: t, ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.open {
			c.Close() // the client may keep it open
		}
		f.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.open = append(f.open, c)
			n := f.conns
			f.commands = append(f.commands, nil)
			f.mu.Unlock()
			wg.Go(func() { f.serve(c, n) })
		}
	})
	return f
}

// script sets onCommand.
func (f *fakeSMTP) script(fn func(conn int, cmd string) string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCommand = fn
}

func (f *fakeSMTP) url() string { return "smtp://" + f.ln.Addr().String() }

func (f *fakeSMTP) serve(c net.Conn, n int) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(s string) { c.Write([]byte(s + "\r\n")) }
	reply("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSpace(line)
		verb := strings.ToUpper(strings.Fields(cmd + " x")[0])
		f.mu.Lock()
		f.commands[n-1] = append(f.commands[n-1], verb)
		hook := f.onCommand
		f.mu.Unlock()
		if hook != nil {
			switch act := hook(n, verb); act {
			case "":
			case "drop":
				return
			default:
				reply(act)
				continue
			}
		}
		switch verb {
		case "EHLO", "HELO":
			f.mu.Lock()
			ext := f.extensions
			f.mu.Unlock()
			lines := append([]string{"fake"}, ext...)
			for i, l := range lines {
				if i < len(lines)-1 {
					reply("250-" + l)
				} else {
					reply("250 " + l)
				}
			}
		case "MAIL", "RCPT", "RSET", "NOOP":
			if verb == "MAIL" {
				f.mu.Lock()
				f.mails = append(f.mails, cmd)
				f.mu.Unlock()
			}
			reply("250 OK")
		case "DATA":
			reply("354 go ahead")
			var id string
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				if v, ok := strings.CutPrefix(l, "Message-ID: "); ok {
					id = strings.TrimSpace(v)
				}
			}
			f.mu.Lock()
			act := ""
			if f.onCommand != nil {
				act = f.onCommand(n, "END-DATA")
			}
			if act != "drop" {
				f.messages = append(f.messages, id)
			}
			f.mu.Unlock()
			if act == "drop" {
				return
			}
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func (f *fakeSMTP) state() (conns int, messages []string, commands [][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, append([]string(nil), f.messages...), append([][]string(nil), f.commands...)
}

func testMessage(t *testing.T, id string) *notify.Message {
	m, err := notify.NewMessage("Shop <shop@paidup.test>", "buyer@example.com")
	require.NoError(t, err)
	m.MessageID, m.Subject, m.Text, m.HTML, m.Date = id, "Hello", "Hello", "<p>Hello</p>", time.Now()
	return m
}

func TestSMTPReusesConnections(t *testing.T) {
	t.Parallel()
	f := newFakeSMTP(t)
	s, err := notify.NewSMTP(f.url())
	require.NoError(t, err)
	ctx := context.Background()
	for _, id := range []string{"a@paidup.test", "b@paidup.test", "c@paidup.test"} {
		require.NoError(t, s.Send(ctx, testMessage(t, id)))
	}
	conns, msgs, cmds := f.state()
	require.Equal(t, 1, conns, "one connection for all three messages")
	require.Equal(t, []string{"<a@paidup.test>", "<b@paidup.test>", "<c@paidup.test>"}, msgs)
	require.Equal(t, []string{"EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA"}, cmds[0],
		"RSET before each message on a reused connection")

	require.NoError(t, s.Close())
	require.Eventually(t, func() bool {
		_, _, cmds := f.state()
		return cmds[0][len(cmds[0])-1] == "QUIT"
	}, 5*time.Second, 10*time.Millisecond, "Close ends idle connections with QUIT")
}

func TestSMTPStaleConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, act string }{
		{"dropped before RSET answers", "drop"},
		{"server closing (421)", "421 closing connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeSMTP(t)
			f.script(func(conn int, cmd string) string {
				if conn == 1 && cmd == "RSET" {
					return tc.act // the first connection went stale while idle
				}
				return ""
			})
			s, err := notify.NewSMTP(f.url())
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, s.Send(ctx, testMessage(t, "a@paidup.test")))
			require.NoError(t, s.Send(ctx, testMessage(t, "b@paidup.test")), "sent again on a fresh connection")
			conns, msgs, _ := f.state()
			require.Equal(t, 2, conns)
			require.Equal(t, []string{"<a@paidup.test>", "<b@paidup.test>"}, msgs, "each message taken once")
		})
	}
}

func TestSMTPNoResendOnceDataIsHandedOver(t *testing.T) {
	t.Parallel()
	f := newFakeSMTP(t)
	f.script(func(conn int, cmd string) string {
		if conn == 1 && cmd == "END-DATA" {
			return "drop" // the reply to the message's data is lost
		}
		return ""
	})
	s, err := notify.NewSMTP(f.url())
	require.NoError(t, err)
	err = s.Send(context.Background(), testMessage(t, "a@paidup.test"))
	require.Error(t, err, "the server may have taken it: the caller decides about a retry")
	conns, _, _ := f.state()
	require.Equal(t, 1, conns, "not resent on another connection by the mailer itself")

	// The connection is not reused after a failure.
	require.NoError(t, s.Send(context.Background(), testMessage(t, "b@paidup.test")))
	conns, msgs, _ := f.state()
	require.Equal(t, 2, conns)
	require.Equal(t, []string{"<b@paidup.test>"}, msgs)
}

func TestSMTPRefusalIsNotRetried(t *testing.T) {
	t.Parallel()
	f := newFakeSMTP(t)
	rcpts := 0
	f.script(func(conn int, cmd string) string {
		if cmd == "RCPT" {
			if rcpts++; rcpts == 2 {
				return "550 no such user"
			}
		}
		return ""
	})
	s, err := notify.NewSMTP(f.url())
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), testMessage(t, "a@paidup.test")))
	require.ErrorContains(t, s.Send(context.Background(), testMessage(t, "b@paidup.test")), "550",
		"a refusal on a reused connection is the server's answer, not a stale connection")
	conns, msgs, _ := f.state()
	require.Equal(t, 1, conns)
	require.Equal(t, []string{"<a@paidup.test>"}, msgs)
}

// What the server offers is learnt once, from its EHLO, and asked again
// only while it could not be reached.
func TestSMTPUTF8IsProbedAndCached(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // down at first
	s, err := notify.NewSMTP("smtp://" + addr)
	require.NoError(t, err)
	s.ReprobeAfter = 100 * time.Millisecond
	ctx := context.Background()
	_, err = s.SMTPUTF8(ctx)
	require.ErrorContains(t, err, "connecting to mail server")
	_, err = s.SMTPUTF8(ctx)
	require.ErrorContains(t, err, "connecting to mail server", "the failure stands for a while")

	f := newFakeSMTPOn(t, addr)
	f.mu.Lock()
	f.extensions = []string{"8BITMIME", "SMTPUTF8"}
	f.mu.Unlock()
	require.Eventually(t, func() bool {
		ok, err := s.SMTPUTF8(ctx)
		return err == nil && ok
	}, 5*time.Second, 20*time.Millisecond, "asked again once the server is up")
	for range 3 {
		ok, err := s.SMTPUTF8(ctx)
		require.NoError(t, err)
		require.True(t, ok)
	}
	conns, _, _ := f.state()
	require.Equal(t, 1, conns, "asked once, and the connection kept for the next message")
	require.NoError(t, s.Send(ctx, testMessage(t, "a@paidup.test")))
	conns, msgs, _ := f.state()
	require.Equal(t, 1, conns)
	require.Len(t, msgs, 1)
}

// A recipient with a non-ASCII local part is sent with SMTPUTF8 through a
// server that offers it, and not at all through one that does not.
func TestSMTPUTF8Recipients(t *testing.T) {
	t.Parallel()
	const zoe = "zo\u00eb@example.com"
	message := func(t *testing.T, to, id string) *notify.Message {
		m, err := notify.NewMessage("Shop <shop@paidup.test>", to)
		require.NoError(t, err)
		m.MessageID, m.Subject, m.Text, m.HTML, m.Date = id, "Hello", "Hello", "<p>Hello</p>", time.Now()
		return m
	}
	t.Run("offered", func(t *testing.T) {
		t.Parallel()
		f := newFakeSMTP(t)
		f.mu.Lock()
		f.extensions = []string{"SMTPUTF8"}
		f.mu.Unlock()
		s, err := notify.NewSMTP(f.url())
		require.NoError(t, err)
		require.NoError(t, s.Send(context.Background(), message(t, zoe, "a@paidup.test")))
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Equal(t, []string{"MAIL FROM:<shop@paidup.test> SMTPUTF8"}, f.mails)
		require.Equal(t, []string{"<a@paidup.test>"}, f.messages)
	})
	t.Run("not offered", func(t *testing.T) {
		t.Parallel()
		f := newFakeSMTP(t)
		s, err := notify.NewSMTP(f.url())
		require.NoError(t, err)
		ok, err := s.SMTPUTF8(context.Background())
		require.NoError(t, err)
		require.False(t, ok)
		err = s.Send(context.Background(), message(t, zoe, "a@paidup.test"))
		require.ErrorIs(t, err, notify.ErrNoSMTPUTF8)
		require.NoError(t, s.Send(context.Background(), message(t, "zoe@example.com", "b@paidup.test")), "an ASCII address goes through")
		conns, msgs, _ := f.state()
		require.Equal(t, 1, conns, "the refusal did not cost the connection")
		require.Equal(t, []string{"<b@paidup.test>"}, msgs)
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Equal(t, []string{"MAIL FROM:<shop@paidup.test>"}, f.mails, "nothing was sent for zoë")
	})
}
