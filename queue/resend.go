package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/riverqueue/river"
	"github.com/smscourier/smscourier"
)

// Resender sends once more a message that a delivery receipt reported
// undelivered or failed, at the next gateway of its route, when its route
// asks for it (smscourier.Route.ResendUndelivered, key
// resend_undelivered): the receipt says the first send did not reach the
// phone, so the second cannot deliver it twice. The resend is a job of its
// own (SendArgs.Resend) under the message's idempotency key, linked to the
// first send's job (Output.ResendOf), sent at that gateway alone.
//
// Wire it in three places: its OnFinal in TrackerConfig.OnFinal (it acts
// on the reports of final receipts), itself in WorkerConfig.Resender
// (NewWorker gives it the worker's Tracker and Router), and NewClient
// (which gives it the client to queue the resends with). Until NewClient
// has run, OnFinal does nothing.
//
// A message is resent at most once: the first report that resends it marks
// its lifecycle resent (the mark lasts as long as the lifecycle), and the
// resend job is unique by the key while the jobs are kept. The mark comes
// first: a process that stops between the mark and the resend's insert,
// or an insert that fails (logged), leaves the message not resent, never
// resent twice. It is
// not resent when its route does not ask for it, when the gateway that
// took it is the route's last, or when its job was deleted already (the
// text is only in the job: keep jobs at least as long as receipts take to
// arrive, see Config's retention periods). The resend starts the
// message's lifecycle again at sending (Tracker.Lookup shows it); the
// first send's receipts stay under its message id. OnFinal runs where the
// Tracker reports, at most once per message (see TrackerConfig.OnFinal).
type Resender struct {
	logger  *slog.Logger
	router  atomic.Pointer[smscourier.Router]
	tracker atomic.Pointer[Tracker]
	insert  atomic.Pointer[func(context.Context, SendArgs) (bool, error)]
}

// NewResender returns a Resender that logs, when logger is not nil, each
// resend it queues or cannot queue.
func NewResender(logger *slog.Logger) *Resender {
	return &Resender{logger: logger}
}

// bindClient makes r queue its resends with client.
func bindClient[TTx any](r *Resender, client *river.Client[TTx]) {
	insert := func(ctx context.Context, args SendArgs) (bool, error) {
		res, err := client.Insert(ctx, args, nil)
		if err != nil {
			return false, err
		}
		return !res.UniqueSkippedAsDuplicate, nil
	}
	r.insert.Store(&insert)
}

// OnFinal queues the resend of the message of report when a receipt made
// it undelivered or failed and its route asks for a resend; see
// Resender. It is a TrackerConfig.OnFinal.
func (r *Resender) OnFinal(ctx context.Context, report DeliveryReport) {
	if report.Provider == "" || (report.State != StateUndelivered && report.State != StateFailed) {
		return // not a receipt's report, or delivered
	}
	router, tracker, insert := r.router.Load(), r.tracker.Load(), r.insert.Load()
	if router == nil || tracker == nil || insert == nil {
		return
	}
	first, err := tracker.sendArgs(ctx, report.IdempotencyKey)
	if err != nil {
		r.log(ctx, slog.LevelWarn, "smscourier/queue: not resent: the message's job cannot be read", report, "", err)
		return
	}
	next := router.ResendGateway(first.args.Message.To, report.Gateway)
	if next == "" {
		return // the route does not resend, or the gateway was its last
	}
	// Once per message: the first report to claim the message resends it;
	// a report about the resend, or another of the first send, finds it
	// claimed, whether or not the resend's job is still kept.
	claimed, err := tracker.claimResend(ctx, report.IdempotencyKey)
	if err != nil || !claimed {
		if err != nil {
			r.log(ctx, slog.LevelError, "smscourier/queue: resend not queued", report, next, err)
		}
		return
	}
	queued, err := (*insert)(ctx, SendArgs{Message: first.args.Message, Resend: &Resend{Of: first.id, After: report.Gateway, Gateway: next}})
	switch {
	case err != nil:
		r.log(ctx, slog.LevelError, "smscourier/queue: resend not queued", report, next, err)
	case queued:
		r.log(ctx, slog.LevelInfo, "smscourier/queue: resend queued", report, next, nil)
	}
}

func (r *Resender) log(ctx context.Context, level slog.Level, msg string, report DeliveryReport, next string, err error) {
	if r.logger == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("idempotency_key", report.IdempotencyKey),
		slog.String("state", string(report.State)),
		slog.String("error_code", report.ErrorCode),
		slog.String("after", report.Gateway),
		slog.String("to", report.To),
	}
	if next != "" {
		attrs = append(attrs, slog.String("gateway", next))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	r.logger.LogAttrs(ctx, level, msg, attrs...)
}

// firstJob is the job that sent a message first.
type firstJob struct {
	id   int64
	args SendArgs
}

// errJobGone is sendArgs's error for a message whose job was deleted.
var errJobGone = errors.New("its job was deleted (past the queue's retention period)")

// sendArgs reads the first send's job of the message with idempotency key
// key from River's table.
func (t *Tracker) sendArgs(ctx context.Context, key string) (firstJob, error) {
	columns := "args::text"
	if t.dialect == DialectSQLite {
		columns = "json(args)" // stored as JSONB
	}
	var (
		job  firstJob
		args []byte
	)
	err := t.db.QueryRowContext(ctx, `SELECT id, `+columns+` FROM river_job WHERE unique_key = $1 AND kind = $2`,
		uniqueKey(key), Kind).Scan(&job.id, &args)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return firstJob{}, errJobGone
	case err != nil:
		return firstJob{}, err
	}
	if err := json.Unmarshal(args, &job.args); err != nil {
		return firstJob{}, fmt.Errorf("decode job args: %w", err)
	}
	return job, nil
}

// claimResend marks the message with idempotency key key resent, and
// reports whether this call did: only one call does, across processes.
func (t *Tracker) claimResend(ctx context.Context, key string) (bool, error) {
	res, err := t.db.ExecContext(ctx, `UPDATE smscourier_messages SET resent = true WHERE idempotency_key = $1 AND NOT resent`, key)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
