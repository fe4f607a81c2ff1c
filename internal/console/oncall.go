package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/oncall"
	"github.com/paidup/paidup/internal/store"
)

// alertsShown is how many alerts the on-call page lists.
const alertsShown = 100

// onCallPage is who is on call now and in the weeks ahead, the overrides,
// and the alerts open or seen in the last week.
type onCallPage struct {
	Now        time.Time
	Configured bool
	Shift      oncall.Shift
	Ahead      []turn
	People     []string
	Overrides  []store.OnCallOverride
	FromConfig []oncall.Override
	Alerts     []paidup.Alert
	Location   string
	Outcome    paidup.AuditEntry
	HasOutcome bool
}

// turn is who is on call at a time ahead.
type turn struct {
	At    time.Time
	Shift oncall.Shift
}

// handleOnCall shows on call.
func (s *Server) handleOnCall() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := s.Now()
		p := onCallPage{Now: now}
		if s.OnCall != nil && len(s.OnCall.Rotation.People) > 0 {
			rot, err := s.OnCall.RotationAt(ctx, now)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			p.Configured, p.People, p.Shift = true, rot.People, rot.At(now)
			for k := 1; k <= 4; k++ {
				t := now.Add(time.Duration(k) * 7 * 24 * time.Hour)
				p.Ahead = append(p.Ahead, turn{At: t, Shift: rot.At(t)})
			}
			if p.Overrides, err = s.Store.OnCallOverrides(ctx, now); err != nil {
				s.fail(w, r, err)
				return
			}
			for _, o := range s.OnCall.Rotation.Overrides {
				if o.End.After(now) {
					p.FromConfig = append(p.FromConfig, o)
				}
			}
			p.Location = s.location().String()
		}
		alerts, err := s.Store.RecentAlerts(ctx, now.Add(-7*24*time.Hour), alertsShown)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Alerts = alerts
		p.Outcome, p.HasOutcome = s.outcome(r, func(e paidup.AuditEntry) bool {
			return e.Action == paidup.ActionOverride || e.Action == paidup.ActionEndOverride
		})
		s.render(w, r, http.StatusOK, "oncall.html", "On call", p)
	})
}

func (s *Server) location() *time.Location {
	if s.OnCall != nil && s.OnCall.Rotation.Location != nil {
		return s.OnCall.Rotation.Location
	}
	return time.UTC
}

// handleAcknowledge acknowledges a firing alert as the operator signed
// in: its pages stop, and the chat channels are told.
func (s *Server) handleAcknowledge() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.readForm(w, r) {
			return
		}
		if s.Alerts == nil {
			s.fail(w, r, errNoOnCall)
			return
		}
		a, err := s.Store.Alert(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		op, _ := operatorOf(r.Context())
		if _, err := s.Alerts.Acknowledge(r.Context(), a.ID, op.Email); err != nil {
			s.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/console/oncall#alerts", http.StatusSeeOther)
	})
}

var errNoOnCall = paidup.Errorf(paidup.EUNAVAILABLE, "On call is not set up: list the operators in oncall.rotation in the config.")

// handleOverride puts a person on call from a time until a time, instead
// of the rotation, on the audit log.
func (s *Server) handleOverride() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		if s.OnCall == nil || len(s.OnCall.Rotation.People) == 0 {
			s.fail(w, r, errNoOnCall)
			return
		}
		rq := supportRequest(r)
		f := r.PostForm
		who := strings.TrimSpace(f.Get("who"))
		if !slices.Contains(s.OnCall.Rotation.People, who) {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "Put one of the rotation's people on call: %s.", strings.Join(s.OnCall.Rotation.People, ", ")))
			return
		}
		start, err1 := time.ParseInLocation("2006-01-02T15:04", f.Get("from"), s.location())
		end, err2 := time.ParseInLocation("2006-01-02T15:04", f.Get("until"), s.location())
		if err1 != nil || err2 != nil || !end.After(start) || !end.After(s.Now()) {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "Say from when until when, the end after the start and still to come."))
			return
		}
		if end.Sub(start) > 90*24*time.Hour {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "An override lasts at most 90 days: change the rotation in the config for longer."))
			return
		}
		if _, err := s.Support.OverrideOnCall(r.Context(), rq, who, start, end); err != nil {
			s.fail(w, r, err)
			return
		}
		done(w, r, "/console/oncall", rq.ID)
	})
}

// handleEndOverride removes an override set in the console.
func (s *Server) handleEndOverride() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		rq := supportRequest(r)
		if _, err := s.Support.EndOnCallOverride(r.Context(), rq, r.PathValue("id")); err != nil {
			s.fail(w, r, err)
			return
		}
		done(w, r, "/console/oncall", rq.ID)
	})
}
