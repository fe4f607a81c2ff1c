// Package oncall is who hears about what goes wrong, and when: a weekly
// rotation of the operators, alert rules evaluated from paidup's own
// state, pages by email and chat that escalate and repeat until someone
// acknowledges them from a signed link, and a daily digest of warnings.
package oncall

import (
	"slices"
	"time"
)

// Rotation is who is on call when: the operators in turn, a week each,
// handing over on a weekday at a time of day, unless an override says
// otherwise.
type Rotation struct {
	People []string // by email, in turn
	// Handoff is when the week turns, in Location: a weekday and the time
	// since midnight.
	HandoffDay  time.Weekday
	HandoffTime time.Duration
	Location    *time.Location
	Overrides   []Override
}

// Override puts Who on call from Start until End.
type Override struct {
	Start, End time.Time
	Who        string
}

// Shift is who is paged at a time: OnCall first, Other when an alert
// escalates (empty with one operator).
type Shift struct {
	OnCall, Other string
}

// At is the shift at t.
func (r Rotation) At(t time.Time) Shift {
	n := len(r.People)
	if n == 0 {
		return Shift{}
	}
	scheduled := r.People[r.week(t)%n]
	s := Shift{OnCall: scheduled}
	for _, o := range r.Overrides {
		if !t.Before(o.Start) && t.Before(o.End) {
			s.OnCall = o.Who
			break
		}
	}
	switch {
	case s.OnCall != scheduled:
		s.Other = scheduled
	case n > 1:
		s.Other = r.People[(slices.Index(r.People, scheduled)+1)%n]
	}
	return s
}

// week numbers the rotation's weeks: how many handoffs there have been
// between a fixed day long ago and t, counted on the calendar of Location
// so that a change of summer time does not move the handoff.
func (r Rotation) week(t time.Time) int {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	back := (int(local.Weekday()) - int(r.HandoffDay) + 7) % 7
	y, m, d := local.Date()
	h := int(r.HandoffTime / time.Hour)
	min := int(r.HandoffTime % time.Hour / time.Minute)
	handoff := time.Date(y, m, d-back, h, min, 0, 0, loc)
	if handoff.After(t) {
		handoff = time.Date(y, m, d-back-7, h, min, 0, 0, loc)
	}
	// Days since 1 January 1970 (a Thursday) of the handoff's date, and
	// of the first handoff weekday after it.
	hy, hm, hd := handoff.Date()
	day := int(time.Date(hy, hm, hd, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	first := (int(r.HandoffDay) - int(time.Thursday) + 7) % 7
	return (day - first) / 7
}
