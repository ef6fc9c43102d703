package queue

import (
	"cmp"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// Defaults of Config. DefaultMaxJobAttempts counts River job attempts,
// each one send; smscourier.DefaultMaxAttempts counts the HTTP requests of
// one send.
const (
	DefaultMaxWorkers                = 100
	DefaultFetchCooldown             = 20 * time.Millisecond
	DefaultFetchPollIntervalSQLite   = 50 * time.Millisecond
	DefaultFetchPollIntervalPostgres = time.Second
	DefaultJobTimeout                = time.Minute
	DefaultRescueStuckJobsAfter      = 5 * time.Minute
	DefaultRetentionPeriod           = time.Hour
	DefaultMaxJobAttempts            = 6
)

// Config holds the settings of a River client that sends SMS. The zero value
// takes every default. Counts and durations must not be negative, except
// JobTimeout (-1: no bound) and the retention periods (negative: jobs are
// kept forever).
type Config struct {
	// MaxWorkers is how many jobs of QueueName the client works at once.
	// Default DefaultMaxWorkers (100). With a rate limit, more workers than
	// the rate times JobTimeout only wait.
	MaxWorkers int
	// FetchCooldown is the least time between two fetches of jobs: at most
	// MaxWorkers jobs start per FetchCooldown. Default DefaultFetchCooldown
	// (20 ms; River's own default is 100 ms).
	FetchCooldown time.Duration
	// FetchPollInterval is the longest time between two fetches when no new
	// job was announced. PostgreSQL announces new jobs (LISTEN/NOTIFY), so
	// polling is a fallback there; SQLite has no such thing, so this bounds
	// how late a new job starts. Default DefaultFetchPollIntervalSQLite
	// (50 ms) from NewClient with a SQLite driver (transactions *sql.Tx),
	// DefaultFetchPollIntervalPostgres (1 s) otherwise.
	FetchPollInterval time.Duration
	// JobTimeout bounds one job attempt: the send's context ends after it.
	// Default DefaultJobTimeout (1 min); -1 means no bound.
	JobTimeout time.Duration
	// RescueStuckJobsAfter is how long a job may stay running before River
	// takes it for stuck (its process died) and schedules it again. The
	// next attempt finds no recorded outcome and treats the send as outcome
	// unknown (see Worker). Must exceed JobTimeout. Default
	// DefaultRescueStuckJobsAfter (5 min), or JobTimeout plus a minute when
	// that is longer.
	RescueStuckJobsAfter time.Duration
	// CompletedJobRetentionPeriod is how long a sent message's job row, with
	// the message text and number in its args, is kept before River deletes
	// it. It is also how long its idempotency key keeps a second enqueue of
	// the same key out. Default DefaultRetentionPeriod (1 h); negative: kept
	// forever.
	CompletedJobRetentionPeriod time.Duration
	// CancelledJobRetentionPeriod is the same for cancelled jobs (rejected,
	// expired, may have been delivered). Default DefaultRetentionPeriod
	// (1 h); negative: kept forever.
	CancelledJobRetentionPeriod time.Duration
	// DiscardedJobRetentionPeriod is the same for jobs that used up their
	// attempts. Default DefaultRetentionPeriod (1 h); negative: kept
	// forever.
	DiscardedJobRetentionPeriod time.Duration
	// MaxJobAttempts is the most attempts (the first included) of a job
	// inserted through this client, River's MaxAttempts; snoozes do not
	// count. Each job attempt is one send, with as many HTTP requests as the
	// courier's RetryPolicy allows (one with smscourier.WithoutRetries). It
	// is fixed when the job is inserted, so it is the inserting client's
	// setting that counts. Default DefaultMaxJobAttempts (6: Kratos'
	// message_retries of 5, plus the first).
	MaxJobAttempts int
	// Logger receives River's own logs. Default nil: River's default, warnings
	// and errors to standard output.
	Logger *slog.Logger

	// testOnly sets river.Config.TestOnly: maintenance services start
	// without their random delay.
	testOnly bool
}

// errNegative is returned for a negative duration or count.
var errNegative = errors.New("smscourier/queue: Config: MaxWorkers, MaxJobAttempts, FetchCooldown, FetchPollInterval and RescueStuckJobsAfter must not be negative, JobTimeout not below -1")

// RiverConfig returns the river.Config that NewClient uses with a
// PostgreSQL driver (and with any driver once FetchPollInterval is set):
// cfg's settings with their defaults, QueueName worked by MaxWorkers
// workers, and w registered; when w has a Tracker, also a periodic job
// that prunes it (see TrackerConfig.PruneInterval). With a
// nil w the config is for an insert-only client: no queues, no workers. Add
// your own workers and queues to it to share one client. It fails when a
// setting is negative.
func (cfg Config) RiverConfig(w *Worker) (*river.Config, error) {
	if cfg.MaxWorkers < 0 || cfg.MaxJobAttempts < 0 || cfg.FetchCooldown < 0 || cfg.FetchPollInterval < 0 ||
		cfg.JobTimeout < -1 || cfg.RescueStuckJobsAfter < 0 {
		return nil, errNegative
	}
	orDefault := func(v, def time.Duration) time.Duration {
		switch {
		case v < 0:
			return -1 // River: never delete
		case v == 0:
			return def
		}
		return v
	}
	rc := &river.Config{
		FetchCooldown:               orDefault(cfg.FetchCooldown, DefaultFetchCooldown),
		FetchPollInterval:           orDefault(cfg.FetchPollInterval, DefaultFetchPollIntervalPostgres),
		JobTimeout:                  cmp.Or(cfg.JobTimeout, DefaultJobTimeout),
		RescueStuckJobsAfter:        cfg.RescueStuckJobsAfter,
		CompletedJobRetentionPeriod: orDefault(cfg.CompletedJobRetentionPeriod, DefaultRetentionPeriod),
		CancelledJobRetentionPeriod: orDefault(cfg.CancelledJobRetentionPeriod, DefaultRetentionPeriod),
		DiscardedJobRetentionPeriod: orDefault(cfg.DiscardedJobRetentionPeriod, DefaultRetentionPeriod),
		MaxAttempts:                 cfg.MaxJobAttempts,
		Logger:                      cfg.Logger,
		TestOnly:                    cfg.testOnly,
	}
	if rc.RescueStuckJobsAfter == 0 {
		rc.RescueStuckJobsAfter = max(DefaultRescueStuckJobsAfter, rc.JobTimeout+time.Minute)
	}
	if rc.MaxAttempts == 0 {
		rc.MaxAttempts = DefaultMaxJobAttempts
	}
	if rc.FetchPollInterval < rc.FetchCooldown {
		rc.FetchPollInterval = rc.FetchCooldown
	}
	if w != nil {
		maxWorkers := cfg.MaxWorkers
		if maxWorkers == 0 {
			maxWorkers = DefaultMaxWorkers
		}
		rc.Workers = river.NewWorkers()
		if err := river.AddWorkerSafely(rc.Workers, w); err != nil {
			return nil, err
		}
		if err := addTrackerPrune(rc, w.tracker); err != nil {
			return nil, err
		}
		rc.Queues = map[string]river.QueueConfig{QueueName: {MaxWorkers: maxWorkers}}
	}
	return rc, nil
}
