package obs_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/obs"
)

func TestLogsNeverCarrySecretsOrCards(t *testing.T) {
	for _, format := range []struct {
		name      string
		newLogger func(io.Writer, slog.Level) *slog.Logger
		amount    string
		path      string
	}{
		{"json", obs.NewLogger, `"amount":24900`, `"path":"/buy/pro"`},
		{"text", obs.NewTextLogger, `amount=24900`, `req.path=/buy/pro`},
	} {
		t.Run(format.name, func(t *testing.T) {
			var buf bytes.Buffer
			logSecrets(format.newLogger(&buf, slog.LevelDebug).With("api_key", "sk_test_abc123"))
			out := buf.String()
			for _, secret := range []string{"abc123", "4242 4242", "XyZ987", "hunter2", "s3cr3t", "4000000000000002", "4000-0000", "q1\"", "q1 ", "zzz"} {
				require.NotContains(t, out, secret)
			}
			require.Contains(t, out, format.amount)
			require.Contains(t, out, format.path)
			require.Contains(t, out, "+1 415 555 0100", "numbers that are not card numbers stay")
			require.Contains(t, out, "postgres://paidup:[redacted]@db")
		})
	}
}

// logSecrets logs a line full of secrets and card numbers.
func logSecrets(log *slog.Logger) {
	log.Info("charging 4242 4242 4242 4242 with key sk_live_XyZ987",
		"err", errors.New("dial postgres://paidup:hunter2@db/paidup: refused"),
		"webhook_secret", "whsec_s3cr3t",
		"payload", `{"card":"4000000000000002"}`,
		"note", "order 4000-0000-0000-0002 via rk_test_q1",
		slog.Group("req", "authorization", "Bearer sk_test_zzz", "path", "/buy/pro"),
		"amount", 24900,
		"phone", "+1 415 555 0100",
	)
}
