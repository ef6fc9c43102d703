// Package pgtest gives tests a real PostgreSQL server: a throwaway cluster
// on loopback, started from the server binaries installed on the machine
// (Debian: /usr/lib/postgresql/NN/bin from the postgresql-NN package), or an
// existing server named by the environment variable
// SMSCOURIER_TEST_POSTGRES_DSN, in which case nothing is started.
//
// A cluster is made with initdb (trust authentication, superuser
// "postgres", UTF8, locale C) in a new temporary directory and started with
// pg_ctl -w, so Start returns only once the server accepts connections. It
// listens on 127.0.0.1 only, on a free port picked at random, keeps its
// Unix socket in the temporary directory and runs with fsync,
// synchronous_commit and full_page_writes off: fast, and worthless after a
// crash, which is the point. PostgreSQL refuses to run as root, so when the
// test binary runs as root (as CI does) the directory is handed to the
// unprivileged user "nobody" and initdb and pg_ctl run as that user.
//
// Typical use, one cluster shared by all tests of a package:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.NewDatabase(t) // a fresh, empty database of its own
//		...
//	}
//
// or, with a TestMain that does more, return from it rather than calling
// os.Exit, so that the deferred call runs:
//
//	func TestMain(m *testing.M) {
//		defer pgtest.StopShared()
//		m.Run()
//	}
//
// Leftovers. StopShared (and Server.Stop) stop the server with
// "pg_ctl -m immediate stop", wait for it to exit and remove the directory.
// If the test binary dies first (killed, a -timeout panic, or a package that
// never calls StopShared), a small watchdog started beside each cluster sees
// the binary's end and does the same; it lives in its own process group, so
// a Ctrl-C in the terminal does not take it down with the binary. Only if
// the watchdog is killed too (kill -9 of everything, a machine reset) can a
// server outlive its test binary; then find and end it with
//
//	ps -eo pid,user,args | grep '[p]ostgres -D .*/pgtest-'
//	kill -QUIT <pid>; rm -rf /tmp/pgtest-*
//
// (a server whose directory is gone also stops by itself within about a
// minute, when it finds its lock file missing).
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	// EnvDSN, when set, is the connection string of an existing server
	// that ForTest and NewDatabase use instead of starting one.
	EnvDSN = "SMSCOURIER_TEST_POSTGRES_DSN"
	// EnvBinDir, when set, is the directory holding initdb, pg_ctl and
	// postgres (and preferably psql), instead of the highest
	// /usr/lib/postgresql/*/bin.
	EnvBinDir = "SMSCOURIER_PG_BINDIR"
)

// InstallHint says what a machine without the server binaries lacks.
const InstallHint = "install Debian's PostgreSQL server (apt-get update && apt-get install -y postgresql-15), " +
	"set " + EnvBinDir + " to a directory holding initdb and pg_ctl, " +
	"or set " + EnvDSN + " to the DSN of an existing server"

// unprivilegedUser runs the cluster when the test binary runs as root.
const unprivilegedUser = "nobody"

// Server is a running throwaway cluster. Stop it with Stop.
type Server struct {
	// DSN connects to the database "postgres" as the superuser
	// "postgres", e.g. postgres://postgres@127.0.0.1:41234/postgres?sslmode=disable.
	DSN string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Dir is the temporary directory holding the cluster: data/ (the data
	// directory), sock/ (the Unix socket) and postgres.log.
	Dir string
	// BinDir is the directory of the initdb, pg_ctl and postgres used.
	BinDir string

	dataDir, sockDir, logFile string
	owner                     *account // nil: the cluster runs as the test binary's user
	env                       []string

	watchdog   *exec.Cmd
	watchdogIn io.WriteCloser

	stopOnce sync.Once
	stopErr  error
}

type account struct {
	name     string
	uid, gid uint32
}

// An Option changes how Start makes a cluster.
type Option func(*config)

type config struct {
	binDir   string
	settings []string
	pickPort func() (int, error)
}

// WithBinDir uses the server binaries in dir instead of looking for them.
func WithBinDir(dir string) Option { return func(c *config) { c.binDir = dir } }

// WithSetting passes "-c name=value" to the server, after (and so over) the
// package's own settings.
func WithSetting(name, value string) Option {
	return func(c *config) { c.settings = append(c.settings, name+"="+value) }
}

// withPortPicker replaces the free-port picker (tests).
func withPortPicker(f func() (int, error)) Option { return func(c *config) { c.pickPort = f } }

// watchdogStdout, when set, becomes the watchdog's standard output (tests:
// lets a test wait for the watchdog of a killed process to finish).
var watchdogStdout *os.File

// portAttempts bounds the retries when the picked port is taken between
// picking it and the server binding it.
const portAttempts = 5

// Start makes and starts a throwaway cluster; see the package doc. It
// returns once the server accepts connections on Server.Port. Start does not
// look at EnvDSN: it always starts a cluster. The caller must call Stop.
func Start(ctx context.Context, opts ...Option) (*Server, error) {
	cfg := config{pickPort: freePort}
	for _, o := range opts {
		o(&cfg)
	}
	binDir := cfg.binDir
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if !isExecutable(filepath.Join(binDir, name)) {
			return nil, fmt.Errorf("pgtest: %s not found in %s; %s", name, binDir, InstallHint)
		}
	}
	for _, s := range cfg.settings {
		if strings.ContainsAny(s, "'\n") {
			return nil, fmt.Errorf("pgtest: setting %q: quotes and newlines are not supported", s)
		}
	}

	s := &Server{BinDir: binDir}
	if os.Geteuid() == 0 {
		a, err := lookupAccount(unprivilegedUser)
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root, PostgreSQL must run as an unprivileged user: %w", err)
		}
		s.owner = a
	}

	dir, err := os.MkdirTemp("", "pgtest-*")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s.Dir = dir
	s.dataDir = filepath.Join(dir, "data")
	s.sockDir = filepath.Join(dir, "sock")
	s.logFile = filepath.Join(dir, "postgres.log")
	s.env = serverEnv(dir)
	fail := func(err error) (*Server, error) {
		if stopErr := s.Stop(); stopErr != nil {
			err = fmt.Errorf("%w (cleaning up: %v)", err, stopErr)
		}
		return nil, err
	}
	// From here on Stop cleans up; start the watchdog first so that it
	// covers everything started after it.
	if err := s.startWatchdog(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: starting watchdog: %w", err)
	}
	if err := s.prepareDir(); err != nil {
		return fail(err)
	}

	out, err := s.run(ctx, "initdb", "-D", s.dataDir, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync")
	if err != nil {
		return fail(fmt.Errorf("pgtest: initdb failed: %v\n%s", err, tail(out, 30)))
	}

	for attempt := 1; ; attempt++ {
		port, err := cfg.pickPort()
		if err != nil {
			return fail(fmt.Errorf("pgtest: picking a port: %w", err))
		}
		logStart := fileSize(s.logFile)
		err = s.pgctlStart(ctx, port, cfg.settings)
		if err == nil {
			s.Port = port
			s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			return s, nil
		}
		log := readFrom(s.logFile, logStart)
		if attempt < portAttempts && ctx.Err() == nil && portTaken(log) {
			continue
		}
		return fail(fmt.Errorf("pgtest: starting the server on 127.0.0.1:%d failed: %v\n--- tail of %s:\n%s",
			port, err, s.logFile, tail(log, 30)))
	}
}

// prepareDir makes the socket directory and, when running as root, hands
// the directory over to the unprivileged user.
func (s *Server) prepareDir() error {
	if strings.ContainsAny(s.Dir, "'\"\\\n $`") {
		return fmt.Errorf("pgtest: temporary directory %q has characters pg_ctl cannot pass on; set TMPDIR to a plain path such as /tmp", s.Dir)
	}
	// The socket path must fit sockaddr_un (108 bytes with the NUL).
	if n := len(filepath.Join(s.sockDir, ".s.PGSQL.65535")); n > 107 {
		return fmt.Errorf("pgtest: socket path in %s would be %d bytes, over the limit of 107; set TMPDIR to a shorter path such as /tmp", s.Dir, n)
	}
	if err := os.Mkdir(s.sockDir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if s.owner == nil {
		return nil
	}
	for _, p := range []string{s.Dir, s.sockDir} {
		if err := os.Chown(p, int(s.owner.uid), int(s.owner.gid)); err != nil {
			return fmt.Errorf("pgtest: handing %s to %s: %w", p, s.owner.name, err)
		}
	}
	if err := reachable(filepath.Dir(s.Dir), s.owner.uid, s.owner.gid); err != nil {
		return fmt.Errorf("pgtest: user %s cannot reach %s: %v; set TMPDIR to a directory every user can enter, such as /tmp", s.owner.name, s.Dir, err)
	}
	return nil
}

func (s *Server) pgctlStart(ctx context.Context, port int, extra []string) error {
	o := []string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(port),
		"-k '" + s.sockDir + "'",
		"-c fsync=off",
		"-c synchronous_commit=off",
		"-c full_page_writes=off",
		"-c max_connections=200",
	}
	for _, e := range extra {
		o = append(o, "-c '"+e+"'")
	}
	out, err := s.run(ctx, "pg_ctl", "-D", s.dataDir, "-l", s.logFile, "-w", "-t", "60",
		"-o", strings.Join(o, " "), "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Stop stops the server (pg_ctl -m immediate stop, waiting for it to exit),
// ends the watchdog and removes Dir. It may be called more than once; later
// calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dataDir, "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		out, err := s.run(ctx, "pg_ctl", "-D", s.dataDir, "-m", "immediate", "-w", "-t", "60", "stop")
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("pgtest: pg_ctl stop: %v: %s", err, bytes.TrimSpace(out)))
		}
	}
	// The watchdog, once its input ends, stops a server still running
	// (if pg_ctl failed) and removes the directory.
	if s.watchdog != nil {
		s.watchdogIn.Close()
		if err := s.watchdog.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: watchdog: %w", err))
		}
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: %w", err))
	}
	return errors.Join(errs...)
}

// LogTail returns the last n lines of the server log (for failure messages).
func (s *Server) LogTail(n int) string {
	return tail(readFrom(s.logFile, 0), n)
}

// watchdogScript runs beside each cluster, as the test binary's user, in
// its own process group. Its standard input is a pipe whose only writer is
// the test binary, which never writes: end of input means the binary called
// Stop or died. Then, if the postmaster still runs, it sends SIGQUIT
// (PostgreSQL's immediate shutdown), waits for it to go (at most a minute)
// and removes the directory.
const watchdogScript = `while read -r _; do :; done
dir=$1 pidfile=$2/postmaster.pid pid=
[ -f "$pidfile" ] && read -r pid < "$pidfile"
case $pid in ''|*[!0-9]*) pid= ;; esac
if [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = postgres ]; then
	kill -QUIT "$pid" 2>/dev/null
	i=0
	while [ -f "$pidfile" ] && [ $i -lt 600 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
	echo "pgtest watchdog: stopped postgres (pid $pid) of $dir"
fi
rm -rf "$dir"
`

func (s *Server) startWatchdog() error {
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "pgtest-watchdog", s.Dir, s.dataDir)
	cmd.Dir = "/"
	cmd.SysProcAttr = ownProcessGroup()
	if watchdogStdout != nil {
		cmd.Stdout = watchdogStdout
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.watchdog, s.watchdogIn = cmd, in
	return nil
}

// run runs a server binary as the cluster's owner, in Dir.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.BinDir, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = s.env
	cmd.SysProcAttr = runAs(s.owner)
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

// serverEnv is the environment of initdb and pg_ctl: the test binary's,
// without libpq's PG* variables and locale settings, with HOME in dir (the
// unprivileged user's home may not exist) and messages in English (Start
// reads the log).
func serverEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+dir, "LC_ALL=C")
}

// FindBinDir returns the directory of the PostgreSQL server binaries: the
// value of EnvBinDir if set, else the highest-versioned
// /usr/lib/postgresql/*/bin holding initdb, else the directory of initdb on
// PATH if pg_ctl is beside it.
func FindBinDir() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if !isExecutable(filepath.Join(dir, "initdb")) || !isExecutable(filepath.Join(dir, "pg_ctl")) {
			return "", fmt.Errorf("pgtest: %s=%s holds no initdb and pg_ctl; %s", EnvBinDir, dir, InstallHint)
		}
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))),
			filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
	})
	for i := len(matches) - 1; i >= 0; i-- {
		dir := filepath.Dir(matches[i])
		if isExecutable(matches[i]) && isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", errors.New("pgtest: no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH; " + InstallHint)
}

// versionLess orders "9.6" < "10" < "15".
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %s has uid 0", name)
	}
	return &account{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// may take it before the server binds it; Start then retries.
func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func portTaken(log []byte) bool {
	return bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("Address already in use"))
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFrom(p string, off int64) []byte {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, off, 1<<40))
	return b
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The cluster shared by the tests of one test binary.
var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// sharedStartTimeout bounds ForTest's start of the shared cluster.
const sharedStartTimeout = 3 * time.Minute

// ForTest returns the DSN of the server the tests of this binary share: the
// value of EnvDSN if that is set (nothing is started), else a cluster that
// the first call starts and later calls reuse. If the start fails, this and
// every later call fails the test with the same error. Stop the cluster from
// TestMain with Main or StopShared (see the package doc); the database
// "postgres" is shared, so tests that need isolation should use NewDatabase
// or CreateDatabase.
func ForTest(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
		shared.srv, shared.err = Start(ctx)
		cancel()
	}
	if shared.err != nil {
		tb.Fatalf("%v", shared.err)
	}
	return shared.srv.DSN
}

// StopShared stops the cluster that ForTest started, if any, and forgets it
// (a later ForTest starts a new one). It is safe to call when nothing was
// started, and more than once.
func StopShared() error {
	shared.mu.Lock()
	srv := shared.srv
	shared.srv, shared.err = nil, nil
	shared.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Stop()
}

// Main is a whole TestMain: it runs the tests, stops the shared cluster and
// exits with the tests' status (1 if they passed but the stop failed).
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// NewDatabase is CreateDatabase(tb, ForTest(tb)).
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return CreateDatabase(tb, ForTest(tb))
}

// CreateDatabase creates a new, empty database with a unique name on the
// server dsn points at and returns dsn changed to name it. The database is
// dropped (WITH (FORCE), ending connections still open) when tb's test and
// its subtests end; failure to drop is only logged. It runs psql (see Exec).
func CreateDatabase(tb testing.TB, dsn string) string {
	tb.Helper()
	name, err := databaseName(tb.Name())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	newDSN, err := WithDatabase(dsn, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Exec(ctx, dsn, `CREATE DATABASE "`+name+`"`); err != nil {
		tb.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := Exec(ctx, dsn, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			tb.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return newDSN
}

// databaseName is "t_" + the test's name made an identifier (at most 40
// bytes) + "_" + 16 random hex digits: at most 59 bytes, under
// PostgreSQL's 63.
func databaseName(testName string) (string, error) {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	base := strings.Trim(b.String(), "_")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "_")
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return "t_" + base + "_" + hex.EncodeToString(rnd[:]), nil
}

// WithDatabase returns dsn changed to connect to database name. dsn is a
// URL (postgres://... or postgresql://...) or a keyword/value string
// ("host=... user=..."), to which " dbname=name" is appended (the last
// setting wins).
func WithDatabase(dsn, name string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return strings.TrimSpace(dsn) + " dbname=" + name, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parsing DSN: %w", err)
	}
	u.Path, u.RawPath = "/"+name, ""
	if q := u.Query(); q.Has("dbname") {
		q.Set("dbname", name)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// FindPsql returns the psql to use: the one in FindBinDir's directory if
// there is one there, else psql on PATH.
func FindPsql() (string, error) {
	if dir, err := FindBinDir(); err == nil && isExecutable(filepath.Join(dir, "psql")) {
		return filepath.Join(dir, "psql"), nil
	}
	if p, err := exec.LookPath("psql"); err == nil {
		return p, nil
	}
	return "", errors.New("pgtest: psql not found in the server's bin directory or on PATH; install postgresql-client-15 (or postgresql-15)")
}

// Exec runs sql on the server dsn points at with psql (-X -A -t -q,
// ON_ERROR_STOP) and returns its output without surrounding white space:
// for one row of one column, the value. It is meant for test setup without
// a Go driver.
func Exec(ctx context.Context, dsn, sql string) (string, error) {
	psql, err := FindPsql()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, psql, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql)
	cmd.Env = append(os.Environ(), "PGAPPNAME=pgtest")
	if os.Getenv("PGCONNECT_TIMEOUT") == "" {
		cmd.Env = append(cmd.Env, "PGCONNECT_TIMEOUT=10")
	}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
