package whitelist

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"
)

// RCON packet types.
const (
	rconAuth     = 3
	rconCommand  = 2
	rconResponse = 0
)

// maxRCONBody is the largest command Minecraft takes.
const maxRCONBody = 1446

// RCON is a whitelist behind a server's remote console (Minecraft's
// `whitelist add|remove|list`). One connection is kept, signed in, and
// made again when it breaks.
type RCON struct {
	Addr, Password string
	// Timeout bounds each exchange; zero: 10 s.
	Timeout time.Duration

	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
	id   int32
}

// ErrRCONAuth: the server refused the RCON password.
var ErrRCONAuth = errors.New("rcon: the server refused the password (rcon.password in server.properties)")

// Command runs a console command and returns the server's answer.
func (c *RCON) Command(ctx context.Context, cmd string) (string, error) {
	if len(cmd) > maxRCONBody || strings.ContainsAny(cmd, "\x00\r\n") {
		return "", fmt.Errorf("rcon: command %q is not one line of at most %d bytes", cmd, maxRCONBody)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		if err := c.connect(ctx); err != nil {
			return "", err
		}
	}
	out, err := c.exchange(ctx, rconCommand, cmd)
	if err != nil {
		c.close()
	}
	return out, err
}

// Close ends the connection.
func (c *RCON) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.close()
}

func (c *RCON) close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.r = nil, nil
	return err
}

func (c *RCON) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 10 * time.Second
}

func (c *RCON) connect(ctx context.Context) error {
	d := net.Dialer{Timeout: c.timeout()}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("rcon: %w", err)
	}
	c.conn, c.r = conn, bufio.NewReader(conn)
	if _, err := c.exchange(ctx, rconAuth, c.Password); err != nil {
		c.close()
		return err
	}
	return nil
}

// exchange sends a packet and reads its answer: for a sign-in, the
// answer whose id says whether it was accepted.
func (c *RCON) exchange(ctx context.Context, typ int32, body string) (string, error) {
	deadline := time.Now().Add(c.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	c.id++
	id := c.id
	pkt := make([]byte, 14+len(body))
	binary.LittleEndian.PutUint32(pkt[0:], uint32(10+len(body)))
	binary.LittleEndian.PutUint32(pkt[4:], uint32(id))
	binary.LittleEndian.PutUint32(pkt[8:], uint32(typ))
	copy(pkt[12:], body)
	if _, err := c.conn.Write(pkt); err != nil {
		return "", fmt.Errorf("rcon: %w", err)
	}
	for {
		gotID, gotType, text, err := c.read()
		if err != nil {
			return "", err
		}
		switch {
		case typ == rconAuth && gotType == rconCommand: // the auth response
			if gotID == -1 {
				return "", ErrRCONAuth
			}
			return "", nil
		case typ == rconAuth:
			continue // an empty response some servers send first
		case gotType == rconResponse && gotID == id:
			return text, nil
		}
	}
}

func (c *RCON) read() (id, typ int32, body string, err error) {
	var size int32
	if err = binary.Read(c.r, binary.LittleEndian, &size); err != nil {
		return 0, 0, "", fmt.Errorf("rcon: reading an answer: %w", err)
	}
	if size < 10 || size > 1<<16 {
		return 0, 0, "", fmt.Errorf("rcon: an answer of %d bytes is not a packet", size)
	}
	buf := make([]byte, size)
	if _, err = io.ReadFull(c.r, buf); err != nil {
		return 0, 0, "", fmt.Errorf("rcon: reading an answer: %w", err)
	}
	id = int32(binary.LittleEndian.Uint32(buf[0:]))
	typ = int32(binary.LittleEndian.Uint32(buf[4:]))
	return id, typ, strings.TrimRight(string(buf[8:]), "\x00"), nil
}

// A Minecraft player's name: 3 to 16 letters, digits and underscores.
var playerName = regexp.MustCompile(`^[A-Za-z0-9_]{3,16}$`)

func checkName(p Player) error {
	if !playerName.MatchString(p.Name) {
		return fmt.Errorf("whitelist: %q is not a player's name", p.Name)
	}
	return nil
}

// Grant puts a player on the whitelist.
func (c *RCON) Grant(ctx context.Context, p Player) error {
	return c.whitelist(ctx, "add", p, "Added ", "already whitelisted")
}

// Revoke takes a player off the whitelist.
func (c *RCON) Revoke(ctx context.Context, p Player) error {
	return c.whitelist(ctx, "remove", p, "Removed ", "not whitelisted")
}

// whitelist runs `whitelist VERB NAME`; the server's answer is a success
// when it starts with done, or says the player already was as asked.
func (c *RCON) whitelist(ctx context.Context, verb string, p Player, done, already string) error {
	if err := checkName(p); err != nil {
		return err
	}
	out, err := c.Command(ctx, "whitelist "+verb+" "+p.Name)
	if err != nil {
		return err
	}
	if strings.HasPrefix(out, done) || strings.Contains(out, already) {
		return nil
	}
	return fmt.Errorf("whitelist %s %s: the server said %q", verb, p.Name, out)
}

// List reads `whitelist list`: "There are 2 whitelisted player(s): a, b".
func (c *RCON) List(ctx context.Context) ([]string, error) {
	out, err := c.Command(ctx, "whitelist list")
	if err != nil {
		return nil, err
	}
	if strings.Contains(out, "no whitelisted players") {
		return nil, nil
	}
	_, names, ok := strings.Cut(out, ": ")
	if !ok {
		return nil, fmt.Errorf("whitelist list: the server said %q", out)
	}
	var list []string
	for n := range strings.SplitSeq(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			list = append(list, n)
		}
	}
	return list, nil
}
