package web

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// observe counts and times requests under a route name (not the raw path,
// which would make a metric per customer reference) and gives each request
// a reference for logs and error pages.
func (s *Server) observe(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ref := newRef()
		r = r.WithContext(withRef(r.Context(), ref))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		s.Metrics.HTTPRequests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.Metrics.HTTPDuration.WithLabelValues(route).Observe(d.Seconds())
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.Logger.Log(r.Context(), level, "http", "ref", ref, "method", r.Method, "route", route,
			"status", sw.status, "duration_ms", float64(d.Microseconds())/1000)
	})
}

// pageMiddleware protects customer pages: a panic becomes the recovery page
// with a reference, never a stack trace or an empty body; and the browser is
// told to keep the pages to this site.
func (s *Server) pageMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self' https: http:; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost && !s.sameOrigin(r) {
			http.Error(w, "cross-site form submissions are refused", http.StatusForbidden)
			return
		}
		sw, _ := w.(*statusWriter)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic serving page", "ref", requestRef(r), "panic", v, "stack", string(debug.Stack()))
				if sw != nil && sw.wrote {
					return // too late for a page; the connection carries what it has
				}
				s.fail(w, r, errPanic)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

var errPanic = errors.New("panic while serving a page")

// sameOrigin reports whether a form post comes from paidup's own pages.
// Browsers send Origin with every POST; its absence (a script, an old
// client) is allowed.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(s.PublicURL)
	if err == nil && o == u.Scheme+"://"+u.Host {
		return true
	}
	return o == "http://"+r.Host || o == "https://"+r.Host
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection, to flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rateLimitedLog writes at most one line per interval for each key, with
// how many were suppressed, so that a flood of forged webhooks cannot flood
// the logs.
type rateLimitedLog struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	dropped  map[string]int
}

func newRateLimitedLog(log *slog.Logger, interval time.Duration) *rateLimitedLog {
	return &rateLimitedLog{log: log, interval: interval, last: map[string]time.Time{}, dropped: map[string]int{}}
}

func (l *rateLimitedLog) warn(key, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last[key]) < l.interval {
		l.dropped[key]++
		l.mu.Unlock()
		return
	}
	suppressed := l.dropped[key]
	l.last[key], l.dropped[key] = now, 0
	l.mu.Unlock()
	l.log.Warn(msg, append(args, "suppressed_since_last", suppressed)...)
}
