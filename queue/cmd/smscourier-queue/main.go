// Command smscourier-queue sends SMS through a durable queue: River on a
// SQLite file or a PostgreSQL database, with the courier settings of an Ory
// Kratos config file.
//
//	go install github.com/smscourier/smscourier/queue/cmd/smscourier-queue@latest
//
//	smscourier-queue migrate
//	smscourier-queue worker  --config kratos.yml
//	smscourier-queue enqueue --config kratos.yml --to +14134242223 --body 'Your code is 123456'
//
// migrate creates River's tables; worker sends queued messages until it
// gets SIGINT or SIGTERM; enqueue queues one message. The database is the
// SQLite file ./smscourier-queue.db unless --database names another file or
// a postgres:// URL.
//
// Exit status: 0 on success, 1 on failure, 2 on a usage error.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"golang.org/x/time/rate"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// defaultDatabase is the database used without --database.
const defaultDatabase = "./smscourier-queue.db"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const mainUsage = `smscourier-queue sends SMS through a durable queue (River on SQLite or
PostgreSQL), with the courier settings of an Ory Kratos config file.

Usage:
  smscourier-queue migrate [--database URL]
  smscourier-queue worker  --config FILE [--database URL] [--env=false] [flags]
  smscourier-queue enqueue --config FILE --to NUMBER --body TEXT [--database URL] [--env=false] [flags]
  smscourier-queue help [COMMAND]

Commands:
  migrate  create or update the queue's tables
  worker   send queued messages until SIGINT or SIGTERM
  enqueue  queue one message

Run "smscourier-queue COMMAND --help" for the flags of a command.

The database is the SQLite file ` + defaultDatabase + ` unless --database
names another file (a path, file:PATH or sqlite://PATH) or a PostgreSQL
database (postgres://... or postgresql://...).

Exit status: 0 success; 1 failure; 2 usage error.
`

// command is one subcommand.
type command struct {
	name    string
	summary string
	flags   func(*flag.FlagSet, *invocation)
	run     func(context.Context, *invocation) int
}

var commands = []*command{
	{
		name: "migrate",
		summary: `Usage: smscourier-queue migrate [--database URL]

Creates River's tables, or updates them to the version this program needs.
Migrations already applied are skipped, so it is safe to run at every
deployment. Run it before the first worker or enqueue.
`,
		flags: func(fs *flag.FlagSet, in *invocation) { in.databaseFlag(fs) },
		run:   runMigrate,
	},
	{
		name: "worker",
		summary: `Usage: smscourier-queue worker --config FILE [--database URL] [--env=false] [flags]

Sends queued messages with the courier settings of the Kratos config FILE
until it receives SIGINT or SIGTERM. It then stops fetching, waits up to
--stop-timeout for the messages being sent, and exits; a second signal
kills it at once (a message whose request was on its way is then never
resent: its outcome is unknown).

Each job attempt is logged to stderr (outcome, failure class, status, job
id, idempotency key, the masked number; never the text). Sent jobs
complete; refusals with Retry-After are snoozed; failures that delivered
nothing are retried with backoff (as many attempts as enqueue allowed,
default 6); rejected, cancelled, invalid and expired messages are
cancelled; a send whose outcome is unknown is cancelled unless
--idempotency-key-header names a header the gateway deduplicates on.
The courier makes one HTTP request per job attempt: the queue retries.
It fails at once, naming the migrate command to run, when the database
lacks River's tables or migrations this program needs.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			in.databaseFlag(fs)
			fs.IntVar(&in.maxWorkers, "max-workers", queue.DefaultMaxWorkers, "send at most `N` messages at once")
			fs.Float64Var(&in.rate, "rate", 0, "send at most `R` messages a second from this process (0: no limit)")
			fs.IntVar(&in.burst, "burst", 1, "with --rate, allow bursts of `N` messages")
			fs.StringVar(&in.idemHeader, "idempotency-key-header", "", "send each message's idempotency key in header `NAME` and retry sends whose outcome is unknown; only for a gateway that deduplicates on it")
			fs.DurationVar(&in.retention, "retention", queue.DefaultRetentionPeriod, "delete finished jobs (with their text) after this `duration`")
			fs.DurationVar(&in.stopTimeout, "stop-timeout", 30*time.Second, "on a signal, wait this `duration` for messages being sent")
			fs.BoolVar(&in.verbose, "verbose", false, "also log each HTTP attempt of the courier")
		},
		run: runWorker,
	},
	{
		name: "enqueue",
		summary: `Usage: smscourier-queue enqueue --config FILE --to NUMBER --body TEXT [--database URL] [--env=false] [flags]

Checks that the message renders with the courier settings of the Kratos
config FILE (nothing is sent), then queues it for a worker and prints the
job id and idempotency key. A message whose idempotency key is already
queued, or was sent or dropped within the retention period, is not queued
again: the existing job is printed with "duplicate". It fails, naming the
migrate command to run, when the database lacks River's tables or
migrations this program needs.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			in.databaseFlag(fs)
			fs.StringVar(&in.to, "to", "", "the recipient `NUMBER` (required)")
			fs.StringVar(&in.body, "body", "", "the message `TEXT` (required)")
			fs.StringVar(&in.from, "from", "", "the `SENDER`, overriding the config's from")
			fs.StringVar(&in.idempotencyKey, "idempotency-key", "", "the message's idempotency `KEY` (default: a random one)")
			fs.DurationVar(&in.notAfter, "not-after", 0, "do not send the message later than this `duration` from now (0: no limit)")
			fs.IntVar(&in.maxAttempts, "max-attempts", queue.DefaultMaxAttempts, "at most `N` attempts to send it")
		},
		run: runEnqueue,
	},
}

// invocation holds the flags and environment of one run.
type invocation struct {
	cmd            *command
	environ        []string
	stdout, stderr io.Writer

	database       string
	config         string
	env            bool
	maxWorkers     int
	rate           float64
	burst          int
	idemHeader     string
	retention      time.Duration
	stopTimeout    time.Duration
	verbose        bool
	to, body, from string
	idempotencyKey string
	notAfter       time.Duration
	maxAttempts    int
}

func (in *invocation) databaseFlag(fs *flag.FlagSet) {
	fs.StringVar(&in.database, "database", defaultDatabase, "the database: a SQLite file `URL` (PATH, file:PATH, sqlite://PATH) or postgres://...")
}

func (in *invocation) configFlags(fs *flag.FlagSet) {
	fs.StringVar(&in.config, "config", "", "the Kratos config `FILE`, YAML or JSON (required)")
	fs.BoolVar(&in.env, "env", true, "apply COURIER_* environment variable overrides, as Kratos does; --env=false ignores them")
}

// run executes the command line args and returns the exit status. ctx ends
// the worker.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if args[0] != "help" || len(args) == 1 {
			fmt.Fprint(stdout, mainUsage)
			return exitOK
		}
		cmd := lookup(args[1])
		if cmd == nil || len(args) > 2 {
			fmt.Fprintf(stderr, "smscourier-queue help: unknown command %q\n\n%s", strings.Join(args[1:], " "), mainUsage)
			return exitUsage
		}
		printUsage(stdout, cmd)
		return exitOK
	}
	cmd := lookup(args[0])
	if cmd == nil {
		fmt.Fprintf(stderr, "smscourier-queue: unknown command %q\n\n%s", args[0], mainUsage)
		return exitUsage
	}
	// Values of flags the command lacks pass the checks below.
	in := &invocation{cmd: cmd, environ: environ, stdout: stdout, stderr: stderr, maxWorkers: 1, burst: 1}
	fs := newFlagSet(cmd, in)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, cmd)
			return exitOK
		}
		return in.usageError("%v", err)
	}
	if fs.NArg() > 0 {
		return in.usageError("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"config", "to", "body"} {
		if fs.Lookup(name) != nil && !set[name] {
			return in.usageError("--%s is required", name)
		}
	}
	switch {
	case in.database == "":
		return in.usageError("--database must not be empty")
	case in.maxWorkers < 1 || in.maxAttempts < 0 || in.burst < 1:
		return in.usageError("--max-workers and --burst must be at least 1, --max-attempts not negative")
	case in.rate < 0 || in.notAfter < 0 || in.stopTimeout < 0:
		return in.usageError("--rate, --not-after and --stop-timeout must not be negative")
	}
	return cmd.run(ctx, in)
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// newFlagSet returns cmd's flags bound to in. Parse reports errors without
// printing anything; run prints them.
func newFlagSet(cmd *command, in *invocation) *flag.FlagSet {
	fs := flag.NewFlagSet("smscourier-queue "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cmd.flags(fs, in)
	return fs
}

const usageFooter = `
--database is a SQLite file (migrate creates it if missing: PATH, file:PATH or
sqlite://PATH) or a PostgreSQL URL (postgres://user:password@host/db).

COURIER_* environment variables override keys of the config file as in
Kratos (COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD); --env=false
ignores the environment.

Exit status: 0 success; 1 failure; 2 usage error.
`

func printUsage(w io.Writer, cmd *command) {
	fmt.Fprint(w, cmd.summary)
	fmt.Fprint(w, "\nFlags (-flag and --flag are the same):\n")
	fs := newFlagSet(cmd, &invocation{})
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, usageFooter)
}

func (in *invocation) usageError(format string, args ...any) int {
	fmt.Fprintf(in.stderr, "smscourier-queue %s: %s\nRun \"smscourier-queue %s --help\" for usage.\n", in.cmd.name, fmt.Sprintf(format, args...), in.cmd.name)
	return exitUsage
}

// fail prints err and returns exitFailure. A *ConfigError is printed one
// problem a line.
func (in *invocation) fail(err error) int {
	var ce *smscourier.ConfigError
	if errors.As(err, &ce) {
		fmt.Fprintf(in.stderr, "smscourier-queue: %s: invalid config:\n", in.config)
		for _, p := range ce.Problems {
			fmt.Fprintf(in.stderr, "  %s\n", p)
		}
		return exitFailure
	}
	fmt.Fprintf(in.stderr, "smscourier-queue %s: %v\n", in.cmd.name, err)
	return exitFailure
}

// loadConfig reads the courier config, with environment overrides unless
// --env=false.
func (in *invocation) loadConfig() (smscourier.SMSConfig, error) {
	if in.env {
		return smscourier.LoadConfigEnv(in.config, in.environ)
	}
	return smscourier.LoadConfig(in.config)
}

// store is an open database with the River clients this program needs.
type store struct {
	shown   string // the database for messages, without a password
	migrate func(context.Context) error
	// unapplied returns the River migrations this program has that the
	// database lacks, and whether it lacks them all (no River tables).
	unapplied func(context.Context) (missing []int, none bool, err error)
	// enqueue queues m through an insert-only client.
	enqueue func(context.Context, smscourier.Message, queue.Config) (*rivertype.JobInsertResult, error)
	// work runs a worker client until ctx ends, then stops it within
	// stopTimeout.
	work  func(ctx context.Context, w *queue.Worker, cfg queue.Config, stopTimeout time.Duration, log *slog.Logger) error
	close func()
}

// open opens the --database for migrate (create set: a SQLite file is
// created if missing), or for worker and enqueue, which refuse a database
// that does not exist or lacks River's migrations, naming the command that
// creates them, instead of leaving an empty file or failing later.
func (in *invocation) open(ctx context.Context, create bool) (*store, error) {
	st, err := in.openStore(ctx, create)
	if err != nil || create {
		return st, err
	}
	if err := st.requireMigrated(ctx); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

func (in *invocation) openStore(ctx context.Context, create bool) (*store, error) {
	db := in.database
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return openPostgres(ctx, db)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(db, "sqlite://"), "file:")
	if !create && !strings.Contains(path, "?") {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the database %s does not exist; create it first with: smscourier-queue migrate --database %s", path, shellQuote(path))
		}
	}
	return openSQLite(ctx, path)
}

func openSQLite(ctx context.Context, path string) (*store, error) {
	db, err := queue.OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	newClient := func(w *queue.Worker, cfg queue.Config) (*river.Client[*sql.Tx], error) {
		return queue.NewSQLiteClient(db, w, cfg)
	}
	return newStore(path, riversqlite.New(db), newClient, func() { _ = db.Close() }), nil
}

func openPostgres(ctx context.Context, dbURL string) (*store, error) {
	shown := dbURL
	if u, err := url.Parse(dbURL); err == nil {
		shown = u.Redacted()
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", shown, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", shown, err)
	}
	newClient := func(w *queue.Worker, cfg queue.Config) (*river.Client[pgx.Tx], error) {
		return queue.NewPostgresClient(pool, w, cfg)
	}
	return newStore(shown, riverpgxv5.New(pool), newClient, pool.Close), nil
}

// newStore builds the store of one database from its River driver and a
// function making clients on it (an insert-only client when w is nil).
func newStore[TTx any](shown string, driver riverdriver.Driver[TTx], newClient func(*queue.Worker, queue.Config) (*river.Client[TTx], error), closeDB func()) *store {
	return &store{
		shown:     shown,
		migrate:   func(ctx context.Context) error { return queue.Migrate(ctx, driver) },
		unapplied: func(ctx context.Context) ([]int, bool, error) { return unappliedMigrations(ctx, driver) },
		enqueue: func(ctx context.Context, m smscourier.Message, cfg queue.Config) (*rivertype.JobInsertResult, error) {
			client, err := newClient(nil, cfg)
			if err != nil {
				return nil, err
			}
			return queue.Enqueue(ctx, client, m, nil)
		},
		work: func(ctx context.Context, w *queue.Worker, cfg queue.Config, stopTimeout time.Duration, log *slog.Logger) error {
			client, err := newClient(w, cfg)
			if err != nil {
				return err
			}
			return serve(ctx, client, stopTimeout, log)
		},
		close: closeDB,
	}
}

// unappliedMigrations returns the versions of River's migrations (those of
// the River this program is built with) that are not applied in the
// database behind driver, in order, and whether none is applied: then the
// database has no River tables. Versions applied by a newer River are not
// held against it.
func unappliedMigrations[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) ([]int, bool, error) {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, false, err
	}
	// Validate reads the applied versions without requiring River to know
	// them all; ExistingVersions fails on one it does not know.
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	if res.OK {
		return nil, false, nil
	}
	applied, err := m.ExistingVersions(ctx)
	if err != nil {
		return nil, false, err
	}
	var missing []int
	for _, v := range m.AllVersions() {
		if !slices.ContainsFunc(applied, func(a rivermigrate.Migration) bool { return a.Version == v.Version }) {
			missing = append(missing, v.Version)
		}
	}
	return missing, len(applied) == 0, nil
}

// requireMigrated fails, saying what to run, when the database lacks River's
// tables or some of the migrations this program needs. Without the check a
// worker or an insert would fail with the driver's "no such table" or
// "relation does not exist".
func (st *store) requireMigrated(ctx context.Context) error {
	missing, none, err := st.unapplied(ctx)
	if err != nil {
		return fmt.Errorf("checking River's migrations in %s: %w", st.shown, err)
	}
	cure := "smscourier-queue migrate --database " + shellQuote(st.shown)
	switch {
	case none:
		return fmt.Errorf("the database %s has no River tables; create them first with: %s", st.shown, cure)
	case len(missing) > 0:
		return fmt.Errorf("the database %s lacks River migrations %v that this program needs; apply them first with: %s", st.shown, missing, cure)
	}
	return nil
}

// shellQuote returns s quoted for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// riverClient is what serve needs of a *river.Client of either driver.
type riverClient interface {
	Start(context.Context) error
	Stop(context.Context) error
	StopAndCancel(context.Context) error
}

// serve runs client until ctx ends, then stops it: gracefully within
// stopTimeout, then by cancelling the jobs still running.
func serve(ctx context.Context, client riverClient, stopTimeout time.Duration, log *slog.Logger) error {
	// Not ctx: its end must start a graceful stop, not cancel running jobs.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	log.Info("smscourier-queue: worker started")
	<-ctx.Done()
	log.Info("smscourier-queue: stopping: waiting for messages being sent", slog.Duration("stop_timeout", stopTimeout))
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := client.Stop(stopCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("smscourier-queue: stop timed out: cancelling the jobs still running")
		hardCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = client.StopAndCancel(hardCtx)
	}
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("smscourier-queue: worker stopped")
	return nil
}

func runMigrate(ctx context.Context, in *invocation) int {
	st, err := in.open(ctx, true)
	if err != nil {
		return in.fail(err)
	}
	defer st.close()
	if err := st.migrate(ctx); err != nil {
		return in.fail(err)
	}
	fmt.Fprintf(in.stdout, "migrated: %s\n", st.shown)
	return exitOK
}

func runWorker(ctx context.Context, in *invocation) int {
	cfg, err := in.loadConfig()
	if err != nil {
		return in.fail(err)
	}
	log := slog.New(slog.NewTextHandler(in.stderr, nil))
	opts := []smscourier.Option{smscourier.WithoutRetries()}
	if in.idemHeader != "" {
		opts = append(opts, smscourier.WithIdempotencyKeyHeader(in.idemHeader))
	}
	if in.verbose {
		opts = append(opts, smscourier.WithLogger(slog.New(slog.NewTextHandler(in.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	courier, err := smscourier.New(cfg, opts...)
	if err != nil {
		return in.fail(err)
	}
	wcfg := queue.WorkerConfig{Logger: log}
	if in.rate > 0 {
		wcfg.Limiter = rate.NewLimiter(rate.Limit(in.rate), in.burst)
	}
	st, err := in.open(ctx, false)
	if err != nil {
		return in.fail(err)
	}
	defer st.close()
	qcfg := queue.Config{
		MaxWorkers:                  in.maxWorkers,
		CompletedJobRetentionPeriod: in.retention,
		CancelledJobRetentionPeriod: in.retention,
		DiscardedJobRetentionPeriod: in.retention,
		Logger:                      slog.New(slog.NewTextHandler(in.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	log.Info("smscourier-queue: starting worker", slog.String("database", st.shown), slog.Int("max_workers", in.maxWorkers), slog.Float64("rate", in.rate))
	if err := st.work(ctx, queue.NewWorker(courier, wcfg), qcfg, in.stopTimeout, log); err != nil {
		return in.fail(err)
	}
	return exitOK
}

func runEnqueue(ctx context.Context, in *invocation) int {
	cfg, err := in.loadConfig()
	if err != nil {
		return in.fail(err)
	}
	courier, err := smscourier.New(cfg)
	if err != nil {
		return in.fail(err)
	}
	m := smscourier.Message{To: in.to, Body: in.body, From: in.from, IdempotencyKey: in.idempotencyKey}
	if in.notAfter > 0 {
		m.NotAfter = time.Now().Add(in.notAfter)
	}
	// The message must render: a template error found now is better than
	// a cancelled job later. Nothing is sent.
	if _, err := courier.Render(ctx, m); err != nil {
		return in.fail(err)
	}
	st, err := in.open(ctx, false)
	if err != nil {
		return in.fail(err)
	}
	defer st.close()
	res, err := st.enqueue(ctx, m, queue.Config{MaxAttempts: in.maxAttempts})
	if err != nil {
		return in.fail(err)
	}
	what := "queued"
	if res.UniqueSkippedAsDuplicate {
		what = "duplicate"
	}
	fmt.Fprintf(in.stdout, "%s: job %d, idempotency_key %s, state %s\n", what, res.Job.ID, keyOf(res.Job), res.Job.State)
	return exitOK
}

// keyOf returns the idempotency key stored in a SendArgs job.
func keyOf(job *rivertype.JobRow) string {
	var args queue.SendArgs
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil {
		return "?"
	}
	return args.Message.IdempotencyKey
}
