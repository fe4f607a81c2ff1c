package queue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// A periodic job left running by an instance that is gone — no connection
// of its name — is made available again; one running on an instance still
// connected, and jobs of other kinds, are left to their instance (and to
// River's stuck-job rescue).
func TestRescueOrphans(t *testing.T) {
	ctx := context.Background()
	url := sqldbtest.URL(t, sqldb.Postgres)
	alive, err := sqldb.Open(ctx, sqldb.WithApplicationName(url, "paidup@alive/127.0.0.1:8080"))
	require.NoError(t, err)
	defer alive.Close()
	_, err = queue.Migrate(ctx, alive)
	require.NoError(t, err)
	running := func(kind, instance string) (id int64) {
		t.Helper()
		require.NoError(t, alive.Write.QueryRowContext(ctx, `INSERT INTO river_job (args, kind, max_attempts, state, attempt, attempted_at, attempted_by)
			VALUES ('{}', $1, 1, 'running', 1, now(), ARRAY['paidup@earlier/127.0.0.1:8080', $2]) RETURNING id`, kind, instance).Scan(&id))
		return id
	}
	orphan := running("reconcile", "paidup@gone/127.0.0.1:8080")
	live := running("reconcile", "paidup@alive/127.0.0.1:8080")
	email := running("send_email", "paidup@gone/127.0.0.1:8080")

	n, err := queue.RescueOrphans(ctx, alive, []string{"reconcile", "deadline_sweep"})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	for id, want := range map[int64]string{orphan: "available", live: "running", email: "running"} {
		var state string
		require.NoError(t, alive.Read.QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&state))
		require.Equal(t, want, state, "job %d", id)
	}

	// On SQLite there is one instance, and nothing to rescue.
	lite := sqldbtest.Open(t, sqldb.SQLite)
	n, err = queue.RescueOrphans(ctx, lite, []string{"reconcile"})
	require.NoError(t, err)
	require.Zero(t, n)
}
