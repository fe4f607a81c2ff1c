package obs_test

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/obs"
)

func TestLogsNeverCarrySecretsOrCards(t *testing.T) {
	var buf bytes.Buffer
	log := obs.NewLogger(&buf, slog.LevelDebug).With("api_key", "sk_test_abc123")
	log.Info("charging 4242 4242 4242 4242 with key sk_live_XyZ987",
		"err", errors.New("dial postgres://paidup:hunter2@db/paidup: refused"),
		"webhook_secret", "whsec_s3cr3t",
		"payload", `{"card":"4000000000000002"}`,
		"note", "order 4000-0000-0000-0002 via rk_test_q1",
		slog.Group("req", "authorization", "Bearer sk_test_zzz", "path", "/buy/pro"),
		"amount", 24900,
		"phone", "+1 415 555 0100",
	)
	out := buf.String()
	for _, secret := range []string{"abc123", "4242 4242", "XyZ987", "hunter2", "s3cr3t", "4000000000000002", "4000-0000", "q1\"", "zzz"} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, `"amount":24900`)
	require.Contains(t, out, `"path":"/buy/pro"`)
	require.Contains(t, out, "+1 415 555 0100", "numbers that are not card numbers stay")
	require.Contains(t, out, "postgres://paidup:[redacted]@db")
}
