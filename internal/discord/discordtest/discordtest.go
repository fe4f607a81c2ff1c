// Package discordtest is a stateful fake of the part of Discord's REST API
// paidup uses — guilds with roles in their order, members and their
// roles — answering as Discord does: its rate-limit headers and buckets,
// 429s (a bucket's and global ones), 401 for a wrong token, 403 for a
// role above the bot's, and outages.
package discordtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is the fake.
type Server struct {
	URL string

	mu     sync.Mutex
	now    func() time.Time
	token  string
	guilds map[string]*guild
	// BucketLimit requests per BucketWindow per route and guild.
	bucketLimit  int
	bucketWindow time.Duration
	buckets      map[string]*window
	globalUntil  time.Time
	down         bool
	requests     int
	statuses     map[int]int
}

type guild struct {
	roles   map[string]int // role id → position
	bot     int            // the position of the bot's highest role
	members map[string][]string
}

type window struct {
	start time.Time
	used  int
}

// Start starts the fake, with the bot's token; now is its clock (nil:
// the wall clock). Each route and guild allows 5 requests in 5 seconds,
// as Discord's member role routes do.
func Start(t testing.TB, token string, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{now: now, token: token, guilds: map[string]*guild{}, bucketLimit: 5, bucketWindow: 5 * time.Second,
		buckets: map[string]*window{}, statuses: map[int]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/api/v10"
	return s
}

// Guild adds a guild whose bot's highest role is at position bot, with
// roles at their positions.
func (s *Server) Guild(id string, bot int, roles map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guilds[id] = &guild{roles: roles, bot: bot, members: map[string][]string{}}
}

// Join adds a member to a guild, with roles.
func (s *Server) Join(guildID, user string, roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guilds[guildID].members[user] = slices.Clone(roles)
}

// Leave takes a member out of a guild.
func (s *Server) Leave(guildID, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.guilds[guildID].members, user)
}

// Roles are a member's roles, sorted; nil for no member.
func (s *Server) Roles(guildID, user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.guilds[guildID].members[user]
	if !ok {
		return nil
	}
	r = slices.Clone(r)
	slices.Sort(r)
	return r
}

// Limit sets how many requests each route and guild allows in a window.
func (s *Server) Limit(n int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucketLimit, s.bucketWindow = n, per
}

// GlobalLimit answers every request with a global 429 for d.
func (s *Server) GlobalLimit(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.globalUntil = s.now().Add(d)
}

// Down makes every request fail with 503 until Up.
func (s *Server) Down() { s.mu.Lock(); s.down = true; s.mu.Unlock() }

// Up ends an outage.
func (s *Server) Up() { s.mu.Lock(); s.down = false; s.mu.Unlock() }

// Requests is how many requests reached the fake.
func (s *Server) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

// Answers is how many answers of a status the fake gave.
func (s *Server) Answers(status int) int { s.mu.Lock(); defer s.mu.Unlock(); return s.statuses[status] }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	status, body := s.answer(w, r)
	s.statuses[status]++
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) (int, any) {
	now := s.now()
	if s.down {
		return http.StatusServiceUnavailable, map[string]any{"message": "upstream connect error", "code": 0}
	}
	if r.Header.Get("Authorization") != "Bot "+s.token {
		return http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0}
	}
	if now.Before(s.globalUntil) {
		w.Header().Set("X-RateLimit-Global", "true")
		w.Header().Set("X-RateLimit-Scope", "global")
		after := s.globalUntil.Sub(now).Seconds()
		w.Header().Set("Retry-After", strconv.Itoa(int(after+0.999)))
		return http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": after, "global": true, "code": 0}
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v10/"), "/")
	// guilds/{guild}/members/{user}[/roles/{role}]
	if len(parts) < 4 || parts[0] != "guilds" || parts[2] != "members" {
		return http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0}
	}
	g, ok := s.guilds[parts[1]]
	if !ok {
		return http.StatusNotFound, map[string]any{"message": "Unknown Guild", "code": 10004}
	}
	template := r.Method + " guilds/" + parts[1] + "/members/:id"
	if len(parts) == 6 {
		template += "/roles/:id"
	}
	sum := sha256.Sum256([]byte(strings.Replace(template, parts[1], "{guild}", 1)))
	w.Header().Set("X-RateLimit-Bucket", hex.EncodeToString(sum[:8]))
	b := s.buckets[template]
	if b == nil || !now.Before(b.start.Add(s.bucketWindow)) {
		b = &window{start: now}
		s.buckets[template] = b
	}
	reset := b.start.Add(s.bucketWindow)
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(s.bucketLimit))
	w.Header().Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", float64(reset.UnixMilli())/1000))
	w.Header().Set("X-RateLimit-Reset-After", fmt.Sprintf("%.3f", reset.Sub(now).Seconds()))
	if b.used >= s.bucketLimit {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Scope", "user")
		return http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": reset.Sub(now).Seconds(), "global": false, "code": 0}
	}
	b.used++
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(s.bucketLimit-b.used))
	roles, member := g.members[parts[3]]
	if !member {
		return http.StatusNotFound, map[string]any{"message": "Unknown Member", "code": 10007}
	}
	if len(parts) == 4 {
		if r.Method != http.MethodGet {
			return http.StatusMethodNotAllowed, map[string]any{"message": "405: Method Not Allowed", "code": 0}
		}
		return http.StatusOK, map[string]any{"user": map[string]any{"id": parts[3]}, "roles": roles}
	}
	role := parts[5]
	pos, ok := g.roles[role]
	if !ok {
		return http.StatusNotFound, map[string]any{"message": "Unknown Role", "code": 10011}
	}
	if pos >= g.bot {
		return http.StatusForbidden, map[string]any{"message": "Missing Permissions", "code": 50013}
	}
	switch r.Method {
	case http.MethodPut:
		if !slices.Contains(roles, role) {
			g.members[parts[3]] = append(roles, role)
		}
	case http.MethodDelete:
		g.members[parts[3]] = slices.DeleteFunc(roles, func(x string) bool { return x == role })
	default:
		return http.StatusMethodNotAllowed, map[string]any{"message": "405: Method Not Allowed", "code": 0}
	}
	return http.StatusNoContent, nil
}
