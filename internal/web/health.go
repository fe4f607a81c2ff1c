package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/paidup/paidup/internal/queue"
)

// stallLimit is how long a ready job may wait before the queue is unhealthy.
const stallLimit = 5 * time.Minute

type healthReport struct {
	Status   string          `json:"status"`
	Database componentHealth `json:"database"`
	Queue    queueHealth     `json:"queue"`
}

type componentHealth struct {
	Status string `json:"status"`
	Engine string `json:"engine,omitempty"`
	Error  string `json:"error,omitempty"`
}

type queueHealth struct {
	Status                 string           `json:"status"`
	Jobs                   map[string]int64 `json:"jobs,omitempty"`
	OldestAvailableSeconds float64          `json:"oldest_available_seconds"`
	Error                  string           `json:"error,omitempty"`
}

// handleHealth reports whether the database answers and the job queue is
// moving: 200 when both are well, 503 otherwise.
func (s *Server) handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		rep := healthReport{Status: "ok", Database: componentHealth{Status: "ok", Engine: string(s.DB.Engine)}, Queue: queueHealth{Status: "ok"}}
		if err := s.DB.Ping(ctx); err != nil {
			rep.Status, rep.Database.Status, rep.Database.Error = "unavailable", "unavailable", "database does not answer"
			s.Logger.Error("health: database", "err", err)
		}
		if h, err := queue.CheckHealth(ctx, s.DB, s.Queue, time.Now()); err != nil {
			rep.Status, rep.Queue.Status, rep.Queue.Error = "unavailable", "unavailable", "job queue cannot be read"
			s.Logger.Error("health: queue", "err", err)
		} else {
			rep.Queue.Jobs = h.Counts
			rep.Queue.OldestAvailableSeconds = h.OldestAvailable.Seconds()
			if h.Stalled(stallLimit) {
				rep.Status, rep.Queue.Status = "degraded", "stalled"
			}
		}
		status := http.StatusOK
		if rep.Status != "ok" {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	})
}
