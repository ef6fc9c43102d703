package guard

import (
	"log/slog"
	"time"

	"github.com/smscourier/smscourier"
)

// Option configures a Guard in New. Options are applied in order; a later
// option of the same kind replaces an earlier one.
type Option interface {
	apply(*options)
}

type options struct {
	store    Store
	logger   *slog.Logger
	observer func(smscourier.Event)
	now      func() time.Time
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithStore makes the Guard keep its limits in s: a shared Store (package
// pgstore) makes them fleet-wide. Without it, or with a nil s, the Guard
// uses a MemoryStore of its own.
func WithStore(s Store) Option {
	return optionFunc(func(o *options) { o.store = s })
}

// WithLogger makes the Guard log each message it blocks, at warn level, as
// "smscourier: blocked" ("smscourier: would block (dry run); sent" in
// dry-run mode) with the rule, the country, the recipient masked as
// smscourier.MaskNumber masks it, the idempotency key and the retry_after;
// and each Store failure it fails open on. Never the message text or the
// requester. Without it, or with a nil l, nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithObserver calls fn, on the sending goroutine, with the Event of each
// message the Guard blocks (or, in dry-run mode, would block): Class
// smscourier.ClassBlocked, Attempt 0, Final, Rule, Country, the masked
// To, IdempotencyKey, RetryAfter for a limit, and DryRun. fn must be fast
// and safe for concurrent use.
func WithObserver(fn func(smscourier.Event)) Option {
	return optionFunc(func(o *options) { o.observer = fn })
}

// WithClock makes the Guard read the time from now instead of time.Now:
// for tests and simulations that move time by hand. A nil now is
// time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) {
		o.now = now
		if now == nil {
			o.now = time.Now
		}
	})
}
