package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/smscourier/smscourier"
)

// DefaultMaxSnoozes is WorkerConfig.MaxSnoozes when it is zero.
const DefaultMaxSnoozes = 20

// limiterSnooze is how long a job waits when the rate limiter could not
// grant a token before the job's deadline.
const limiterSnooze = time.Second

// Limiter paces sends. *rate.Limiter from golang.org/x/time/rate implements
// it: Wait blocks until a send may go, or returns an error at once when ctx
// ends first or would end first.
type Limiter interface {
	Wait(ctx context.Context) error
}

// WorkerConfig configures a Worker. The zero value is ready to use: no rate
// limit, no logging.
type WorkerConfig struct {
	// Limiter, when not nil, is waited on with the job's context before
	// each send, so that this process sends at most at its rate (a
	// *rate.Limiter: rate.NewLimiter(50, 10) allows 50 sends a second with
	// bursts of 10). One limiter may be shared by several workers. When the
	// wait would outlast the job's timeout, the job is snoozed for a second
	// instead, without using up an attempt. Default nil: no limit.
	Limiter Limiter
	// MaxSnoozes bounds how often a job is snoozed (River counts every
	// snooze in the job's metadata, the rate limiter's too): past it, a
	// gateway's Retry-After is treated like a refusal without one, retried
	// with River's backoff and using up attempts, so that a gateway that
	// always says "later" cannot keep a job forever. Default
	// DefaultMaxSnoozes (20); negative means no bound.
	MaxSnoozes int
	// Logger receives one record per job attempt: the outcome, failure
	// class, status, HTTP requests ("attempts", as the courier's records
	// count them), the gateway (Output.Gateway; "" when no request was
	// made), job id and job attempt ("job_attempt"), idempotency key and
	// the masked recipient, never the text; and, at error level, each
	// write to the Tracker that failed. Default nil: no logging.
	Logger *slog.Logger
	// Tracker, when not nil, records each message's lifecycle: sending
	// when a job attempt starts (queued at the job's CreatedAt), sent with
	// the gateway, message id and time when the gateway accepts it (the
	// final receipt that arrived before is applied then), failed (or
	// may_have_been_delivered) with the Output's reason when the job is
	// cancelled or discarded. Its writes never change a job's fate: a
	// write that fails is logged (Logger) and the job goes on as without a
	// Tracker. NewClient prunes the Tracker periodically. Default nil:
	// nothing recorded.
	Tracker *Tracker
	// Resender, when not nil, resends once, at the next gateway of its
	// route, a message a receipt reported undelivered, when its route asks
	// for it (see Resender): NewWorker gives it the Tracker and the Router
	// (the Sender, or the one it wraps), NewClient the client. Its OnFinal
	// must be in the Tracker's TrackerConfig.OnFinal. Default nil: no
	// resends.
	Resender *Resender
}

// Worker is the River worker for SendArgs jobs: it sends each message with
// a smscourier.Sender (a *smscourier.Courier, or a *smscourier.Router that
// fails over between gateways) and maps the result to the job's fate.
//
//	| send result                                  | job                                        |
//	|----------------------------------------------|--------------------------------------------|
//	| success (2xx)                                | completed; status and message id recorded  |
//	| refused (429, 503) with Retry-After > 0      | snoozed for that long                      |
//	| not sent; refused without Retry-After        | retried with River's backoff               |
//	| outcome unknown, idempotency key header      | retried, same idempotency key              |
//	| outcome unknown, no idempotency key header   | cancelled: may have been delivered         |
//	| rejected, ErrCancel, invalid, template error,| cancelled, reason recorded                 |
//	| disabled, egress denied                      |                                            |
//	| past NotAfter (ErrExpired)                   | cancelled, nothing sent                    |
//	| blocked by a guard's rate limit (ErrBlocked, | snoozed until allowed; cancelled if that   |
//	| a *BlockedError with RetryAfter)             | would pass NotAfter                        |
//	| blocked by a guard's policy                  | cancelled, nothing sent                    |
//
// Failures whose outcome is unknown (the request was written but no reply
// said what happened) are retried only when the sender sends an
// idempotency key header (smscourier.WithIdempotencyKeyHeader, reported by
// an IdempotencyKeyHeader method such as Courier.IdempotencyKeyHeader and
// Router.IdempotencyKeyHeader; a Sender without that method is taken to
// send none), as the courier itself does: a gateway that deduplicates on it
// turns a repeat into a no-op. Without the header the job is cancelled and
// recorded as OutcomeMaybeDelivered, so that no SMS is ever delivered
// twice. Under a Router (a Sender with Route and Gateway methods, as
// *smscourier.Router has), only the gateway where the outcome was unknown
// knows the message's key: the job is retried there alone, through
// Router.Gateway and bypassing the route and its circuit breaker, in that
// attempt and every later one (Output.Pinned).
//
// A snooze that would end after the message's NotAfter cancels the job as
// expired at once. An attempt that follows one that ended without recording
// its outcome (the process died or was killed mid-send, and River rescued
// the job) is treated as outcome unknown too; under a Router with the
// header, such an attempt is cancelled as OutcomeMaybeDelivered when the
// message's route has more than one gateway and no earlier attempt pinned
// it, since the message may be out at any of them. Each attempt records an
// Output.
//
// Retries belong to River here: build the courier or the router with
// smscourier.WithoutRetries(), or a short RetryPolicy, so that one job
// attempt is one HTTP request (or a few) and a Retry-After becomes a snooze
// rather than a sleep inside the job. A Router built WithoutRetries walks
// the message's route once per job attempt: it fails over from a gateway
// that certainly did not send to the next at once, within the attempt, and
// the job's fate follows the route's final result (when every gateway left
// asked to wait with Retry-After, the job is snoozed for the shortest
// wait). Output.Gateway and Output.Tried record where the message went.
//
// A Worker is safe for concurrent use by multiple goroutines.
type Worker struct {
	river.WorkerDefaults[SendArgs]

	sender       smscourier.Sender
	retryUnknown bool // the sender sends an idempotency key header
	limiter      Limiter
	maxSnoozes   int // < 0: unbounded
	logger       *slog.Logger
	tracker      *Tracker  // nil: no lifecycle recorded
	resender     *Resender // nil: no resends
}

// idempotencyKeyHeaderer is a Sender that reports the header carrying the
// idempotency key, as *smscourier.Courier and *smscourier.Router do.
type idempotencyKeyHeaderer interface {
	IdempotencyKeyHeader() string
}

// gatewayRouter is a Sender that routes each message over gateways of its
// own, as *smscourier.Router does. A message whose outcome was unknown at
// one of them may be out there, under an idempotency key that only that
// gateway knows: the worker retries it there alone.
type gatewayRouter interface {
	Route(to string) []string
	Gateway(name string) *smscourier.Courier
}

// findRouter returns the gatewayRouter s is or wraps: a Sender that wraps
// another (a guard) has an Unwrap method returning it.
func findRouter(s smscourier.Sender) (gatewayRouter, bool) {
	for range 16 { // wrappers are few; a cycle must not hang the worker
		if rt, ok := s.(gatewayRouter); ok {
			return rt, true
		}
		u, ok := s.(interface{ Unwrap() smscourier.Sender })
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}

// NewWorker returns a Worker that sends with s, configured by cfg. It
// panics when s is nil, a nil interface or a nil pointer (such as a nil
// *smscourier.Courier). Pass it to NewClient, or register it with
// river.AddWorker.
func NewWorker(s smscourier.Sender, cfg WorkerConfig) *Worker {
	if isNil(s) {
		panic("smscourier/queue: NewWorker: nil Sender")
	}
	w := &Worker{
		sender:     s,
		limiter:    cfg.Limiter,
		maxSnoozes: cfg.MaxSnoozes,
		logger:     cfg.Logger,
		tracker:    cfg.Tracker,
		resender:   cfg.Resender,
	}
	if cfg.Resender != nil {
		if rt, ok := findRouter(s); ok {
			if r, ok := rt.(*smscourier.Router); ok {
				cfg.Resender.router.Store(r)
			}
		}
		if cfg.Tracker != nil {
			cfg.Resender.tracker.Store(cfg.Tracker)
		}
	}
	if h, ok := s.(idempotencyKeyHeaderer); ok {
		w.retryUnknown = h.IdempotencyKeyHeader() != ""
	}
	if w.maxSnoozes == 0 {
		w.maxSnoozes = DefaultMaxSnoozes
	}
	return w
}

// isNil reports whether s is a nil interface or holds a nil pointer.
func isNil(s smscourier.Sender) bool {
	if s == nil {
		return true
	}
	v := reflect.ValueOf(s)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// Work sends the job's message once and returns what River should do with
// the job (see Worker). It records an Output for the attempt.
func (w *Worker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	msg := job.Args.Message
	if msg.IdempotencyKey == "" {
		// Inserted without SendArgs' hook (raw SQL): a key stable across
		// the job's attempts.
		msg.IdempotencyKey = "river-job-" + strconv.FormatInt(job.ID, 10)
	}
	out := Output{JobAttempt: job.Attempt, IdempotencyKey: msg.IdempotencyKey, To: smscourier.MaskNumber(msg.To)}
	var tj trackedJob
	if w.tracker != nil {
		tj = trackedJob{key: msg.IdempotencyKey, jobID: job.ID, to: out.To, prefix: smscourier.CallingCode(msg.To), queuedAt: job.CreatedAt}
		w.trackWrite(ctx, job.ID, "sending", func(ctx context.Context) (*DeliveryReport, error) {
			return nil, w.tracker.recordSending(ctx, tj, w.tracker.now())
		})
	}
	err := w.work(ctx, job, msg, &out)
	if w.tracker != nil {
		w.track(ctx, job, tj, &out)
	}
	if rerr := river.RecordOutput(ctx, out); rerr != nil && w.logger != nil {
		w.logger.LogAttrs(ctx, slog.LevelError, "smscourier/queue: record output", slog.Int64("job_id", job.ID), slog.String("error", rerr.Error()))
	}
	w.log(ctx, job.ID, &out, err)
	return err
}

func (w *Worker) work(ctx context.Context, job *river.Job[SendArgs], msg smscourier.Message, out *Output) error {
	rt, routed := findRouter(w.sender)
	if routed && job.Attempt > 1 {
		if prev, ok := OutputOf(job.JobRow); ok {
			out.Pinned = prev.Pinned // every later attempt too, whatever it records
		}
	}
	if rs := job.Args.Resend; rs != nil {
		out.ResendOf = rs.Of
		if !routed {
			out.Outcome, out.Class, out.Reason = OutcomeCancelled, string(smscourier.ClassInvalidMessage), "a resend job needs a Router; not sent"
			return cancel(smscourier.ErrInvalidMessage, errors.New("a resend job needs a Router"))
		}
		if rt.Gateway(rs.Gateway) == nil {
			out.Outcome, out.Class, out.Reason = OutcomeCancelled, string(smscourier.ClassInvalidMessage), "the resend's gateway is not the router's; not sent"
			return cancel(smscourier.ErrInvalidMessage, fmt.Errorf("the resend's gateway %q is not the router's", rs.Gateway))
		}
		out.Pinned = rs.Gateway // at that gateway alone, in every attempt
	}
	if job.Attempt > 1 && !previousAttemptRecorded(job) {
		switch {
		case !w.retryUnknown:
			return maybeDelivered(out, "a previous attempt ended without recording its outcome (the worker stopped mid-send): the message may have been delivered, and is not resent without an idempotency key header")
		case routed && out.Pinned == "" && len(rt.Route(msg.To)) > 1:
			return maybeDelivered(out, "a previous attempt ended without recording its outcome (the worker stopped mid-send), at a gateway of the route not known: the message may have been delivered there, and is not resent, as another gateway would not know its idempotency key")
		}
	}
	sender := w.sender
	if out.Pinned != "" {
		c := rt.Gateway(out.Pinned)
		if c == nil {
			return maybeDelivered(out, "an earlier attempt's outcome was unknown at a gateway the router no longer has: the message may have been delivered there, and is not resent elsewhere")
		}
		sender = c
	}
	if w.limiter != nil {
		if err := w.limiter.Wait(ctx); err != nil {
			out.Class = string(smscourier.ClassNotSent)
			if ctx.Err() != nil {
				out.Outcome, out.Reason = OutcomeRetry, "stopped while waiting for the rate limiter"
				return fmt.Errorf("smscourier/queue: waiting for the rate limiter: %w", ctx.Err())
			}
			out.Outcome, out.Reason = OutcomeSnoozed, "the rate limiter had no token before the job's deadline"
			return river.JobSnooze(limiterSnooze)
		}
	}

	res, err := sender.SendMessage(ctx, msg)
	out.Attempts, out.Class = res.Attempts, string(smscourier.ClassOf(err))
	out.Gateway, out.Tried = res.Gateway, res.Tried
	if out.Pinned != "" && res.Attempts > 0 {
		// Sent through the gateway's Courier: named as the Router names it.
		out.Gateway, out.Tried = out.Pinned, []smscourier.Try{{Gateway: out.Pinned, Class: smscourier.ClassOf(err)}}
	}
	var ge *smscourier.GatewayError
	if errors.As(err, &ge) {
		out.Status = ge.StatusCode
		out.RetryAfterSeconds = ge.RetryAfter.Seconds()
	}
	fixed := fixedCancel(err)
	switch {
	case err == nil:
		out.Outcome, out.Status, out.MessageID = OutcomeSent, res.StatusCode, res.MessageID
		return nil

	case errors.Is(err, smscourier.ErrOutcomeUnknown):
		if w.retryUnknown && !errors.Is(err, smscourier.ErrExpired) {
			out.Outcome, out.Reason = OutcomeRetry, "outcome unknown; retried under the same idempotency key"
			if routed && out.Pinned == "" {
				out.Pinned = res.Gateway // only there is the key known
				out.Reason += ", at the same gateway"
			}
			return redact(err)
		}
		out.Class = string(smscourier.ClassOutcomeUnknown)
		out.Outcome, out.Reason = OutcomeMaybeDelivered, "the request was sent but no reply said what happened: the message may have been delivered, and is not resent"
		if w.retryUnknown {
			out.Reason = "the request was sent but no reply said what happened, and a retry would pass the message's NotAfter: the message may have been delivered"
		}
		return cancel(smscourier.ErrOutcomeUnknown, err)

	case errors.Is(err, smscourier.ErrExpired):
		out.Class = string(smscourier.ClassExpired)
		out.Outcome, out.Reason = OutcomeCancelled, "expired: past the message's NotAfter; not sent"
		return cancel(smscourier.ErrExpired, err)

	case errors.Is(err, smscourier.ErrRejected):
		out.Outcome, out.Reason = OutcomeCancelled, fmt.Sprintf("rejected by the gateway (status %d); not retried", out.Status)
		return cancel(smscourier.ErrRejected, err)

	case errors.Is(err, smscourier.ErrBlocked):
		return w.blocked(job, msg, out, err)

	case fixed >= 0:
		c := fixedCancels[fixed]
		out.Outcome, out.Reason = OutcomeCancelled, c.reason
		return cancel(c.sentinel, err)

	case errors.Is(err, smscourier.ErrRefused) && ge != nil && ge.RetryAfter > 0:
		if !msg.NotAfter.IsZero() && !time.Now().Add(ge.RetryAfter).Before(msg.NotAfter) {
			out.Outcome, out.Reason = OutcomeCancelled, fmt.Sprintf("the gateway asked to wait %s, past the message's NotAfter; not sent", ge.RetryAfter)
			return cancel(smscourier.ErrExpired, err)
		}
		if w.maxSnoozes < 0 || snoozes(job) < w.maxSnoozes {
			out.Outcome, out.Reason = OutcomeSnoozed, fmt.Sprintf("the gateway asked to wait %s", ge.RetryAfter)
			return river.JobSnooze(ge.RetryAfter)
		}
		out.Outcome, out.Reason = OutcomeRetry, fmt.Sprintf("refused for now, snoozed %d times already", w.maxSnoozes)
		return redact(err)
	}
	// ErrNotSent, ErrRefused without Retry-After, anything else: nothing
	// was delivered; River retries. An error that wraps context.Canceled
	// during a client's stop makes River requeue the job without using up
	// the attempt.
	out.Outcome, out.Reason = OutcomeRetry, "not delivered; retried"
	return redact(err)
}

// blocked maps a guard's refusal (package guard): a rate limit that says
// when the message would be allowed snoozes the job until then, unless
// that is past the message's NotAfter or the job was snoozed too often;
// a policy, or a limit that does not say, cancels it. Nothing was sent.
func (w *Worker) blocked(job *river.Job[SendArgs], msg smscourier.Message, out *Output, err error) error {
	var be *smscourier.BlockedError
	if !errors.As(err, &be) || be.RetryAfter <= 0 {
		out.Outcome, out.Reason = OutcomeCancelled, "blocked by the guard; not sent"
		if be != nil {
			out.Reason = fmt.Sprintf("blocked by the guard's rule %s; not sent", be.Rule)
		}
		return cancel(smscourier.ErrBlocked, err)
	}
	out.RetryAfterSeconds = be.RetryAfter.Seconds()
	switch {
	case !msg.NotAfter.IsZero() && !time.Now().Add(be.RetryAfter).Before(msg.NotAfter):
		out.Outcome, out.Reason = OutcomeCancelled, fmt.Sprintf("blocked by the guard's rule %s until past the message's NotAfter; not sent", be.Rule)
		return cancel(smscourier.ErrBlocked, err)
	case w.maxSnoozes < 0 || snoozes(job) < w.maxSnoozes:
		out.Outcome, out.Reason = OutcomeSnoozed, fmt.Sprintf("blocked by the guard's rule %s for %s", be.Rule, be.RetryAfter)
		return river.JobSnooze(be.RetryAfter)
	}
	out.Outcome, out.Reason = OutcomeCancelled, fmt.Sprintf("blocked by the guard's rule %s, snoozed %d times already; not sent", be.Rule, w.maxSnoozes)
	return cancel(smscourier.ErrBlocked, err)
}

// maybeDelivered records on out that the message may have been delivered
// and is not sent, for the reason given, and returns the error that cancels
// the job.
func maybeDelivered(out *Output, reason string) error {
	out.Outcome, out.Class, out.Reason = OutcomeMaybeDelivered, string(smscourier.ClassOutcomeUnknown), reason
	return river.JobCancel(&finalError{class: smscourier.ErrOutcomeUnknown, msg: "smscourier/queue: " + reason})
}

// fixedCancels are the failures that cancel a job with a fixed reason, in
// the order they are looked for (after outcome unknown, expired and
// rejected; ErrEgressDenied before the ErrNotSent it comes with).
var fixedCancels = []struct {
	sentinel error
	reason   string
}{
	{smscourier.ErrCancel, "the template cancelled the message"},
	{smscourier.ErrInvalidMessage, "invalid message"},
	{smscourier.ErrTemplate, "the template failed for this message"},
	{smscourier.ErrDisabled, "the courier is disabled"},
	{smscourier.ErrEgressDenied, "the gateway's address is refused by SSRF protection"},
}

// fixedCancel returns the index in fixedCancels of the first sentinel err
// wraps, or -1.
func fixedCancel(err error) int {
	for i, c := range fixedCancels {
		if errors.Is(err, c.sentinel) {
			return i
		}
	}
	return -1
}

// cancel returns the error that cancels a job for err, of the given class.
// Its chain holds class but not err's causes: River must see a cancellation,
// never a context.Canceled that would requeue the job on a client's stop
// (and send a message that may have been delivered again).
func cancel(class, err error) error {
	return river.JobCancel(&finalError{class: class, msg: "smscourier/queue: " + redact(err).Error()})
}

// redact returns err, or when it comes from a template (the body template,
// or the response template reading a reply), an error with the same chain
// whose text leaves the template's message out: Jsonnet's runtime errors
// can quote the values they failed on, such as the message text. River
// stores and logs the text of the errors a worker returns.
func redact(err error) error {
	if !errors.Is(err, smscourier.ErrTemplate) {
		return err
	}
	return &redactedError{err: err}
}

// redactedError is an error whose text is withheld.
type redactedError struct{ err error }

func (e *redactedError) Error() string {
	return "smscourier/queue: " + string(smscourier.ClassOf(e.err)) + ": template error (details withheld: they may quote the message)"
}

func (e *redactedError) Unwrap() error { return e.err }

// finalError is the cause of a cancelled job: the courier's error text and
// its class alone.
type finalError struct {
	class error
	msg   string
}

func (e *finalError) Error() string { return e.msg }
func (e *finalError) Unwrap() error { return e.class }

// previousAttemptRecorded reports whether the attempt before this one
// recorded its Output, that is, ended through Work rather than with a
// crashed or killed process.
func previousAttemptRecorded(job *river.Job[SendArgs]) bool {
	out, ok := OutputOf(job.JobRow)
	return ok && out.JobAttempt >= job.Attempt-1
}

// snoozes returns how often River has snoozed the job.
func snoozes(job *river.Job[SendArgs]) int {
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &md) // River writes it; absent is 0
	return md.Snoozes
}

// trackerWriteTimeout bounds each write of a Worker to its Tracker. The
// writes run even when the job's context has ended (its timeout passed
// during the send), so that a send the gateway accepted is recorded.
const trackerWriteTimeout = 10 * time.Second

// track records the outcome of the job attempt that out describes in the
// Tracker: sent, or failed when the job does not run again (cancelled, or
// discarded after its last attempt). Snoozes and retries record nothing:
// the message stays sending.
func (w *Worker) track(ctx context.Context, job *river.Job[SendArgs], tj trackedJob, out *Output) {
	now := w.tracker.now()
	switch out.Outcome {
	case OutcomeSent:
		w.trackWrite(ctx, job.ID, "sent", func(ctx context.Context) (*DeliveryReport, error) {
			return w.tracker.recordSent(ctx, tj, out.Gateway, out.MessageID, now)
		})
		return
	case OutcomeCancelled, OutcomeMaybeDelivered:
	case OutcomeRetry:
		// River discards a job whose last attempt failed, except when the
		// client stops (context.Canceled), which requeues it.
		if job.Attempt < job.MaxAttempts || errors.Is(ctx.Err(), context.Canceled) {
			return
		}
	default:
		return
	}
	st := StateFailed
	if out.Class == string(smscourier.ClassOutcomeUnknown) {
		st = StateMaybeDelivered
	}
	w.trackWrite(ctx, job.ID, string(st), func(ctx context.Context) (*DeliveryReport, error) {
		return w.tracker.recordFailed(ctx, tj, st, out.Gateway, out.Reason, now)
	})
}

// trackWrite runs one write to the Tracker, with a context of its own
// that keeps ctx's values, reports the message when the write ended it,
// and logs a failure.
func (w *Worker) trackWrite(ctx context.Context, jobID int64, what string, write func(context.Context) (*DeliveryReport, error)) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), trackerWriteTimeout)
	defer cancel()
	rep, err := write(wctx)
	if err != nil {
		if w.logger != nil {
			w.logger.LogAttrs(ctx, slog.LevelError, "smscourier/queue: tracker write", slog.Int64("job_id", jobID),
				slog.String("state", what), slog.String("error", err.Error()))
		}
		return
	}
	if rep != nil {
		w.tracker.report(wctx, []DeliveryReport{*rep})
	}
}

// log records one job attempt.
func (w *Worker) log(ctx context.Context, jobID int64, out *Output, err error) {
	if w.logger == nil {
		return
	}
	level := slog.LevelInfo
	switch out.Outcome {
	case OutcomeCancelled, OutcomeMaybeDelivered:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.Int64("job_id", jobID),
		slog.Int("job_attempt", out.JobAttempt),
		slog.String("outcome", out.Outcome),
		slog.String("class", out.Class),
		slog.Int("status", out.Status),
		slog.Int("attempts", out.Attempts),
		slog.String("gateway", out.Gateway),
		slog.String("idempotency_key", out.IdempotencyKey),
		slog.String("to", out.To),
	}
	if out.MessageID != "" {
		attrs = append(attrs, slog.String("message_id", out.MessageID))
	}
	if out.Reason != "" {
		attrs = append(attrs, slog.String("reason", out.Reason))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error())) // redacted
	}
	w.logger.LogAttrs(ctx, level, "smscourier/queue: job", attrs...)
}
