//go:build postgres

package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// killHelperEnv makes the test binary, run by TestWatchdogAfterKill, start
// a cluster, print where it is and wait to be killed.
const killHelperEnv = "PGTEST_KILL_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(killHelperEnv) == "1" {
		killHelper()
		return
	}
	// These tests are about starting clusters: a developer's
	// SMSCOURIER_TEST_POSTGRES_DSN, meant for the packages that use
	// pgtest, must not turn ForTest into a no-op here.
	os.Unsetenv(EnvDSN)
	Main(m)
}

func sharedServer() *Server {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.srv
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func exec1(t *testing.T, dsn, sql string) string {
	t.Helper()
	out, err := Exec(ctxFor(t), dsn, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// First in the file, so that in a normal run nothing is started before it.
func TestEnvDSNOverride(t *testing.T) {
	const want = "postgres://someone@db.example.invalid:5432/queue?sslmode=disable"
	before := sharedServer()
	t.Setenv(EnvDSN, want)
	if got := ForTest(t); got != want {
		t.Fatalf("ForTest = %q, want %q", got, want)
	}
	if after := sharedServer(); after != before {
		t.Fatalf("ForTest started a server although %s is set", EnvDSN)
	}
}

func TestSharedServerAnswers(t *testing.T) {
	start := time.Now()
	dsn := ForTest(t)
	t.Logf("ForTest took %v", time.Since(start))
	srv := sharedServer()
	if srv == nil || srv.DSN != dsn {
		t.Fatalf("shared server %+v, DSN %q", srv, dsn)
	}
	if again := ForTest(t); again != dsn {
		t.Fatalf("second ForTest = %q, want the shared %q", again, dsn)
	}
	want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", srv.Port)
	if dsn != want {
		t.Fatalf("DSN = %q, want %q", dsn, want)
	}

	for _, host := range []string{"127.0.0.1", srv.sockDir} {
		out, err := exec.Command(filepath.Join(srv.BinDir, "pg_isready"), "-h", host, "-p", strconv.Itoa(srv.Port)).CombinedOutput()
		if err != nil {
			t.Fatalf("pg_isready -h %s: %v: %s", host, err, out)
		}
	}
	if got := exec1(t, dsn, "select 1"); got != "1" {
		t.Fatalf("select 1 = %q", got)
	}
	for setting, want := range map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": srv.sockDir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"max_connections":         "200",
		"data_directory":          srv.dataDir,
		"server_encoding":         "UTF8",
	} {
		if got := exec1(t, dsn, "show "+setting); got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	if !strings.HasPrefix(srv.Dir, os.TempDir()) {
		t.Errorf("Dir %s is not in %s", srv.Dir, os.TempDir())
	}

	// The postmaster runs as nobody when we are root, else as us.
	pid := postmasterPID(t, srv)
	wantUID := os.Geteuid()
	if wantUID == 0 {
		a, err := lookupAccount(unprivilegedUser)
		if err != nil {
			t.Fatal(err)
		}
		wantUID = int(a.uid)
	}
	if got := processUID(t, pid); got != wantUID {
		t.Errorf("postmaster %d runs as uid %d, want %d", pid, got, wantUID)
	}
}

func TestCreateDatabase(t *testing.T) {
	dsn := ForTest(t)
	a := CreateDatabase(t, dsn)
	b := NewDatabase(t)
	if a == b {
		t.Fatalf("two databases with one DSN %q", a)
	}
	nameA, nameB := exec1(t, a, "select current_database()"), exec1(t, b, "select current_database()")
	if nameA == nameB || nameA == "postgres" || !strings.HasPrefix(nameA, "t_testcreatedatabase_") {
		t.Fatalf("databases %q and %q", nameA, nameB)
	}
	exec1(t, a, "create table jobs (id bigint primary key); insert into jobs values (1), (2)")
	if got := exec1(t, a, "select count(*) from jobs"); got != "2" {
		t.Fatalf("count in %s = %q", nameA, got)
	}
	if got := exec1(t, b, "select count(*) from pg_tables where tablename = 'jobs'"); got != "0" {
		t.Fatalf("table jobs of %s visible in %s", nameA, nameB)
	}

	// Dropped when the (sub)test ends.
	var inner string
	t.Run("dropped", func(t *testing.T) {
		inner = exec1(t, CreateDatabase(t, dsn), "select current_database()")
		if !strings.HasPrefix(inner, "t_testcreatedatabase_dropped_") {
			t.Fatalf("database %q", inner)
		}
	})
	if got := exec1(t, dsn, "select count(*) from pg_database where datname = '"+inner+"'"); got != "0" {
		t.Fatalf("database %s still there after its test", inner)
	}

	// Parallel tests each get their own.
	var names sync.Map
	t.Run("parallel", func(t *testing.T) {
		for i := range 8 {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				name := exec1(t, NewDatabase(t), "select current_database()")
				if prev, dup := names.LoadOrStore(name, i); dup {
					t.Errorf("subtests %v and %d share database %s", prev, i, name)
				}
			})
		}
	})
	names.Range(func(name, _ any) bool {
		if got := exec1(t, dsn, "select count(*) from pg_database where datname = '"+name.(string)+"'"); got != "0" {
			t.Errorf("database %s still there after its test", name)
		}
		return true
	})
}

func TestStopCleansUp(t *testing.T) {
	t.Parallel()
	start := time.Now()
	srv, err := Start(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	t.Cleanup(func() { srv.Stop() })
	if got := exec1(t, srv.DSN, "select 40 + 2"); got != "42" {
		t.Fatalf("select = %q", got)
	}
	pid := postmasterPID(t, srv)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("start %v, stop %v", started.Sub(start), time.Since(started))
	if _, err := os.Stat(srv.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Stop, %s: %v", srv.Dir, err)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("after Stop, %s still accepts", addr)
	}
	if processAlive(pid) {
		t.Fatalf("after Stop, postmaster %d still runs", pid)
	}
	if srv.watchdog.ProcessState == nil || !srv.watchdog.ProcessState.Exited() {
		t.Fatalf("after Stop, watchdog %v", srv.watchdog.ProcessState)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestPortTakenRetries(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	var calls atomic.Int32
	pick := func() (int, error) {
		if calls.Add(1) == 1 {
			return heldPort, nil
		}
		return freePort()
	}
	srv, err := Start(ctxFor(t), withPortPicker(pick))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if calls.Load() != 2 || srv.Port == heldPort {
		t.Fatalf("picker called %d times, port %d (held %d)", calls.Load(), srv.Port, heldPort)
	}
	if log := srv.LogTail(100); !portTaken([]byte(log)) {
		t.Fatalf("log does not show the failed bind:\n%s", log)
	}
	if got := exec1(t, srv.DSN, "select 1"); got != "1" {
		t.Fatalf("select 1 = %q", got)
	}
}

func TestStartFailureIsClear(t *testing.T) {
	_, err := Start(ctxFor(t), WithBinDir(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "initdb not found") || !strings.Contains(err.Error(), "apt-get install -y postgresql-15") {
		t.Fatalf("Start with an empty bin dir: %v", err)
	}

	t.Setenv(EnvBinDir, t.TempDir())
	if _, err := FindBinDir(); err == nil || !strings.Contains(err.Error(), EnvBinDir) || !strings.Contains(err.Error(), EnvDSN) {
		t.Fatalf("FindBinDir with an empty %s: %v", EnvBinDir, err)
	}
	if _, err := Start(ctxFor(t)); err == nil {
		t.Fatal("Start with an empty bin dir succeeded")
	}

	t.Setenv(EnvBinDir, "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if os.Geteuid() == 0 {
		// t.TempDir is private to root: nobody cannot reach it.
		_, err = Start(ctxFor(t))
		if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), "set TMPDIR") {
			t.Fatalf("Start in a directory nobody cannot reach: %v", err)
		}
		assertEmpty(t, tmp)
		for _, d := range []string{filepath.Dir(tmp), tmp} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A setting the server rejects: the error carries the server log.
	_, err = Start(ctxFor(t), WithSetting("no_such_setting", "1"))
	if err == nil || !strings.Contains(err.Error(), `unrecognized configuration parameter "no_such_setting"`) {
		t.Fatalf("Start with a bad setting: %v", err)
	}
	assertEmpty(t, tmp)
}

// assertEmpty checks that a failed Start left nothing in dir.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("failed Start left %s", filepath.Join(dir, e.Name()))
	}
}

func TestWithDatabase(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"},
		{"postgresql://u:p%40ss@h/", "postgresql://u:p%40ss@h/x"},
		{"postgres://h/db?dbname=other", "postgres://h/x?dbname=x"},
		{"host=/tmp user=postgres ", "host=/tmp user=postgres dbname=x"},
	} {
		got, err := WithDatabase(c.in, "x")
		if err != nil || got != c.want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	name, err := databaseName("TestQueue/Ack-Nack_(retry)/" + strings.Repeat("x", 80))
	if err != nil || len(name) > 63 || !strings.HasPrefix(name, "t_testqueue_ack_nack_retry_xxx") {
		t.Fatalf("databaseName = %q (%d bytes), %v", name, len(name), err)
	}
	if !versionLess("9.6", "10") || !versionLess("10", "15") || versionLess("15", "15") {
		t.Fatal("versionLess")
	}
}

// TestWatchdogAfterKill kills (SIGKILL) a test binary that runs a cluster
// and checks that the cluster's watchdog stops the server and removes its
// directory. The watchdog writes to the killed process's standard output,
// so reading that to its end waits for the watchdog too.
func TestWatchdogAfterKill(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stdout.(*os.File).SetReadDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var dir string
	var port, pid int
	if _, err := fmt.Sscanf(line, "READY %s %d %d", &dir, &port, &pid); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	if !processAlive(pid) {
		t.Fatalf("postmaster %d not running before the kill", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading until the watchdog ends: %v", err)
	}
	cmd.Wait()
	if !strings.Contains(string(rest), fmt.Sprintf("pgtest watchdog: stopped postgres (pid %d) of %s", pid, dir)) {
		t.Fatalf("watchdog said %q", rest)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after the watchdog, %s: %v", dir, err)
	}
	if processAlive(pid) {
		t.Fatalf("after the watchdog, postmaster %d still runs", pid)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("after the watchdog, %s still accepts", addr)
	}
}

func killHelper() {
	watchdogStdout = os.Stdout
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pid, err := readPID(srv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("READY %s %d %d\n", srv.Dir, srv.Port, pid)
	io.Copy(io.Discard, os.Stdin) // until killed
	os.Exit(1)
}

func readPID(srv *Server) (int, error) {
	b, err := os.ReadFile(filepath.Join(srv.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

func postmasterPID(t *testing.T, srv *Server) int {
	t.Helper()
	pid, err := readPID(srv)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// processAlive reports whether pid runs and is not a zombie (the
// postmaster's parent is init, which in a container may never reap it).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "Uid:" {
			uid, err := strconv.Atoi(f[2]) // effective
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return 0
}
