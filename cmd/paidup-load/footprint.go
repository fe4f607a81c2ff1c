package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
)

// footprint measures what one purchase leaves behind: bytes of database
// (before and after the processed events' payloads are pruned) and lines
// and bytes of paidup's log at its level (info unless -log-level). Each
// customer opens the buy form, submits it, pays, and comes back to the
// status page. The payloads are pruned, once paidup has stopped, by the
// same store code its pruning job runs, as if the retention had passed.
func (o *options) footprint(ctx context.Context, engine string) error {
	w, p, done, err := o.env(ctx, "footprint", engine, worldOptions{allEvents: o.footAllEvents})
	if err != nil {
		return err
	}
	defer done()
	f := &footprintRun{n: o.footPurchases}
	if f.dbBefore, err = databaseSize(ctx, p.db); err != nil {
		return err
	}
	if f.logBefore, err = logSize(p.logPath); err != nil {
		return err
	}
	b := &buyer{w: w, shop: p.shopURL, prefix: "footprint"}
	_, failed, firstErr := closedLoop(ctx, f.n, o.footCustomers, func(int) error { return b.customerJourney(ctx) })
	if failed > 0 {
		return fmt.Errorf("%d of %d purchases failed; the first: %s", failed, f.n, firstErr)
	}
	if err := waitQuiet(ctx, w, p, f.n); err != nil {
		return err
	}
	if err := f.measure(ctx, p); err != nil {
		return err
	}
	f.check = o.check(p)
	p.stop()
	if f.pruned, err = pruneAll(ctx, p.dbURL, filepath.Dir(p.logPath)); err != nil {
		return err
	}
	o.reportFootprint(engine, f)
	return nil
}

// footprintRun is what the footprint scenario measured.
type footprintRun struct {
	n                    int
	dbBefore, dbAfter    dbSize
	logBefore, logAfter  logCount
	stored, payloadBytes int64 // events stored, and their payloads' bytes
	lines                lineCounts
	tables, check        string
	pruned               pruneResult
}

// waitQuiet waits until every purchase is confirmed at the mail server and
// every event processed and job done, so that the log has said all it will.
func waitQuiet(ctx context.Context, w *world, p *paidupProc, n int) error {
	if _, err := waitMail(ctx, w, n, 2*time.Minute); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		waiting, jobs, err := p.backlog(ctx)
		if err != nil {
			return err
		}
		if waiting == 0 && jobs == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d events and %d jobs still waiting a minute after the last confirmation", waiting, jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// measure reads the database's and the log's size after the purchases.
func (f *footprintRun) measure(ctx context.Context, p *paidupProc) error {
	var err error
	if f.dbAfter, err = databaseSize(ctx, p.db); err != nil {
		return err
	}
	if f.logAfter, err = logSize(p.logPath); err != nil {
		return err
	}
	if err := p.db.Read.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(payload)), 0) FROM webhook_events`).Scan(&f.stored, &f.payloadBytes); err != nil {
		return err
	}
	if f.lines, err = logLines(p.logPath, f.logBefore.bytes); err != nil {
		return err
	}
	f.tables, err = tableSizes(ctx, p.db, 6)
	return err
}

// per is a difference per purchase.
func (f *footprintRun) per(a, b int64) float64 { return float64(a-b) / float64(f.n) }

func (o *options) reportFootprint(engine string, f *footprintRun) {
	grew, pr := f.dbAfter.used-f.dbBefore.used, f.pruned
	subscribed := "the events paidup acts on"
	if o.footAllEvents {
		subscribed = "every event"
	}
	fmt.Fprintf(o.out, "%d purchases of the one-time plan by %d customers at a time (buy form, submit, pay, status page), the webhook endpoint sent %s; paidup check: %s\n", f.n, o.footCustomers, subscribed, f.check)
	fmt.Fprintf(o.out, "database: %s per purchase (%s for %d); stored events %.1f per purchase, their payloads %.0f bytes each, %.0f%% of the growth; biggest tables: %s\n",
		bytesOf(f.per(f.dbAfter.used, f.dbBefore.used)), bytesOf(float64(grew)), f.n, float64(f.stored)/float64(f.n),
		float64(f.payloadBytes)/float64(max(f.stored, 1)), 100*float64(f.payloadBytes)/float64(max(grew, 1)), f.tables)
	fmt.Fprintf(o.out, "pruning every payload: %d events in %d statements of at most %d, each taking %s\n", pr.events, pr.batches, events.PruneBatch, pr.hold)
	var kept, afterPruning string
	if engine == "postgres" {
		kept, afterPruning = bytesOf(f.per(f.dbAfter.used, f.dbBefore.used)), bytesOf(f.per(f.dbAfter.used-pr.eventsBefore+pr.eventsAfter, f.dbBefore.used))
		fmt.Fprintf(o.out, "webhook_events: %s before pruning, %s rewritten after it (VACUUM FULL): %s per purchase in the database; without VACUUM FULL the space is reused by new rows\n",
			bytesOf(float64(pr.eventsBefore)), bytesOf(float64(pr.eventsAfter)), afterPruning)
	} else {
		kept, afterPruning = bytesOf(f.per(pr.compactedKept, f.dbBefore.file)), bytesOf(f.per(pr.compactedPruned, f.dbBefore.file))
		fmt.Fprintf(o.out, "the file: %s; compacted (VACUUM) %s without pruning, %s after it (%s and %s per purchase); pruning left %s unused inside the file (%s before), which new rows reuse: the file itself shrinks only by VACUUM\n",
			bytesOf(float64(f.dbAfter.file)), bytesOf(float64(pr.compactedKept)), bytesOf(float64(pr.compactedPruned)), kept, afterPruning,
			bytesOf(float64(pr.unusedAfter)), bytesOf(float64(pr.unusedBefore)))
	}
	logPer := fmt.Sprintf("%.1f lines, %s", f.per(f.logAfter.lines, f.logBefore.lines), bytesOf(f.per(f.logAfter.bytes, f.logBefore.bytes)))
	fmt.Fprintf(o.out, "log at %s per purchase: %s\n", o.logLevel, logPer)
	fmt.Fprintf(o.out, "log lines per purchase by message: %s\n", f.lines.per(f.n))
	o.summary.add("footprint", engine, "database bytes per purchase: payloads kept, pruned", kept+", "+afterPruning, "", "")
	o.summary.add("footprint", engine, "log per purchase at "+o.logLevel, logPer, "", "")
}

// customerJourney is one purchase as a person makes it: the buy form,
// the submit, payment on the processor, and back to the status page the
// processor sends them to.
func (b *buyer) customerJourney(ctx context.Context) error {
	form, err := get(ctx, b.shop+"/buy/"+plan.id)
	if err != nil {
		return err
	}
	_, ref, ok := strings.Cut(form, `name="reference" value="`)
	if !ok {
		return fmt.Errorf("no reference on the buy form")
	}
	ref, _, _ = strings.Cut(ref, `"`)
	email := fmt.Sprintf("%s-%d@example.test", b.prefix, b.next.Add(1))
	id, err := buyWith(ctx, b.shop, b.w.sandboxURL, url.Values{"email": {email}, "reference": {ref}})
	if err != nil {
		return err
	}
	back, err := payOnPage(ctx, b.w.sandboxURL+"/c/pay/"+id)
	if err != nil {
		return err
	}
	_, err = get(ctx, back)
	return err
}

// payOnPage pays with the test card on the processor's hosted page, and
// returns where the processor sends the customer back to.
func payOnPage(ctx context.Context, page string) (string, error) {
	form := url.Values{"card_number": {"4242 4242 4242 4242"}, "exp": {"12 / 34"}, "cvc": {"123"}, "name": {"Ada Lovelace"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, page, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := customerClient.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	back, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		return "", fmt.Errorf("paying on %s: %s", page, resp.Status)
	}
	return back.String(), nil
}

// get loads a page, following redirects, and returns it.
func get(ctx context.Context, page string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", page, resp.Status)
	}
	return string(body), nil
}

// dbSize is how big a database is: bytes in use, and on disk.
type dbSize struct {
	used, file int64
}

// databaseSize measures the database: on SQLite, its pages in use (the
// write-ahead log's included) and the file's size; on PostgreSQL, the
// database's size on disk for both.
func databaseSize(ctx context.Context, db *sqldb.DB) (dbSize, error) {
	var s dbSize
	if db.Engine == sqldb.Postgres {
		err := db.Read.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&s.used)
		s.file = s.used
		return s, err
	}
	var pages, free, size int64
	for q, v := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
		if err := db.Read.QueryRowContext(ctx, q).Scan(v); err != nil {
			return s, err
		}
	}
	s.used = (pages - free) * size
	fi, err := os.Stat(db.Location)
	if err != nil {
		return s, err
	}
	s.file = fi.Size()
	return s, nil
}

// tableSizes lists the biggest tables (with their indexes) and their
// bytes, biggest first.
func tableSizes(ctx context.Context, db *sqldb.DB, n int) (string, error) {
	q := `SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT $1`
	if db.Engine == sqldb.Postgres {
		q = `SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT $1`
	}
	rows, err := db.Read.QueryContext(ctx, q, n)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, bytesOf(float64(size))))
	}
	return strings.Join(parts, ", "), rows.Err()
}

// pruneResult is what pruning every payload did.
type pruneResult struct {
	events, batches int
	hold            latencies // how long each statement took
	// SQLite: the file compacted (VACUUM) without pruning and after it,
	// and the bytes left unused inside its pages before and after pruning
	// (space new rows reuse). PostgreSQL: webhook_events with its TOAST
	// and indexes before pruning, and rewritten (VACUUM FULL) after.
	compactedKept, compactedPruned int64
	unusedBefore, unusedAfter      int64
	eventsBefore, eventsAfter      int64
}

// pruneAll prunes every processed event's payload, a batch at a time as
// paidup's job does, and measures what it freed; paidup has stopped.
func pruneAll(ctx context.Context, dbURL, dir string) (pruneResult, error) {
	var r pruneResult
	db, err := sqldb.Open(ctx, dbURL)
	if err != nil {
		return r, err
	}
	defer db.Close()
	// The schema may be older than this harness's (paidup-load -paidup
	// with an older binary): bring it up to date.
	if _, err := db.Migrate(ctx, store.Migrations); err != nil {
		return r, err
	}
	if db.Engine == sqldb.SQLite {
		if r.compactedKept, r.unusedBefore, err = compacted(ctx, db, dir+"/kept.db"); err != nil {
			return r, err
		}
	} else if err := db.Read.QueryRowContext(ctx, `SELECT pg_total_relation_size('webhook_events')`).Scan(&r.eventsBefore); err != nil {
		return r, err
	}
	s, err := store.New(db, func() time.Time { return time.Now().Add(time.Hour) })
	if err != nil {
		return r, err
	}
	var holds []time.Duration
	for {
		t := time.Now()
		n, err := s.PruneEventPayloads(ctx, s.Now(), events.PruneBatch)
		if err != nil {
			return r, err
		}
		holds = append(holds, time.Since(t))
		r.events += n
		r.batches++
		if n < events.PruneBatch {
			break
		}
	}
	r.hold = summarise(holds)
	if db.Engine == sqldb.Postgres {
		if _, err := db.Write.ExecContext(ctx, `VACUUM FULL webhook_events`); err != nil {
			return r, err
		}
		return r, db.Read.QueryRowContext(ctx, `SELECT pg_total_relation_size('webhook_events')`).Scan(&r.eventsAfter)
	}
	r.compactedPruned, r.unusedAfter, err = compacted(ctx, db, dir+"/pruned.db")
	return r, err
}

// compacted is the size of a SQLite database vacuumed into a copy at
// path, and the bytes unused inside the database's own pages.
func compacted(ctx context.Context, db *sqldb.DB, path string) (size, unused int64, err error) {
	os.Remove(path)
	if _, err := db.Write.ExecContext(ctx, `VACUUM INTO '`+path+`'`); err != nil {
		return 0, 0, err
	}
	defer os.Remove(path)
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	err = db.Read.QueryRowContext(ctx, `SELECT sum(unused) + (SELECT freelist_count FROM pragma_freelist_count) * (SELECT page_size FROM pragma_page_size) FROM dbstat`).Scan(&unused)
	return fi.Size(), unused, err
}

// logCount is a log's size in lines and bytes.
type logCount struct{ lines, bytes int64 }

func logSize(path string) (logCount, error) {
	data, err := os.ReadFile(path)
	return logCount{lines: int64(bytes.Count(data, []byte("\n"))), bytes: int64(len(data))}, err
}

// lineCounts counts log lines by what they say: the message, and an
// HTTP line's route.
type lineCounts map[string]int

// logLines counts the lines of the log at path from offset on.
func logLines(path string, offset int64) (lineCounts, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	counts := lineCounts{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Level, Msg, Route string
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			counts["(not JSON)"]++
			continue
		}
		key := l.Level + " " + l.Msg
		if l.Route != "" {
			key += " " + l.Route
		}
		counts[key]++
	}
	return counts, sc.Err()
}

// per lists each kind of line per purchase, most frequent first.
func (c lineCounts) per(purchases int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return c[b] - c[a] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(c[k])/float64(purchases)))
	}
	return strings.Join(parts, "; ")
}

// bytesOf writes a byte count for people.
func bytesOf(b float64) string {
	switch {
	case b >= 1<<20 || b <= -(1<<20):
		return fmt.Sprintf("%.1f MB", b/(1<<20))
	case b >= 10<<10 || b <= -(10<<10):
		return fmt.Sprintf("%.0f KB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f bytes", b)
}
