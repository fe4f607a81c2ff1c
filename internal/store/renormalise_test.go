package store_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// upTo is a copy of migrations' files up to version, as a database
// written by an older paidup has them.
func upTo(t *testing.T, migrations fs.FS, version string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	names, err := fs.Glob(migrations, "*.sql")
	require.NoError(t, err)
	for _, name := range names {
		if name[:5] <= version {
			data, err := fs.ReadFile(migrations, name)
			require.NoError(t, err)
			out[name] = &fstest.MapFile{Data: data}
		}
	}
	require.NotEmpty(t, out)
	return out
}

// Addresses stored before migration 11 were only lower-cased: one with a
// decomposed accent or a Unicode domain would not be found by today's
// lookups, and the customer's next purchase would make a second customer.
// The migration rewrites them; where two customers turn out to share an
// address, the one that has it keeps it and a case asks a person to merge
// them; an address today's rules refuse is left as it was. Card links
// already followed count as spent.
func TestMigrationRenormalisesEmails(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := sqldbtest.Open(t, engine)
		old := store.Migrations
		old.SQLite, old.Postgres, old.Go = upTo(t, old.SQLite, "00007"), upTo(t, old.Postgres, "00007"), nil
		_, err := db.Migrate(ctx, old)
		require.NoError(t, err)

		created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i, c := range [][2]string{
			{"cu_nfd", "jose\u0301@example.com"},         // decomposed
			{"cu_idn", "ada@caf\u00e9.example"},          // Unicode domain
			{"cu_both", "zo\u0308e@b\u00fccher.example"}, // both
			{"cu_keeper", "grace@xn--caf-dma.example"},   // already as today
			{"cu_dup", "grace@caf\u00e9.example"},        // the same address as cu_keeper
			{"cu_ip", "eve@[192.0.2.1]"},                 // refused today: left alone
			{"cu_ascii", "plain@example.com"},            // unchanged
		} {
			_, err := db.Write.ExecContext(ctx, `INSERT INTO customers (id, email, created_at) VALUES ($1, $2, $3)`,
				c[0], c[1], created.Add(time.Duration(i)*time.Second))
			require.NoError(t, err)
		}
		_, err = db.Write.ExecContext(ctx, `INSERT INTO checkout_attempts (reference, plan_id, email, amount, currency, processor, status, created_at, updated_at)
			VALUES ('PU-AAAA-0001', 'pro-annual', $1, 24900, 'usd', 'stripe', 'open', $2, $2)`, "ada@caf\u00e9.example", created)
		require.NoError(t, err)
		for token, used := range map[string]any{"followed": created, "unused": nil} {
			_, err = db.Write.ExecContext(ctx, `INSERT INTO card_links (token_hash, customer_id, processor, processor_customer_id, created_at, expires_at, last_used_at)
				VALUES ($1, 'cu_idn', 'stripe', 'cus_1', $2, $3, $4)`, token, created, created.AddDate(1, 0, 0), used)
			require.NoError(t, err)
		}

		n, err := db.Migrate(ctx, store.Migrations)
		require.NoError(t, err)
		require.Positive(t, n)
		s, err := store.New(db, func() time.Time { return created })
		require.NoError(t, err)

		for typed, id := range map[string]string{
			"jos\u00e9@example.com":          "cu_nfd",
			"JOSE\u0301@EXAMPLE.COM":         "cu_nfd",
			"ada@caf\u00e9.example":          "cu_idn",
			"ada@xn--caf-dma.example":        "cu_idn",
			"z\u00f6e@xn--bcher-kva.example": "cu_both",
			"grace@caf\u00e9.example":        "cu_keeper",
			"plain@example.com":              "cu_ascii",
		} {
			email, err := paidup.NormaliseEmail(typed)
			require.NoError(t, err)
			c, err := s.CustomerByEmail(ctx, email)
			require.NoError(t, err, typed)
			require.Equal(t, id, c.ID, typed)
		}
		dup, err := s.Customer(ctx, "cu_dup")
		require.NoError(t, err)
		require.Equal(t, "grace@caf\u00e9.example", dup.Email, "the duplicate keeps its old spelling")
		ip, err := s.Customer(ctx, "cu_ip")
		require.NoError(t, err)
		require.Equal(t, "eve@[192.0.2.1]", ip.Email)

		cases, err := s.OpenCases(ctx)
		require.NoError(t, err)
		require.Len(t, cases, 1)
		require.Equal(t, paidup.CaseDuplicateCustomer, cases[0].Kind)
		require.Equal(t, "cu_dup", cases[0].CustomerID)
		require.Contains(t, cases[0].Summary, "cu_keeper")

		a, err := s.CheckoutAttempt(ctx, "PU-AAAA-0001")
		require.NoError(t, err)
		require.Equal(t, "ada@xn--caf-dma.example", a.Email)

		var spent, unspent int
		require.NoError(t, db.Read.QueryRow(`SELECT count(*) FROM card_links WHERE used_at IS NOT NULL`).Scan(&spent))
		require.NoError(t, db.Read.QueryRow(`SELECT count(*) FROM card_links WHERE used_at IS NULL`).Scan(&unspent))
		require.Equal(t, 1, spent, "a link followed before counts as spent")
		require.Equal(t, 1, unspent)
	})
}
