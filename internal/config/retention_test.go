package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/config"
)

// retention.event_payloads: 30 days unless set; 0 keeps payloads for good;
// anything between 0 and an hour is refused with the line.
func TestEventPayloadRetention(t *testing.T) {
	c, err := config.Load("", config.Overrides{})
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, c.Retention.EventPayloads.D(), "the example's")

	for doc, want := range map[string]time.Duration{
		"":                                    config.DefaultEventPayloadRetention,
		"retention:\n  event_payloads: 7d\n":  7 * 24 * time.Hour,
		"retention:\n  event_payloads: 90m\n": 90 * time.Minute,
		"retention:\n  event_payloads: 0\n":   0,
	} {
		c, err := config.Parse("t.yaml", []byte(replacePlanBlock(doc)), config.Overrides{})
		require.NoError(t, err, doc)
		require.Equal(t, want, c.Retention.EventPayloads.D(), doc)
	}

	for doc, want := range map[string]string{
		"retention:\n  event_payloads: 10m\n":   `t.yaml:2: retention.event_payloads: want 0 (keep them) or at least 1h`,
		"retention:\n  event_payloads: -1d\n":   `t.yaml:2: "-1d": want a duration`,
		"retention:\n  event_payloads: month\n": `t.yaml:2: "month": want a duration`,
		"retention:\n  payloads: 30d\n":         `t.yaml:2: unknown key "payloads"`,
	} {
		_, err := config.Parse("t.yaml", []byte(replacePlanBlock(doc)), config.Overrides{})
		require.ErrorContains(t, err, want, doc)
	}
}
