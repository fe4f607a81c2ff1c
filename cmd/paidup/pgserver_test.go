package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// pgBinDefault is where Debian's PostgreSQL 15 server binaries are;
// PAIDUP_TEST_PG_BIN names another directory.
const pgBinDefault = "/usr/lib/postgresql/15/bin"

// pgServer is a throwaway PostgreSQL cluster that a test owns, and so may
// stop and start: initdb into a temporary directory, a server on a loopback
// port of its own. It runs with fsync off: the test restarts the server
// process, not the machine, so syncing changes nothing it can observe, and
// costs the shared machine time. As root it runs as the postgres user
// (PostgreSQL refuses to run as root).
type pgServer struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential
	// URL is the superuser's URL of the database "paidup".
	URL string
}

// startPGServer starts a cluster for the test and stops it when the test
// ends. Without the server binaries it skips, or fails if
// PAIDUP_TEST_REQUIRE_POSTGRES=1.
func startPGServer(t *testing.T) *pgServer {
	t.Helper()
	bin := os.Getenv("PAIDUP_TEST_PG_BIN")
	if bin == "" {
		bin = pgBinDefault
	}
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("PAIDUP_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PAIDUP_TEST_REQUIRE_POSTGRES=1 but %s", msg)
		}
		t.Skipf("skipped: this test starts and restarts a PostgreSQL server of its own, and %s; install PostgreSQL 15's server (Debian: apt-get install postgresql-15) or set PAIDUP_TEST_PG_BIN to the directory holding initdb, pg_ctl and postgres", msg)
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			missing("%s is not in %s", name, bin)
		}
	}
	s := &pgServer{bin: bin, port: crashPort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing("the test runs as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// A directory of our own, outside the test's (which only root may
	// enter), that the server's user owns.
	dir, err := os.MkdirTemp("", "paidup-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir, s.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.run("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.run("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop") })
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE paidup"); err != nil {
		t.Fatalf("creating the database: %v", err)
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/paidup?sslmode=disable", s.port)
	return s
}

// start starts the server and waits until it accepts connections.
func (s *pgServer) start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", s.port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.data, "-l", filepath.Join(s.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("starting PostgreSQL: %v\n%s\n%s", err, out, readLog(filepath.Join(s.dir, "server.log")))
	}
	return nil
}

// crash stops the server at once, as a crash would: every connection
// breaks, and the next start recovers from the write-ahead log.
func (s *pgServer) crash() error {
	if out, err := s.run("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop"); err != nil {
		return fmt.Errorf("stopping PostgreSQL: %v\n%s", err, out)
	}
	return nil
}

// run runs one of the server's programs as the server's user.
func (s *pgServer) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(childEnv(""), "PGPORT="+strconv.Itoa(s.port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd.CombinedOutput()
}
