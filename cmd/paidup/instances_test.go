package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/sqldb"
)

// TestSeveralInstances proves what docs/operations.md promises of several
// paidup instances on one PostgreSQL database. Three `paidup serve`
// processes share a PostgreSQL server the test owns, behind a round-robin
// load balancer (in the test) that customers and the processor's webhooks
// both go through. The processor is a `paidup sandbox` process and the mail
// server is Mailpit, keeping every message it accepts. Customers buy
// continuously, several at once, and meanwhile the test kills the leader
// with SIGKILL in the middle of a reconciler pass (and, once another
// instance has completed a pass, starts it again), restarts another
// instance gracefully (SIGTERM, then start), and crashes and restarts the
// PostgreSQL server.
//
// Afterwards: every checkout the processor has paid has exactly one grant
// and one confirmation at the mail server (copies sharing a Message-ID, the
// documented window after a SIGKILL, are counted and reported); no grant
// lacks a paid checkout; the leadership moved away from each instance
// stopped while leading; every job completed (none discarded, retrying or
// left behind); `paidup check` passes; every instance received webhooks.
// What each instance did is logged as a table.
//
// It needs PostgreSQL 15's server binaries (see startPGServer) and Mailpit
// (see findMailpit); it does not run with -short. PAIDUP_TEST_CRASH_LOGS=DIR
// keeps the logs and configuration in DIR.
func TestSeveralInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("several instances: takes a minute; runs without -short")
	}
	mp := startMailpitWith(t, false)
	pg := startPGServer(t)
	bin := buildPaidup(t)
	f := newFleet(t, bin, mp, pg, 3)

	c := f.startCustomers(4, 100*time.Millisecond)
	c.waitMore(12)

	// The leader is killed mid-load, in the middle of a reconciler pass;
	// the others carry on, and one of them takes the leadership once the
	// dead one's lease runs out.
	killed := f.leader()
	f.waitRunning(killed, "reconcile", 30*time.Second)
	f.note("SIGKILL %s, the leader, in a reconciler pass", killed.name)
	killed.kill()
	f.leaders.waitFor(t, "a leader other than "+killed.name+", killed", 45*time.Second, func(id string) bool { return id != "" && id != killed.id })
	f.note("a new leader")
	// The reconciler runs while the dead one is down, though it may have
	// died in the middle of a pass.
	f.waitPass(killed, killed.killedAt, 30*time.Second)
	f.note("a reconciler pass on another instance")
	c.waitMore(12)
	f.note("start %s again", killed.name)
	killed.start()
	c.waitMore(12)

	// Another is restarted gracefully, while leading if it leads.
	restarted := f.leader()
	if restarted == killed {
		restarted = f.instances[(slices.Index(f.instances, killed)+1)%len(f.instances)]
	}
	f.note("SIGTERM %s", restarted.name)
	restarted.stop()
	f.leaders.waitFor(t, "a leader other than "+restarted.name+", stopped", 30*time.Second, func(id string) bool { return id != "" && id != restarted.id })
	f.note("a new leader; start %s again", restarted.name)
	restarted.start()
	c.waitMore(12)

	// The database server crashes and comes back.
	f.note("PostgreSQL crashes")
	if err := pg.crash(); err != nil {
		t.Fatal(err)
	}
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	f.note("PostgreSQL is back")
	c.waitMore(12)
	c.stop()
	f.note("customers stop")

	f.waitSettled(c)
	f.note("settled")
	out := f.checkOutcome(c, killed, restarted)
	f.note("checked")
	f.report(c, out)
}

// fleet is the several-instance deployment under test: the instances, the
// load balancer in front of them, the processor and the mail server, and
// the database they share.
type fleet struct {
	t          *testing.T
	bin, dir   string
	mail       *mailpit
	pg         *pgServer
	db         *sqldb.DB // the test's own view of the shared database
	lb         *loadBalancer
	sandboxURL string
	oncall     string
	instances  []*member
	leaders    *leaderWatch

	began time.Time
	// notes are what happened when, for the report.
	notes []string
}

// member is one `paidup serve` process, on the same address (and so the
// same instance id) across its restarts.
type member struct {
	t                   *testing.T
	bin                 string
	name, listen, id    string
	config, dir         string
	proc                *childProc
	lb                  *backend // what the load balancer sent it
	starts, kills       int
	graceful            int
	logs                []string
	stoppedAt, killedAt time.Time
}

func newFleet(t *testing.T, bin string, mp *mailpit, pg *pgServer, n int) *fleet {
	t.Helper()
	f := &fleet{t: t, bin: bin, mail: mp, pg: pg, dir: t.TempDir(), oncall: "oncall-" + crashID(4) + "@example.com", began: time.Now()}
	if keep := os.Getenv("PAIDUP_TEST_CRASH_LOGS"); keep != "" {
		f.dir = filepath.Join(keep, t.Name())
		if err := os.MkdirAll(f.dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sqldb.Open(context.Background(), pg.URL)
	if err != nil {
		t.Fatalf("opening the shared database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db

	host, _ := os.Hostname()
	var names, addrs []string
	for i := range n {
		in := &member{t: t, bin: bin, name: fmt.Sprintf("paidup-%d", i+1), dir: f.dir}
		in.listen = fmt.Sprintf("127.0.0.1:%d", crashPort(t))
		in.id = "paidup@" + host + "/" + in.listen
		in.config = filepath.Join(f.dir, in.name+".yaml")
		f.instances = append(f.instances, in)
		names, addrs = append(names, in.name), append(addrs, in.listen)
	}
	f.lb = startLoadBalancer(t, names, addrs)
	for i, in := range f.instances {
		in.lb = f.lb.backends[i]
	}

	// The processor delivers its webhooks to the load balancer.
	sbConfig := filepath.Join(f.dir, "sandbox.yaml")
	writeCrashConfig(t, sbConfig, crashConfig{listen: f.instances[0].listen, dbURL: pg.URL, smtp: mp.smtpURL(), oncall: f.oncall, publicURL: f.lb.URL})
	sbLog := filepath.Join(f.dir, "sandbox.log")
	sb := startChildProc(t, bin, sbLog, childEnv(""), "sandbox", "--config", sbConfig,
		"--sandbox-listen", "127.0.0.1:0", "--sandbox-database-url", "sqlite:"+filepath.Join(f.dir, "sandbox.db"),
		"--webhook-url", f.lb.URL+"/webhooks/stripe", "--webhook-secret", crashWebhookKey, "--smtp-listen", "off", "--log-level", "warn")
	f.sandboxURL = waitForLine(t, sb, sbLog, regexp.MustCompile(`API:\s+(http://127\.0\.0\.1:\d+)/v1`))
	waitChildHealthy(t, sb, f.sandboxURL+"/healthz", sbLog)

	for _, in := range f.instances {
		writeCrashConfig(t, in.config, crashConfig{listen: in.listen, dbURL: pg.URL, apiURL: f.sandboxURL, smtp: mp.smtpURL(),
			oncall: f.oncall, publicURL: f.lb.URL, trustedProxies: "[127.0.0.1]", extra: instanceLimits})
		in.start()
	}
	f.leaders = watchLeaders(t, db)
	f.note("%d instances serve", n)
	return f
}

// instanceLimits loosen two per-client limits for the test's customers,
// who each come from an address of their own but reload a page that fails
// (while an instance or the database restarts) every 100 ms for up to
// 15 s, far more often than a person would.
const instanceLimits = `limits:
  checkout: {per_minute: 600, burst: 200}
  status: {per_minute: 600, burst: 200}
`

// note records what happened, and when, for the report.
func (f *fleet) note(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf("%5.1fs ", time.Since(f.began).Seconds())+fmt.Sprintf(format, args...))
}

// start runs the instance and waits until it answers /healthz.
func (in *member) start() {
	in.t.Helper()
	in.starts++
	logPath := filepath.Join(in.dir, fmt.Sprintf("%s-%d.log", in.name, in.starts))
	in.logs = append(in.logs, logPath)
	in.proc = startChildProc(in.t, in.bin, logPath, childEnv(""), "serve", "--config", in.config)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := quickClient.Get("http://" + in.listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if in.proc.exited() || time.Now().After(deadline) {
			in.t.Fatalf("%s did not start (%s):\n%s", in.name, in.proc.state(), logTail(logPath))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// kill ends the instance with SIGKILL, as a crash or an OOM kill would.
func (in *member) kill() {
	in.t.Helper()
	in.kills++
	in.killedAt = time.Now()
	syscall.Kill(in.proc.cmd.Process.Pid, syscall.SIGKILL)
	if !in.proc.waitExit(10 * time.Second) {
		in.t.Fatalf("%s did not die of SIGKILL", in.name)
	}
}

// stop ends the instance as an operator would, with SIGTERM, and checks
// that it stopped cleanly.
func (in *member) stop() {
	in.t.Helper()
	in.graceful++
	in.stoppedAt = time.Now()
	in.proc.cmd.Process.Signal(syscall.SIGTERM)
	if !in.proc.waitExit(30 * time.Second) {
		in.t.Fatalf("%s did not stop within 30 s of SIGTERM:\n%s", in.name, logTail(in.logs[len(in.logs)-1]))
	}
	if !in.proc.cmd.ProcessState.Success() {
		in.t.Fatalf("%s stopped with %s:\n%s", in.name, in.proc.state(), logTail(in.logs[len(in.logs)-1]))
	}
}

// leader is the instance that leads now, waiting for there to be one.
func (f *fleet) leader() *member {
	f.t.Helper()
	id := f.leaders.waitFor(f.t, "a leader", 30*time.Second, func(id string) bool { return id != "" })
	for _, in := range f.instances {
		if in.id == id {
			return in
		}
	}
	f.t.Fatalf("the leader %q is none of the instances", id)
	return nil
}

// waitRunning waits until a job of kind is running on in.
func (f *fleet) waitRunning(in *member, kind string, limit time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var n int
		err := f.db.Read.QueryRow(`SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'running'
			AND attempted_by[array_length(attempted_by, 1)] = $2`, kind, in.id).Scan(&n)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no %s job ran on %s within %s", kind, in.name, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPass waits until a reconciler pass begun after since has completed on
// an instance other than not.
func (f *fleet) waitPass(not *member, since time.Time, limit time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var n int
		err := f.db.Read.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'reconcile' AND state = 'completed'
			AND attempted_at > $1 AND attempted_by[array_length(attempted_by, 1)] <> $2`, since, not.id).Scan(&n)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			var running []string
			rows, _ := f.db.Read.Query(`SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job WHERE kind = 'reconcile' AND state = 'running'`)
			for rows != nil && rows.Next() {
				var by string
				rows.Scan(&by)
				running = append(running, by)
			}
			f.t.Fatalf("no reconciler pass completed on another instance within %s of %s going; passes running: %v", limit, not.name, running)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaderWatch follows river_leader, the job queue's elected leader (which
// enqueues the reconciler's runs), through the test.
type leaderWatch struct {
	mu    sync.Mutex
	terms []leaderTerm
}

// leaderTerm is a leader the watch saw, from when it first saw it; "" for
// none.
type leaderTerm struct {
	id   string
	from time.Time
}

func watchLeaders(t *testing.T, db *sqldb.DB) *leaderWatch {
	w := &leaderWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var id string
			err := db.Read.QueryRowContext(ctx, `SELECT coalesce(max(leader_id), '') FROM river_leader`).Scan(&id)
			if err == nil {
				w.mu.Lock()
				if len(w.terms) == 0 || w.terms[len(w.terms)-1].id != id {
					w.terms = append(w.terms, leaderTerm{id, time.Now()})
				}
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w
}

// waitFor waits until the leader satisfies ok, and returns it.
func (w *leaderWatch) waitFor(t *testing.T, what string, limit time.Duration, ok func(id string) bool) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		w.mu.Lock()
		id := ""
		if n := len(w.terms); n > 0 {
			id = w.terms[n-1].id
		}
		w.mu.Unlock()
		if ok(id) {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s; leaders seen: %v", what, limit, w.history())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replaced reports whether, after at, a leader other than id took over.
func (w *leaderWatch) replaced(id string, at time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.terms, func(lt leaderTerm) bool { return lt.from.After(at) && lt.id != "" && lt.id != id })
}

func (w *leaderWatch) history() []leaderTerm {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.terms)
}

// termsOf counts the terms id held.
func (w *leaderWatch) termsOf(id string) int {
	n := 0
	for _, lt := range w.history() {
		if lt.id == id {
			n++
		}
	}
	return n
}
