package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/view"
)

// observe counts and times requests under a route name (not the raw path,
// which would make a metric per customer reference), gives each request a
// reference for logs and error pages, and logs one line for it, with what
// the handler added (see addLogAttrs). A health check that passes is
// logged only at debug: a load balancer asks every few seconds.
func (s *Server) observe(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ref := view.NewRef()
		extra := &logAttrs{}
		r = r.WithContext(context.WithValue(view.WithRef(r.Context(), ref), logAttrsKey, extra))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		s.Metrics.HTTPRequests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.Metrics.HTTPDuration.WithLabelValues(route).Observe(d.Seconds())
		level := slog.LevelInfo
		switch {
		case sw.status >= 500:
			level = slog.LevelError
		case route == "healthz":
			level = slog.LevelDebug
		}
		s.Logger.Log(r.Context(), level, "http", append([]any{"ref", ref, "method", r.Method, "route", route,
			"status", sw.status, "duration_ms", float64(d.Microseconds()) / 1000}, extra.args...)...)
	})
}

// logAttrs are what a handler adds to its request's log line.
type logAttrs struct{ args []any }

type ctxKey int

const logAttrsKey ctxKey = 0

// addLogAttrs adds key-value pairs to the request's log line, so that one
// line says what the request did (a webhook's event, say) rather than a
// second line repeating the request.
func addLogAttrs(r *http.Request, args ...any) {
	if a, ok := r.Context().Value(logAttrsKey).(*logAttrs); ok {
		a.args = append(a.args, args...)
	}
}

// pageMiddleware protects customer pages: a panic becomes the recovery page
// with a reference, never a stack trace or an empty body; and the browser is
// told to keep the pages to this site. A page's processor calls are a
// customer's: they would rather fail fast than wait long for the processor
// budget.
func (s *Server) pageMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(limit.ForCustomer(r.Context()))
		view.SecurityHeaders(w.Header(), s.csp)
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
