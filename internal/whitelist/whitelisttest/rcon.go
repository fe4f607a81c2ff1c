// Package whitelisttest is a fake game server for tests: a whitelist
// behind RCON, answering as a Minecraft server does.
package whitelisttest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
)

// RCON is the fake server.
type RCON struct {
	Addr     string
	password string

	mu        sync.Mutex
	whitelist []string
	commands  []string
	conns     map[net.Conn]bool
	ln        net.Listener
}

// StartRCON starts a fake server whose RCON password is password.
func StartRCON(t testing.TB, password string) *RCON {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &RCON{Addr: ln.Addr().String(), password: password, ln: ln, conns: map[net.Conn]bool{}}
	go s.accept()
	t.Cleanup(func() { ln.Close(); s.Drop() })
	return s
}

// Whitelist is who is on it, in the order added.
func (s *RCON) Whitelist() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.whitelist)
}

// Commands are the commands run, in order.
func (s *RCON) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Drop closes every connection, as a server restart does.
func (s *RCON) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *RCON) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *RCON) serve(c net.Conn) {
	defer func() { c.Close(); s.mu.Lock(); delete(s.conns, c); s.mu.Unlock() }()
	r := bufio.NewReader(c)
	authed := false
	for {
		var size int32
		if binary.Read(r, binary.LittleEndian, &size) != nil || size < 10 || size > 4096 {
			return
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		id := int32(binary.LittleEndian.Uint32(buf[0:]))
		typ := int32(binary.LittleEndian.Uint32(buf[4:]))
		body := strings.TrimRight(string(buf[8:]), "\x00")
		switch {
		case typ == 3:
			authed = body == s.password
			if !authed {
				id = -1
			}
			write(c, id, 2, "")
		case typ == 2 && authed:
			write(c, id, 0, s.run(body))
		default:
			write(c, -1, 2, "")
		}
	}
}

func (s *RCON) run(cmd string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, cmd)
	f := strings.Fields(cmd)
	switch {
	case len(f) == 3 && f[0] == "whitelist" && f[1] == "add":
		if slices.Contains(s.whitelist, f[2]) {
			return "Player is already whitelisted"
		}
		s.whitelist = append(s.whitelist, f[2])
		return "Added " + f[2] + " to the whitelist"
	case len(f) == 3 && f[0] == "whitelist" && f[1] == "remove":
		if !slices.Contains(s.whitelist, f[2]) {
			return "Player is not whitelisted"
		}
		s.whitelist = slices.DeleteFunc(s.whitelist, func(n string) bool { return n == f[2] })
		return "Removed " + f[2] + " from the whitelist"
	case cmd == "whitelist list":
		if len(s.whitelist) == 0 {
			return "There are no whitelisted players"
		}
		return fmt.Sprintf("There are %d whitelisted player(s): %s", len(s.whitelist), strings.Join(s.whitelist, ", "))
	}
	return "Unknown or incomplete command, see below for error"
}

func write(c net.Conn, id, typ int32, body string) {
	pkt := make([]byte, 14+len(body))
	binary.LittleEndian.PutUint32(pkt[0:], uint32(10+len(body)))
	binary.LittleEndian.PutUint32(pkt[4:], uint32(id))
	binary.LittleEndian.PutUint32(pkt[8:], uint32(typ))
	copy(pkt[12:], body)
	c.Write(pkt)
}
