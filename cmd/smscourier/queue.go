package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/guard/pgstore"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"golang.org/x/time/rate"
)

// defaultDatabase is the database used without --database.
const defaultDatabase = "./smscourier-queue.db"

// queueCommands are the commands that work on the queue database.
var queueCommands = []*command{
	{
		name: "migrate",
		summary: `Usage: smscourier migrate [--database URL]

Creates River's tables, or updates them to the version this program needs,
and the tables of the message lifecycle (smscourier_messages,
smscourier_deliveries, smscourier_receipts, smscourier_migrations).
On PostgreSQL it also creates or updates the tables of the guard against
SMS pumping (all named smscourier_guard_...), where the workers count its
limits. Migrations already applied are skipped, so it is safe to run at
every deployment. Run it before the first worker or enqueue.
`,
		flags: func(fs *flag.FlagSet, in *invocation) { in.databaseFlag(fs) },
		run:   runMigrate,
	},
	{
		name:     "worker",
		required: []string{"config"},
		summary: `Usage: smscourier worker --config FILE [--database URL] [--env=false] [flags]

Sends queued messages with the courier settings of the Kratos config FILE
until it receives SIGINT or SIGTERM. It then stops fetching, waits up to
--stop-timeout for the messages being sent, and exits; a second signal
kills it at once (a message whose request was on its way is then never
resent: its outcome is unknown).

Each job attempt is logged to stderr (job id, job_attempt, outcome,
failure class, status, attempts: the HTTP requests it made, idempotency
key, the masked number; never the text). Sent jobs complete; refusals
with Retry-After are snoozed; failures that delivered nothing are
retried with backoff (as many job attempts as enqueue's --max-attempts
allowed, default 6); rejected, cancelled, invalid and expired messages
are cancelled; a send whose outcome is unknown is cancelled unless
--idempotency-key-header names a header the gateway deduplicates on.
The courier makes one HTTP request per job attempt: the queue retries.
It fails at once, naming the migrate command to run, when the database
lacks River's tables or migrations this program needs.

With a guard section (smscourier.guard) every message goes through the
guard: a message its policy blocks is cancelled (the job's reason names
the rule), one a limit blocks is snoozed until the limit allows it, or
cancelled if that is past --not-after. The guard counts its limits in the
queue's database on PostgreSQL, shared by every worker (migrate creates
its tables; the guard then needs its key_secret, or
SMSCOURIER_GUARD_KEY_SECRET), and in the worker's memory with SQLite. It
logs each block (rule, country, masked number) as a warning.

It records each message's lifecycle in the database (smscourier status
shows it) and logs each message's end ("message ended": state, gateway,
masked number, error code, latency). With --receipts-addr it also serves
the delivery receipt endpoints of the providers under smscourier.receipts
(see docs/receipts.md) at PATH/{provider} (PATH default /receipts):
receipts are stored and move each message to delivered, undelivered or
failed. Lifecycles and receipts are kept 72 hours after their last change.
With a routing config whose route sets resend_undelivered, a message a
receipt reports undelivered or failed is sent once more, at the route's
next gateway.
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
			fs.StringVar(&in.receiptsAddr, "receipts-addr", "", "serve the delivery receipt endpoints of the config's smscourier.receipts providers on `ADDR` (host:port, \":8080\")")
		},
		run: runWorker,
	},
	{
		name:     "enqueue",
		required: []string{"config", "to", "body"},
		summary: `Usage: smscourier enqueue --config FILE --to NUMBER --body TEXT [--database URL] [--env=false] [flags]

Checks that the message renders with the courier settings of the Kratos
config FILE (with a routing config: for a gateway of its route; nothing is
sent), then queues it for a worker and prints the
job id and idempotency key. A message whose idempotency key is already
queued, or was sent or dropped within the retention period, is not queued
again: the existing job is printed with "duplicate". It fails, naming the
migrate command to run, when the database lacks River's tables or
migrations this program needs.

With a guard section (smscourier.guard) a message the guard's policy
blocks is not queued: enqueue prints class, rule and country as send does
and exits with status 3. It counts nothing: the limits are counted when
the worker sends (of them, only a segment budget shorter than the message
blocks here). In dry-run mode a block is a warning and the message is
queued.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			in.databaseFlag(fs)
			in.messageFlags(fs)
			fs.DurationVar(&in.notAfter, "not-after", 0, "do not send the message later than this `duration` from now (0: no limit)")
			fs.IntVar(&in.maxAttempts, "max-attempts", queue.DefaultMaxJobAttempts, "at most `N` job attempts to send it, each one HTTP request; snoozes for Retry-After do not count")
		},
		run: runEnqueue,
	},
}

func (in *invocation) databaseFlag(fs *flag.FlagSet) {
	fs.StringVar(&in.database, "database", defaultDatabase, "the database: a SQLite file `URL` (PATH, file:PATH, sqlite://PATH) or postgres://...")
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
	// pool is the PostgreSQL database's pool, for the guard's store; nil
	// for SQLite.
	pool *pgxpool.Pool
	// db is the database for the message lifecycle's Tracker: the SQLite
	// database, or a database/sql view of the PostgreSQL pool.
	db *sql.DB
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
	if isPostgres(db) {
		return openPostgres(ctx, db)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(db, "sqlite://"), "file:")
	if !create && !strings.Contains(path, "?") {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the database %s does not exist; create it first with: smscourier migrate --database %s", path, shellQuote(path))
		}
	}
	return openSQLite(ctx, path)
}

func openSQLite(ctx context.Context, path string) (*store, error) {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	st := newStore(path, riversqlite.New(db), func() { _ = db.Close() })
	st.db = db
	return st, nil
}

// isPostgres reports whether the --database db names a PostgreSQL
// database.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

func openPostgres(ctx context.Context, dbURL string) (*store, error) {
	pool, shown, err := connectPostgres(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	st := newStore(shown, riverpgxv5.New(pool), func() { _ = db.Close(); pool.Close() })
	st.pool, st.db = pool, db
	return st, nil
}

// connectPostgres opens a pool on dbURL and checks that the server
// answers. shown is dbURL without its password.
func connectPostgres(ctx context.Context, dbURL string) (pool *pgxpool.Pool, shown string, err error) {
	shown = dbURL
	if u, err := url.Parse(dbURL); err == nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "[REDACTED]")
		}
		// url escapes the placeholder's brackets; show it as elsewhere.
		shown = strings.ReplaceAll(u.String(), url.QueryEscape("[REDACTED]"), "[REDACTED]")
	}
	pool, err = pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, shown, fmt.Errorf("open %s: %w", shown, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, shown, fmt.Errorf("connect to %s: %w", shown, err)
	}
	return pool, shown, nil
}

// openGuardPool opens send's --database, a PostgreSQL database that
// migrate has given the guard's tables.
func openGuardPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	pool, shown, err := connectPostgres(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	if err := requireGuardTables(ctx, pool, shown); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// requireGuardTables fails, saying what to run, when the PostgreSQL
// database shown, behind pool, lacks the guard's tables.
func requireGuardTables(ctx context.Context, pool *pgxpool.Pool, shown string) error {
	ok, err := guardTablesExist(ctx, pool)
	if err != nil {
		return fmt.Errorf("checking the guard's tables in %s: %w", shown, err)
	}
	if !ok {
		return fmt.Errorf("the database %s has no tables for the guard; create them first with: smscourier migrate --database %s", shown, shellQuote(shown))
	}
	return nil
}

// newStore builds the store of one database from its River driver, on
// which it makes queue clients (an insert-only client when the worker is
// nil).
func newStore[TTx any](shown string, driver riverdriver.Driver[TTx], closeDB func()) *store {
	return &store{
		shown:     shown,
		migrate:   func(ctx context.Context) error { return queue.Migrate(ctx, driver) },
		unapplied: func(ctx context.Context) ([]int, bool, error) { return unappliedMigrations(ctx, driver) },
		enqueue: func(ctx context.Context, m smscourier.Message, cfg queue.Config) (*rivertype.JobInsertResult, error) {
			client, err := queue.NewClient(driver, nil, cfg)
			if err != nil {
				return nil, err
			}
			return queue.Enqueue(ctx, client, m, nil)
		},
		work: func(ctx context.Context, w *queue.Worker, cfg queue.Config, stopTimeout time.Duration, log *slog.Logger) error {
			client, err := queue.NewClient(driver, w, cfg)
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
	cure := "smscourier migrate --database " + shellQuote(st.shown)
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
	log.Info("smscourier: worker started")
	<-ctx.Done()
	log.Info("smscourier: stopping: waiting for messages being sent", slog.Duration("stop_timeout", stopTimeout))
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := client.Stop(stopCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("smscourier: stop timed out: cancelling the jobs still running")
		hardCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = client.StopAndCancel(hardCtx)
	}
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("smscourier: worker stopped")
	return nil
}

func runMigrate(in *invocation) int {
	ctx := in.ctx
	st, err := in.open(ctx, true)
	if err != nil {
		return in.fail(err)
	}
	defer st.close()
	if err := st.migrate(ctx); err != nil {
		return in.fail(err)
	}
	tr, err := queue.NewTracker(st.db, queue.TrackerConfig{})
	if err != nil {
		return in.fail(err)
	}
	if err := tr.Migrate(ctx); err != nil {
		return in.fail(err)
	}
	if st.pool != nil {
		if err := pgstore.Migrate(ctx, st.pool); err != nil {
			return in.fail(err)
		}
	}
	fmt.Fprintf(in.stdout, "migrated: %s\n", st.shown)
	return exitOK
}

func runWorker(in *invocation) int {
	ctx := in.ctx
	l, err := in.load()
	if err != nil {
		return in.fail(err)
	}
	log := slog.New(slog.NewTextHandler(in.stderr, nil))
	opts := []smscourier.Option{smscourier.WithoutRetries()}
	if in.idemHeader != "" {
		opts = append(opts, smscourier.WithIdempotencyKeyHeader(in.idemHeader))
	}
	sender, err := in.newSender(l, opts...)
	if err != nil {
		return in.fail(err)
	}
	st, err := in.open(ctx, false)
	if err != nil {
		return in.fail(err)
	}
	defer st.close()
	guardStore := "none"
	if l.guard != nil {
		gopts := []guard.Option{guard.WithLogger(log)}
		guardStore = "memory"
		if st.pool != nil {
			if err := requireGuardTables(ctx, st.pool, st.shown); err != nil {
				return in.fail(err)
			}
			gopts = append(gopts, guard.WithStore(pgstore.New(st.pool)))
			guardStore = "postgres"
		}
		g, err := newGuard(sender, l, gopts...)
		if err != nil {
			return in.fail(err)
		}
		sender = g
	}
	// A route with resend_undelivered: a message a receipt reports
	// undelivered is sent once more at the route's next gateway.
	var res *queue.Resender
	onFinal := logFinal(log)
	if l.routing != nil && resends(*l.routing) {
		res = queue.NewResender(log)
		logged := onFinal
		onFinal = func(ctx context.Context, r queue.DeliveryReport) {
			logged(ctx, r)
			res.OnFinal(ctx, r)
		}
	}
	tr, err := st.tracker(ctx, queue.TrackerConfig{OnFinal: onFinal})
	if err != nil {
		return in.fail(err)
	}
	if in.receiptsAddr != "" {
		rcfg, err := in.loadReceipts()
		if err != nil {
			return in.fail(err)
		}
		rs, err := serveReceipts(in.receiptsAddr, rcfg, tr, log)
		if err != nil {
			return in.fail(err)
		}
		defer func() {
			if err := rs.stop(); err != nil {
				log.Warn("smscourier: stopping the receipts server", slog.String("error", err.Error()))
			}
		}()
	}
	wcfg := queue.WorkerConfig{Logger: log, Tracker: tr, Resender: res}
	if in.rate > 0 {
		wcfg.Limiter = rate.NewLimiter(rate.Limit(in.rate), in.burst)
	}
	worker := queue.NewWorker(sender, wcfg)
	qcfg := queue.Config{
		MaxWorkers:                  in.maxWorkers,
		CompletedJobRetentionPeriod: in.retention,
		CancelledJobRetentionPeriod: in.retention,
		DiscardedJobRetentionPeriod: in.retention,
		Logger:                      slog.New(slog.NewTextHandler(in.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	log.Info("smscourier: starting worker", slog.String("database", st.shown), slog.Int("max_workers", in.maxWorkers), slog.Float64("rate", in.rate),
		slog.String("guard", guardStore), slog.Bool("resend_undelivered", res != nil))
	if err := st.work(ctx, worker, qcfg, in.stopTimeout, log); err != nil {
		return in.fail(err)
	}
	return exitOK
}

func runEnqueue(in *invocation) int {
	ctx := in.ctx
	l, err := in.load()
	if err != nil {
		return in.fail(err)
	}
	sender, err := in.newSender(l)
	if err != nil {
		return in.fail(err)
	}
	m := in.message()
	if in.notAfter > 0 {
		m.NotAfter = time.Now().Add(in.notAfter)
	}
	// A message the guard's policy blocks would be cancelled by the
	// worker: refuse it now.
	if l.guard != nil {
		if code := in.refuseBlocked(ctx, sender, l, m); code != exitOK {
			return code
		}
	}
	// The message must render (for a gateway of its route): a template
	// error found now is better than a cancelled job later. Nothing is
	// sent.
	if err := checkRenders(ctx, sender, m); err != nil {
		return in.fail(err)
	}
	st, err := in.open(ctx, false)
	if err != nil {
		return in.fail(err)
	}
	defer st.close()
	res, err := st.enqueue(ctx, m, queue.Config{MaxJobAttempts: in.maxAttempts})
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
