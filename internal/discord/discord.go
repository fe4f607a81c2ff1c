// Package discord is paidup's own small client of Discord's REST API: a
// linked member's roles in a guild, read, added and removed. It keeps to
// Discord's rate limits as Discord documents them, without ever sleeping
// in a request: the buckets are learned from X-RateLimit-Bucket and
// obeyed before a request is sent, every request stays under the global
// limit, and a request that must wait answers a *Wait with how long, for
// the caller to postpone its job. The 401, 403 and 429 answers, which
// Discord counts toward banning a bot's address (10,000 in 10 minutes),
// are counted too, and the client stops asking well before.
package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultURL is Discord's API.
const DefaultURL = "https://discord.com/api/v10"

// Limits of Discord's that the client keeps to.
const (
	// GlobalRate is how many requests a second the client sends at most,
	// under Discord's global 50.
	GlobalRate = 45
	// InvalidWindow is the window in which Discord counts a bot's 401,
	// 403 and 429 answers; InvalidLimit is how many of them the client
	// allows itself in it, a tenth of Discord's 10,000.
	InvalidWindow = 10 * time.Minute
	InvalidLimit  = 1000
)

// Config is how the client reaches Discord.
type Config struct {
	// Token is the bot's token.
	Token string
	// URL is the API's base; empty: DefaultURL.
	URL string
	// Rate is the requests a second the client sends at most; zero:
	// GlobalRate.
	Rate float64
	HTTP *http.Client
	// Now is the clock the limits are kept on; nil: the wall clock.
	Now func() time.Time
}

// Client calls Discord. It is safe for concurrent use; its limits hold
// across every call made through it.
type Client struct {
	cfg  Config
	base string
	now  func() time.Time

	mu sync.Mutex
	// routes maps a route to the bucket Discord named for it; buckets
	// are by bucket and major parameter (the guild).
	routes  map[string]string
	buckets map[string]*bucket
	// globalUntil: a global 429 holds every request until then.
	globalUntil time.Time
	// sent are the times of the last requests, for the global rate.
	sent []time.Time
	// invalid are the times of the 401, 403 and 429 answers in the last
	// InvalidWindow.
	invalid []time.Time
	// halted: Discord refused the token (401); nothing more is sent.
	halted bool
}

type bucket struct {
	remaining int
	reset     time.Time
}

// New returns a client.
func New(cfg Config) *Client {
	c := &Client{cfg: cfg, base: strings.TrimRight(cfg.URL, "/"), now: cfg.Now, routes: map[string]string{}, buckets: map[string]*bucket{}}
	if c.base == "" {
		c.base = DefaultURL
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.Rate <= 0 {
		c.cfg.Rate = GlobalRate
	}
	if c.cfg.HTTP == nil {
		c.cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	return c
}

// Wait is the answer of a request that must wait: Discord's rate limit
// (a bucket's, the global one) or the client's own. Nothing was done;
// the same request after Wait is safe.
type Wait struct {
	After time.Duration
	// Why says which limit: "bucket", "global", "rate", "invalid".
	Why string
}

func (w *Wait) Error() string {
	return fmt.Sprintf("discord: rate limited (%s): try again in %s", w.Why, w.After.Round(time.Millisecond))
}

// Errors of Discord's answers.
var (
	// ErrUnauthorized: Discord refused the bot's token. The client sends
	// nothing more until it is made again with a good one.
	ErrUnauthorized = errors.New("discord: the bot token was refused (401): fix discord.bot_token; every Discord call has stopped")
	// ErrMissingPermissions: the bot may not change this role (code
	// 50013), mostly because its own role is below the role it manages.
	ErrMissingPermissions = errors.New("discord: missing permissions (50013): move the bot's role above the tier roles in the server's settings, and give it Manage Roles")
	// ErrUnknownMember: the user is not in the guild (code 10007): they
	// left, or never joined.
	ErrUnknownMember = errors.New("discord: the user is not a member of the server (10007)")
	// ErrUnknownRole: the role does not exist in the guild (10011).
	ErrUnknownRole = errors.New("discord: no such role in the server (10011): check the tier's role ids")
)

// Error is an answer of Discord's the client does not name: a 5xx (worth
// trying again) or another refusal.
type Error struct {
	Status  int
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("discord: %d: %s (code %d)", e.Status, e.Message, e.Code)
}

// Temporary reports whether the same request may succeed later.
func (e *Error) Temporary() bool { return e.Status >= 500 }

// Member is a guild member as Discord has them.
type Member struct {
	UserID string
	Roles  []string
}

// Member reads a member of a guild, one at a time (which needs no
// privileged intent).
func (c *Client) Member(ctx context.Context, guild, user string) (Member, error) {
	var m struct {
		User  struct{ ID string } `json:"user"`
		Roles []string            `json:"roles"`
	}
	if err := c.do(ctx, http.MethodGet, "/guilds/"+url.PathEscape(guild)+"/members/"+url.PathEscape(user), guild, "", &m); err != nil {
		return Member{}, err
	}
	return Member{UserID: m.User.ID, Roles: m.Roles}, nil
}

// AddRole gives a member a role; done already, it changes nothing. The
// reason is on the guild's audit log.
func (c *Client) AddRole(ctx context.Context, guild, user, role, reason string) error {
	return c.do(ctx, http.MethodPut, rolePath(guild, user, role), guild, reason, nil)
}

// RemoveRole takes a role from a member; not theirs, it changes nothing.
func (c *Client) RemoveRole(ctx context.Context, guild, user, role, reason string) error {
	return c.do(ctx, http.MethodDelete, rolePath(guild, user, role), guild, reason, nil)
}

func rolePath(guild, user, role string) string {
	return "/guilds/" + url.PathEscape(guild) + "/members/" + url.PathEscape(user) + "/roles/" + url.PathEscape(role)
}

// route is a request's route as Discord's buckets are: its method and
// path with every id but the major one (the guild) left out.
func route(method, path string) string {
	parts := strings.Split(path, "/")
	for i := range parts {
		if i > 2 && parts[i] != "" && !strings.ContainsFunc(parts[i], func(r rune) bool { return r < '0' || r > '9' }) {
			parts[i] = ":id"
		}
	}
	return method + " " + strings.Join(parts, "/")
}

// InvalidRequests is how many 401, 403 and 429 answers Discord gave in
// the last InvalidWindow.
func (c *Client) InvalidRequests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetInvalid(c.now())
	return len(c.invalid)
}

// admit decides whether a request may be sent now; it records it as sent
// if so.
func (c *Client) admit(rt, major string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	switch {
	case c.halted:
		return ErrUnauthorized
	case now.Before(c.globalUntil):
		return &Wait{After: c.globalUntil.Sub(now), Why: "global"}
	}
	if c.forgetInvalid(now); len(c.invalid) >= InvalidLimit {
		return &Wait{After: c.invalid[0].Add(InvalidWindow).Sub(now), Why: "invalid"}
	}
	if id, ok := c.routes[rt]; ok {
		if b := c.buckets[id+" "+major]; b != nil && b.remaining <= 0 && now.Before(b.reset) {
			return &Wait{After: b.reset.Sub(now), Why: "bucket"}
		}
	}
	// The global rate: at most Rate requests in any second.
	n := int(math.Ceil(c.cfg.Rate))
	i := 0
	for i < len(c.sent) && !c.sent[i].After(now.Add(-time.Second)) {
		i++
	}
	c.sent = c.sent[i:]
	if len(c.sent) >= n {
		return &Wait{After: c.sent[0].Add(time.Second).Sub(now), Why: "rate"}
	}
	c.sent = append(c.sent, now)
	return nil
}

func (c *Client) forgetInvalid(now time.Time) {
	i := 0
	for i < len(c.invalid) && !c.invalid[i].After(now.Add(-InvalidWindow)) {
		i++
	}
	c.invalid = c.invalid[i:]
}

// learn records what an answer's headers say of its bucket.
func (c *Client) learn(rt, major string, h http.Header) {
	id := h.Get("X-RateLimit-Bucket")
	if id == "" {
		return
	}
	remaining, err1 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	after, err2 := strconv.ParseFloat(h.Get("X-RateLimit-Reset-After"), 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routes[rt] = id
	if err1 != nil || err2 != nil {
		return
	}
	c.buckets[id+" "+major] = &bucket{remaining: remaining, reset: c.now().Add(seconds(after))}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// do sends a request, once, and reads its answer into out.
func (c *Client) do(ctx context.Context, method, path, major, reason string, out any) error {
	rt := route(method, path)
	if err := c.admit(rt, major); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bot "+c.cfg.Token)
	req.Header.Set("User-Agent", "DiscordBot (https://github.com/paidup/paidup, 1)")
	if reason != "" {
		req.Header.Set("X-Audit-Log-Reason", url.PathEscape(reason))
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("discord: %s %s: %w", method, rt, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("discord: %s %s: reading the answer: %w", method, rt, err)
	}
	c.learn(rt, major, resp.Header)
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode < 300:
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("discord: %s %s: reading the answer: %w", method, rt, err)
		}
		return nil
	}
	var e struct {
		Message    string  `json:"message"`
		Code       int     `json:"code"`
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
	}
	json.Unmarshal(body, &e)
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		// A 429 of a shared resource's limit is not the bot's doing, and
		// Discord does not count it.
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-RateLimit-Scope") != "shared" {
			c.mu.Lock()
			c.invalid = append(c.invalid, c.now())
			c.mu.Unlock()
		}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := seconds(e.RetryAfter)
		if wait <= 0 {
			if s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil {
				wait = seconds(s)
			}
		}
		global := e.Global || resp.Header.Get("X-RateLimit-Global") == "true"
		c.mu.Lock()
		if global {
			c.globalUntil = c.now().Add(wait)
		} else if id := c.routes[rt]; id != "" {
			c.buckets[id+" "+major] = &bucket{remaining: 0, reset: c.now().Add(wait)}
		}
		c.mu.Unlock()
		why := "bucket"
		if global {
			why = "global"
		}
		return &Wait{After: wait, Why: why}
	case resp.StatusCode == http.StatusUnauthorized:
		c.mu.Lock()
		c.halted = true
		c.mu.Unlock()
		return ErrUnauthorized
	case e.Code == 50013:
		return ErrMissingPermissions
	case e.Code == 10007:
		return ErrUnknownMember
	case e.Code == 10011:
		return ErrUnknownRole
	}
	return &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
}
