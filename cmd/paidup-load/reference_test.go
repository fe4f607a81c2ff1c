package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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

// needReferencePython skips t, or fails it where PAIDUP_TEST_REQUIRE_PYTHON
// is set (CI), if Debian's Python lacks the FastAPI reference's packages.
func needReferencePython(t *testing.T) {
	if hasReferencePython() {
		return
	}
	msg := "the FastAPI reference needs Debian's python3-fastapi python3-sqlalchemy python3-uvicorn python3-psycopg2 python3-stripe python3-multipart"
	if os.Getenv("PAIDUP_TEST_REQUIRE_PYTHON") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// startReferenceForTest starts a world and a reference design of 4 threads
// on a fresh SQLite database in a test directory, scanning for repairs
// every scan (0: the design's default), and stops them when t ends.
func startReferenceForTest(ctx context.Context, t *testing.T, design string, scan time.Duration) (*world, *referenceProc, string) {
	t.Helper()
	if design == designFastAPI {
		needReferencePython(t)
	}
	dir := t.TempDir()
	w, err := startWorld(ctx, dir, worldOptions{deliveries: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	db, err := newDatabase(ctx, "sqlite", dir, "reference", "")
	if err != nil {
		t.Fatal(err)
	}
	rp, err := startReference(ctx, design, dir, db.url, w, 4, scan)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rp.stop)
	return w, rp, dir
}

// TestReferenceDesigns runs a few purchases through each reference design
// against the sandbox and the mailbox: every purchase is answered, and
// every customer gets exactly one confirmation.
func TestReferenceDesigns(t *testing.T) {
	for _, design := range []string{designGo, designFastAPI} {
		t.Run(design, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			w, rp, _ := startReferenceForTest(ctx, t, design, 0)
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

// TestReferenceRepairs pays a checkout at the processor that no purchase
// request fulfils, as when a request dies after the charge: each reference
// design's repair scan writes the order and sends one confirmation.
func TestReferenceRepairs(t *testing.T) {
	for _, design := range []string{designGo, designFastAPI} {
		t.Run(design, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			w, _, dir := startReferenceForTest(ctx, t, design, 500*time.Millisecond)
			const email = "died-after-charge@example.test"
			co, err := w.call(ctx, http.MethodPost, "/v1/checkout/sessions", url.Values{
				"mode": {"payment"}, "line_items[0][price]": {plan.price}, "line_items[0][quantity]": {"1"},
				"customer_email": {email}, "customer_creation": {"always"},
				"success_url": {"http://127.0.0.1:1/done"}, "cancel_url": {"http://127.0.0.1:1/cancel"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.pay(ctx, co["id"].(string)); err != nil {
				t.Fatal(err)
			}
			if d, err := waitMail(ctx, w, 1, 20*time.Second); err != nil || d.recipients != 1 {
				t.Fatalf("mailbox holds confirmations for %d customers, want 1 (%v): %s", d.recipients, err, tail(filepath.Join(dir, "reference.log")))
			}
			// Two more scans: the order is there, so no second confirmation.
			time.Sleep(time.Second)
			if _, count, err := w.mail(ctx); err != nil || count[email] != 1 {
				t.Fatalf("%s got %d confirmations, want 1 (%v)", email, count[email], err)
			}
		})
	}
}
