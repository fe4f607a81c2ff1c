package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// TestDeadlineQueriesUseIndexes: a deadline row exists for each pending
// reminder, grace and cancelled period, a million with a million
// subscriptions, so every statement on the table that runs per event or
// per pass of the sweep must find its rows by an index, not by reading
// the table. The statements are those of lifecycle.go.
func TestDeadlineQueriesUseIndexes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		cu := b.newCustomer(t, "ada@example.com")
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.AddDeadline(ctx, store.Deadline{Key: "period_end:stripe:sub_1:1", Kind: "period_end", CustomerID: cu,
				Subject: "stripe:sub_1", Due: b.now.Add(time.Hour)})
			return err
		}))
		statements := map[string]string{
			"TakeDeadline":            `DELETE FROM deadlines WHERE id = $1`,
			"CancelDeadlines":         `DELETE FROM deadlines WHERE subject = $1 AND kind IN ($2, $3)`,
			"CancelCustomerDeadlines": `DELETE FROM deadlines WHERE customer_id = $1`,
			"DueDeadlines":            `SELECT id FROM deadlines WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2`,
			"Deadlines":               `SELECT id FROM deadlines WHERE customer_id = $1 ORDER BY due_at, id`,
		}
		args := map[string][]any{
			"TakeDeadline":            {"dl_x"},
			"CancelDeadlines":         {"stripe:sub_1", "reminder", "grace_end"},
			"CancelCustomerDeadlines": {cu},
			"DueDeadlines":            {b.now, 500},
			"Deadlines":               {cu},
		}
		conn, err := b.db.Write.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		if engine == sqldb.Postgres {
			// A table of one row is read whole whatever its indexes; this
			// asks which plan the table's size would not change.
			_, err := conn.ExecContext(ctx, `SET enable_seqscan = off`)
			require.NoError(t, err)
		}
		for name, q := range statements {
			explain := `EXPLAIN `
			if engine == sqldb.SQLite {
				explain = `EXPLAIN QUERY PLAN `
			}
			rows, err := conn.QueryContext(ctx, explain+q, args[name]...)
			require.NoError(t, err, name)
			var plan []string
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				require.NoError(t, rows.Scan(ptrs...))
				plan = append(plan, strings.TrimSpace(toString(vals[len(vals)-1])))
			}
			require.NoError(t, rows.Err())
			rows.Close()
			text := strings.Join(plan, "\n")
			// An index read in full (to skip a sort) is the table in
			// disguise: the rows must be looked up by the condition.
			if engine == sqldb.SQLite {
				require.Contains(t, text, "SEARCH deadlines", "%s reads the whole table:\n%s", name, text)
				require.NotContains(t, text, "SCAN deadlines", "%s reads the whole table:\n%s", name, text)
			} else {
				require.Contains(t, text, "Index Cond", "%s reads the whole table:\n%s", name, text)
				require.NotContains(t, text, "Seq Scan on deadlines", "%s reads the whole table:\n%s", name, text)
			}
		}
	})
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}
