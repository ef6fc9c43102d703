package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/smscourier/smscourier/receipt"
)

// State is a message's place in its lifecycle, as a Tracker records it:
// queued, sending, sent (the gateway accepted it), then one of the final
// states.
type State string

// The states, in the order a message passes through them. Delivered,
// Undelivered, Failed and MaybeDelivered are final.
const (
	// StateQueued: the job waits for a worker.
	StateQueued State = "queued"
	// StateSending: a worker took the job; it stays sending through
	// retries and snoozes until the gateway accepts the message or the job
	// ends.
	StateSending State = "sending"
	// StateSent: the gateway accepted the message (Output.Outcome
	// OutcomeSent); its receipts are awaited.
	StateSent State = "sent"
	// StateDelivered: a receipt says the message reached the handset.
	// Final.
	StateDelivered State = "delivered"
	// StateUndelivered: a receipt says the carrier could not deliver it.
	// Final.
	StateUndelivered State = "undelivered"
	// StateFailed: a receipt says the provider could not send it, or the
	// worker gave up without sending (the job was cancelled or discarded;
	// Lifecycle.Reason says why). Final.
	StateFailed State = "failed"
	// StateMaybeDelivered: the worker gave up after a send whose outcome
	// was unknown (OutcomeMaybeDelivered, or a job discarded after such a
	// send): the message may have been delivered, and no receipt can say,
	// as no message id is known. Final.
	StateMaybeDelivered State = "may_have_been_delivered"
)

// Final reports whether s ends a message's lifecycle: delivered,
// undelivered, failed or may have been delivered.
func (s State) Final() bool {
	switch s {
	case StateDelivered, StateUndelivered, StateFailed, StateMaybeDelivered:
		return true
	}
	return false
}

// Dialect names the SQL database behind a Tracker.
type Dialect string

// The dialects a Tracker speaks.
const (
	// DialectPostgres: PostgreSQL, through a database/sql driver such as
	// pgx's (stdlib.OpenDBFromPool(pool) shares the pool River uses).
	DialectPostgres Dialect = "postgres"
	// DialectSQLite: SQLite, on the *sql.DB that sqlitedb.Open returns.
	DialectSQLite Dialect = "sqlite"
)

// Defaults of TrackerConfig.
const (
	// DefaultTrackerRetention is how long a Tracker keeps a message's
	// lifecycle and its receipts after their last change: 72 hours, longer
	// than the queue's jobs (DefaultRetentionPeriod), because providers
	// report a message they could not deliver only when its validity
	// period ends, up to 72 hours after the send.
	DefaultTrackerRetention = 72 * time.Hour
	// DefaultTrackerPruneInterval is how often a worker client prunes.
	DefaultTrackerPruneInterval = 10 * time.Minute
)

// TrackerConfig configures a Tracker. The zero value takes every default.
type TrackerConfig struct {
	// Dialect is the database's SQL dialect. Default: found from the
	// database/sql driver (pgx and lib/pq are PostgreSQL, a driver whose
	// package path holds "sqlite" is SQLite); NewTracker fails for any
	// other driver unless it is set.
	Dialect Dialect
	// Retention is how long a message's lifecycle and its receipts are
	// kept after their last change: Prune deletes older ones, and a worker
	// client with the Tracker (NewClient) prunes every PruneInterval.
	// Default DefaultTrackerRetention (72 h); negative: kept forever.
	Retention time.Duration
	// PruneInterval is how often a worker client with the Tracker prunes,
	// as a River periodic job run by the leader alone, at its start and
	// then every interval. Default DefaultTrackerPruneInterval (10 min).
	PruneInterval time.Duration
	// OnFinal, when not nil, is called once for each message that
	// reaches a final state, with its DeliveryReport: by a receipt
	// (Receive, or a worker recording the send of a message whose final
	// receipt arrived first), or by a worker that gave up without sending.
	// It is called after the change is committed, in the goroutine that
	// made it (the receipt callback's, the job's), so it must be quick:
	// hand the report to a channel or a queue of your own for slow work.
	// Only the transaction that made the change reports it, so a message
	// is reported at most once across every process sharing the database;
	// a process that stops between the commit and the call does not
	// report it (at most once: after a crash, read the lifecycle with
	// Lookup). The report suits metrics too: Gateway, CountryPrefix and
	// State are bounded labels, Latency a duration to observe.
	OnFinal func(ctx context.Context, r DeliveryReport)

	// now is the clock; time.Now when nil.
	now func() time.Time
}

// DeliveryReport is what OnFinal receives when a message reaches a final
// state. It holds no message text and only a masked recipient.
type DeliveryReport struct {
	// IdempotencyKey is the message's idempotency key.
	IdempotencyKey string
	// State is the final state.
	State State
	// Gateway is the gateway that accepted the message (Output.Gateway);
	// for a message not sent, the last one tried, or "".
	Gateway string
	// CountryPrefix is the recipient's country calling code, with its
	// '+' ("+44"); "" when the recipient is not in E.164 form.
	CountryPrefix string
	// To is the recipient with all but its last digits masked.
	To string
	// MessageID is the gateway's id for the message; "" when not sent.
	MessageID string
	// Provider is the provider of the final receipt (receipt.Receipt's
	// Provider); "" when the worker ended the message.
	Provider string
	// ErrorCode is the final receipt's error code; "" for none.
	ErrorCode string
	// Reason is why the worker did not send the message (Output.Reason);
	// "" for a final state set by a receipt.
	Reason string
	// QueuedAt is when the job was inserted.
	QueuedAt time.Time
	// SentAt is when the gateway accepted the message; zero when it did
	// not.
	SentAt time.Time
	// FinalAt is when the final state was reached: the receipt's Time, or
	// when the worker gave up.
	FinalAt time.Time
	// Latency is the time from the gateway's acceptance to the final
	// receipt's arrival, both read on this side's clocks (a provider's own
	// timestamps may be skewed or coarse): the send-to-delivered latency
	// for a delivered message. Zero when not sent, and when the receipt
	// arrived before the send was recorded.
	Latency time.Duration
}

// Delivery returns the report as package receipt's Delivery, for
// delivery metrics (smsmetrics.NewDeliveryObserver): the gateway, the
// calling code, the final status and the latency; ok is false for a
// message whose end no receipt reported (not sent, may have been
// delivered).
func (r DeliveryReport) Delivery() (d receipt.Delivery, ok bool) {
	st, ok := receiptStatus(r.State)
	if !ok || r.Provider == "" {
		return receipt.Delivery{}, false
	}
	return receipt.Delivery{Gateway: r.Gateway, CallingCode: r.CountryPrefix, Status: st, Latency: r.Latency}, true
}

// receiptStatus is the receipt.Status of a final state a receipt sets.
func receiptStatus(s State) (receipt.Status, bool) {
	switch s {
	case StateDelivered:
		return receipt.StatusDelivered, true
	case StateUndelivered:
		return receipt.StatusUndelivered, true
	case StateFailed:
		return receipt.StatusFailed, true
	}
	return "", false
}

// ErrNotFound is returned by Lookup and LookupMessageID for a message
// the Tracker and the queue do not know (never queued, or pruned).
var ErrNotFound = errors.New("smscourier/queue: no such message")

// Tracker records each queued message's lifecycle in the queue's
// database: queued, sending, sent (with gateway, message id and time),
// then delivered, undelivered or failed as its delivery receipts say.
// It is the receipt.Sink of package receipt's Handler, and a Worker
// records sends in it when WorkerConfig.Tracker names it.
//
// Receipts are linked to messages by the provider's message id (the
// response template's message_id, Result.MessageID), which is taken to be
// unique across the gateways that share a database. A receipt already
// stored (the same provider, message id, status, provider status and
// error code) is a no-op, so a provider's resent callback changes
// nothing. A receipt for a message id not yet recorded as sent is kept,
// and applied when the worker records the send. Only a final receipt
// (delivered, undelivered, failed) changes the state, and only the first
// one to arrive: a "sent" or "accepted" after "delivered" moves nothing,
// and neither does an unknown status; every receipt is listed in the
// message's Lifecycle.
//
// Its tables (see Migrate) hold masked recipients and the receipts' raw
// payloads, which may hold the recipient's number: Retention bounds them.
// A Tracker is safe for concurrent use by multiple goroutines and by
// several processes sharing the database.
type Tracker struct {
	db            *sql.DB
	dialect       Dialect
	retention     time.Duration // < 0: forever
	pruneInterval time.Duration
	onFinal       func(context.Context, DeliveryReport)
	now           func() time.Time
}

// NewTracker returns a Tracker over db, the queue's database: for
// PostgreSQL a database/sql view of River's pool (pgx's
// stdlib.OpenDBFromPool(pool)), for SQLite the *sql.DB River uses.
// Create its tables with Migrate first. It fails when the dialect is
// neither given nor recognised, or a setting is invalid.
func NewTracker(db *sql.DB, cfg TrackerConfig) (*Tracker, error) {
	if db == nil {
		return nil, errors.New("smscourier/queue: NewTracker: nil database")
	}
	d := cfg.Dialect
	if d == "" {
		d = detectDialect(db)
	}
	switch d {
	case DialectPostgres, DialectSQLite:
	case "":
		return nil, fmt.Errorf("smscourier/queue: NewTracker: set TrackerConfig.Dialect: the driver %T is neither a known PostgreSQL nor a SQLite driver", db.Driver())
	default:
		return nil, fmt.Errorf("smscourier/queue: NewTracker: unknown dialect %q", d)
	}
	if cfg.PruneInterval < 0 {
		return nil, errors.New("smscourier/queue: NewTracker: PruneInterval must not be negative")
	}
	t := &Tracker{
		db:            db,
		dialect:       d,
		retention:     cfg.Retention,
		pruneInterval: cfg.PruneInterval,
		onFinal:       cfg.OnFinal,
		now:           cfg.now,
	}
	switch {
	case t.retention == 0:
		t.retention = DefaultTrackerRetention
	case t.retention < 0:
		t.retention = -1
	}
	if t.pruneInterval == 0 {
		t.pruneInterval = DefaultTrackerPruneInterval
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

// detectDialect returns the dialect of db's driver by its package path, or
// "".
func detectDialect(db *sql.DB) Dialect {
	typ := reflect.TypeOf(db.Driver())
	for typ != nil && typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == nil {
		return ""
	}
	path := typ.PkgPath()
	switch {
	case strings.Contains(path, "sqlite"):
		return DialectSQLite
	case strings.HasPrefix(path, "github.com/jackc/pgx"), strings.HasPrefix(path, "github.com/lib/pq"):
		return DialectPostgres
	}
	return ""
}

// Dialect returns the SQL dialect the Tracker speaks.
func (t *Tracker) Dialect() Dialect { return t.dialect }

// report calls OnFinal with each report, in order.
func (t *Tracker) report(ctx context.Context, reports []DeliveryReport) {
	if t.onFinal == nil {
		return
	}
	for _, r := range reports {
		t.onFinal(ctx, r)
	}
}

// finalState maps a final receipt status onto its State; ok is false for
// the others.
func finalState(s receipt.Status) (State, bool) {
	if !s.Final() {
		return "", false
	}
	return State(s), true
}

// dbTime is a time as a column of the dialect holds it: a time.Time for
// PostgreSQL's timestamptz, microseconds since the Unix epoch for SQLite's
// integer columns. Times are kept to the microsecond, in UTC.
func (t *Tracker) dbTime(tm time.Time) any {
	tm = tm.UTC().Truncate(time.Microsecond)
	if t.dialect == DialectSQLite {
		return tm.UnixMicro()
	}
	return tm
}

// nullTime scans a time column of either dialect: NULL, a time.Time, or
// microseconds since the Unix epoch.
type nullTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (n *nullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*n = nullTime{}
	case time.Time:
		*n = nullTime{Time: v.UTC(), Valid: true}
	case int64:
		*n = nullTime{Time: time.UnixMicro(v).UTC(), Valid: true}
	case string:
		tm, err := parseDBTime(v)
		if err != nil {
			return err
		}
		*n = nullTime{Time: tm, Valid: true}
	case []byte:
		return n.Scan(string(v))
	default:
		return fmt.Errorf("smscourier/queue: scan time: unsupported %T", v)
	}
	return nil
}

// parseDBTime reads a time stored as text (River's SQLite timestamps).
func parseDBTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("smscourier/queue: scan time: unreadable %q", s)
}
