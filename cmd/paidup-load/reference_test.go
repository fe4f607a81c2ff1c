package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the Go reference design's server,
// which startReference runs as `SELF reference-server FLAGS`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "reference-server" {
		if err := runReferenceServer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "reference-server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestReferenceDesigns runs a few purchases through each reference design
// against the sandbox and the mailbox: every purchase is answered, and
// every customer gets exactly one confirmation.
func TestReferenceDesigns(t *testing.T) {
	for _, design := range []string{designGo, designFastAPI} {
		t.Run(design, func(t *testing.T) {
			if design == designFastAPI && !hasReferencePython() {
				msg := "the FastAPI reference needs Debian's python3-fastapi python3-sqlalchemy python3-uvicorn python3-psycopg2 python3-stripe python3-multipart"
				if os.Getenv("PAIDUP_TEST_REQUIRE_PYTHON") != "" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			w, err := startWorld(ctx, dir, worldOptions{deliveries: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer w.close()
			db, err := newDatabase(ctx, "sqlite", dir, "reference", "")
			if err != nil {
				t.Fatal(err)
			}
			rp, err := startReference(ctx, design, dir, db.url, w, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer rp.stop()
			const n = 12
			lat, failed, firstErr := closedLoop(ctx, n, 4, func(i int) error {
				return rp.purchase(ctx, fmt.Sprintf("test-%d@example.test", i))
			})
			if failed > 0 || len(lat) != n {
				t.Fatalf("%d of %d purchases failed: %s", failed, n, firstErr)
			}
			if d, err := waitMail(ctx, w, n, 30*time.Second); err != nil || d.recipients != n || d.duplicates != 0 {
				t.Fatalf("mailbox holds confirmations for %d customers and %d duplicates, want %d and none (%v)", d.recipients, d.duplicates, n, err)
			}
			_, count, err := w.mail(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= n; i++ {
				if c := count[fmt.Sprintf("test-%d@example.test", i)]; c != 1 {
					t.Errorf("test-%d@example.test got %d confirmations, want 1", i, c)
				}
			}
		})
	}
}
