package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/config"
)

func TestOnCallRotationParses(t *testing.T) {
	c, err := config.Parse("paidup.yaml", []byte(replacePlanBlock(`oncall:
  rotation: [a@example.com, b@example.com]
  handoff: "Friday 17:30"
  time_zone: Europe/Berlin
  overrides:
    - {from: "2026-12-24 09:00", to: "2026-12-28T09:00:00Z", who: b@example.com}
  chat:
    - {kind: discord, url: "https://discord.com/api/webhooks/1/x"}
    - {kind: slack, url: "https://hooks.slack.com/services/T/B/x"}
`)), config.Overrides{})
	require.NoError(t, err)
	o := c.OnCall
	require.Equal(t, time.Friday, o.HandoffDay)
	require.Equal(t, 17*time.Hour+30*time.Minute, o.HandoffTime)
	require.Equal(t, "Europe/Berlin", o.Location.String())
	require.Equal(t, time.Date(2026, 12, 24, 8, 0, 0, 0, time.UTC), o.Overrides[0].Start.UTC(), "in the rotation's time zone")
	require.Equal(t, time.Date(2026, 12, 28, 9, 0, 0, 0, time.UTC), o.Overrides[0].End.UTC())
	require.Equal(t, 15*time.Minute, o.EscalateAfter.D())
	require.Equal(t, 8*time.Hour, o.DigestTime)
	require.NotContains(t, o.Chat[0].String(), "webhooks/1/x", "a webhook URL prints redacted")
}

func TestOnCallBadConfigIsRefused(t *testing.T) {
	doc := `oncall:
  rotation: [a@example.com, "Bob <b@example.com>", a@example.com]
  handoff: someday 25:00
  time_zone: Mars/Olympus
  digest_at: "8am"
  escalate_after: 500ms
  overrides:
    - {from: "2026-12-24 09:00", to: "2026-12-20 09:00", who: a@example.com}
    - {from: "yesterday", to: "2026-12-20 09:00", who: c@example.com}
  chat:
    - {kind: teams, url: "https://example.com/hook"}
    - {kind: slack, url: "javascript:alert(1)"}
`
	_, err := config.Parse("paidup.yaml", []byte(replacePlanBlock(doc)), config.Overrides{})
	require.Error(t, err)
	msg := err.Error()
	for _, w := range []string{
		`2: oncall.rotation[1]: "Bob <b@example.com>" is not an email address`,
		`2: oncall.rotation[2]: a@example.com is in the rotation twice`,
		`3: oncall.handoff: "someday 25:00": want a weekday and a time`,
		`4: oncall.time_zone: "Mars/Olympus" is not a time zone`,
		`5: oncall.digest_at: "8am": want a time of day`,
		`6: oncall.escalate_after: want at least 1s`,
		`8: oncall.overrides[0].to: ends before it starts`,
		`9: oncall.overrides[1].from: "yesterday": want a time`,
		`9: oncall.overrides[1].who: "c@example.com" is not in oncall.rotation`,
		`11: oncall.chat[0].kind: "teams": want discord or slack`,
		`12: oncall.chat[1].url: want the channel's incoming webhook URL`,
	} {
		require.Contains(t, msg, "paidup.yaml:"+w, "in:\n%s", msg)
	}
	require.Len(t, strings.Split(msg, "\n"), 11, msg)

	_, err = config.Parse("paidup.yaml", []byte(replacePlanBlock("oncall:\n  chat: [{kind: slack, url: \"https://hooks.slack.com/x\"}]\n")), config.Overrides{})
	require.ErrorContains(t, err, "oncall.rotation: list the operators on call")
}
