package oncall_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/oncall"
)

// The rotation turns each week at the handoff, in the business's time
// zone through a change of summer time, and an override wins while it
// lasts, leaving the scheduled operator as the other person.
func TestRotationTurnsWeeklyAtHandoff(t *testing.T) {
	loc := berlin(t)
	r := oncall.Rotation{People: []string{"a@x", "b@x", "c@x"}, HandoffDay: time.Monday, HandoffTime: 9 * time.Hour, Location: loc}
	at := func(s string) oncall.Shift {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		require.NoError(t, err)
		return r.At(tm)
	}
	before, after := at("2026-12-07 08:59"), at("2026-12-07 09:00")
	require.NotEqual(t, before.OnCall, after.OnCall, "the handoff turns the week")
	require.Equal(t, after.OnCall, at("2026-12-13 23:59").OnCall, "a whole week")
	require.Equal(t, after.OnCall, at("2026-12-28 09:00").OnCall, "three people: the same again three weeks on")
	require.Equal(t, after.Other, at("2026-12-14 09:00").OnCall, "the other person is next in turn")
	// Summer time starts on Sunday 29 March 2026: the handoff stays at
	// 09:00 on the wall, 07:00 UTC instead of 08:00.
	require.NotEqual(t, r.At(time.Date(2026, 3, 30, 6, 59, 0, 0, time.UTC)).OnCall, r.At(time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)).OnCall)
	require.Equal(t, r.At(time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)).OnCall, r.At(time.Date(2026, 4, 6, 6, 59, 0, 0, time.UTC)).OnCall)

	scheduled := at("2026-12-24 12:00").OnCall
	swap := "a@x"
	if scheduled == swap {
		swap = "b@x"
	}
	r.Overrides = []oncall.Override{{Start: time.Date(2026, 12, 24, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 26, 8, 0, 0, 0, time.UTC), Who: swap}}
	require.Equal(t, oncall.Shift{OnCall: swap, Other: scheduled}, at("2026-12-24 12:00"))
	require.Equal(t, scheduled, at("2026-12-26 09:00").OnCall, "the override ended")

	one := oncall.Rotation{People: []string{"solo@x"}, Location: loc}
	require.Equal(t, oncall.Shift{OnCall: "solo@x"}, one.At(time.Now()), "alone: nobody to escalate to")
	require.Equal(t, oncall.Shift{}, oncall.Rotation{}.At(time.Now()))
}
