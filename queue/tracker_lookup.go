package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
)

// Lifecycle is one message's lifecycle as a Tracker knows it: its current
// state, the states it passed through, each with its time, and every
// receipt stored for its message id. It holds no message text and only a
// masked recipient.
type Lifecycle struct {
	// IdempotencyKey is the message's idempotency key.
	IdempotencyKey string
	// JobID is the id of the River job that sends it.
	JobID int64
	// State is the current state.
	State State
	// Steps are the states reached, in order, each once, the current one
	// last: queued, sending, sent, and a final state, less those the
	// message skipped (a message refused before its first attempt has no
	// sending step when its job never ran).
	Steps []Step
	// To is the recipient with all but its last digits masked.
	To string
	// CountryPrefix is the recipient's country calling code ("+44"); ""
	// when the recipient is not in E.164 form.
	CountryPrefix string
	// Gateway is the gateway that accepted the message, or for a message
	// the worker gave up on, the last one tried; "" before the send.
	Gateway string
	// MessageID is the gateway's id for the message; "" before the send
	// or when the gateway's reply carried none.
	MessageID string
	// Provider and ErrorCode are those of the final receipt, when a
	// receipt ended the message.
	Provider, ErrorCode string
	// Reason is why the worker did not send the message, when it gave up
	// (Output.Reason).
	Reason string
	// Receipts are the receipts stored for MessageID, and for an earlier
	// send of a message sent again (Resender), by their Time, then by
	// arrival.
	Receipts []StoredReceipt
}

// Step is one state of a message's lifecycle, with when it was reached
// and the gateway it was reached at ("" for queued and sending, and for a
// message never sent to a gateway).
type Step struct {
	State   State
	Time    time.Time
	Gateway string
}

// StoredReceipt is a receipt as the Tracker stored it, with the time it
// arrived.
type StoredReceipt struct {
	receipt.Receipt
	// ReceivedAt is when Receive stored it.
	ReceivedAt time.Time
}

// sqlLifecycle selects a message's row and its delivery row, if any.
const sqlLifecycle = `SELECT m.idempotency_key, m.job_id, m.state, m.to_masked, m.country_prefix, m.gateway, m.message_id, m.reason,
	m.queued_at, m.sending_at, m.sent_at, m.final_at, d.provider, d.status, d.error_code, d.final_at
FROM smscourier_messages m
LEFT JOIN smscourier_deliveries d ON m.message_id <> '' AND d.message_id = m.message_id AND d.idempotency_key = m.idempotency_key
`

// Lookup returns the lifecycle of the message with idempotency key key.
// A message queued but not yet taken by a worker (or sent by a worker
// without a Tracker) is read from its River job: queued, sending while a
// worker holds it, or from the job's Output once it ended. It fails with
// ErrNotFound for a key that neither the Tracker nor the queue holds
// (never queued, or pruned and deleted), or when the database does.
func (t *Tracker) Lookup(ctx context.Context, key string) (Lifecycle, error) {
	lc, err := t.lookup(ctx, sqlLifecycle+`WHERE m.idempotency_key = $1`, key)
	if errors.Is(err, ErrNotFound) {
		return t.lookupJob(ctx, key)
	}
	return lc, err
}

// LookupMessageID returns the lifecycle of the message the gateway
// accepted under messageID (the provider's message id), also when that was
// a send the message was sent again after (Resender). It fails with
// ErrNotFound when no send was recorded under that id (receipts that
// arrived for it are kept for the send, but name no message yet), or when
// the database fails.
func (t *Tracker) LookupMessageID(ctx context.Context, messageID string) (Lifecycle, error) {
	if messageID == "" {
		return Lifecycle{}, ErrNotFound
	}
	lc, err := t.lookup(ctx, `SELECT m.idempotency_key, m.job_id, m.state, m.to_masked, m.country_prefix, m.gateway, m.message_id, m.reason,
	m.queued_at, m.sending_at, m.sent_at, m.final_at, d.provider, d.status, d.error_code, d.final_at
FROM smscourier_deliveries d
JOIN smscourier_messages m ON m.idempotency_key = d.idempotency_key AND m.message_id = d.message_id
WHERE d.message_id = $1`, messageID)
	if !errors.Is(err, ErrNotFound) {
		return lc, err
	}
	// An earlier send of a message sent again (Resender): its message's
	// lifecycle.
	var key sql.NullString
	err = t.db.QueryRowContext(ctx, `SELECT idempotency_key FROM smscourier_deliveries WHERE message_id = $1`, messageID).Scan(&key)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && !key.Valid:
		return Lifecycle{}, ErrNotFound
	case err != nil:
		return Lifecycle{}, fmt.Errorf("smscourier/queue: tracker: lookup: %w", err)
	}
	return t.lookup(ctx, sqlLifecycle+`WHERE m.idempotency_key = $1`, key.String)
}

// lookup reads the lifecycle that query (sqlLifecycle's columns) selects
// with arg, and its receipts.
func (t *Tracker) lookup(ctx context.Context, query, arg string) (Lifecycle, error) {
	var (
		lc                           Lifecycle
		state                        string
		queued, sending, sent, ended nullTime
		provider, status, code       sql.NullString
		receiptFinal                 nullTime
	)
	err := t.db.QueryRowContext(ctx, query, arg).Scan(&lc.IdempotencyKey, &lc.JobID, &state, &lc.To, &lc.CountryPrefix, &lc.Gateway,
		&lc.MessageID, &lc.Reason, &queued, &sending, &sent, &ended, &provider, &status, &code, &receiptFinal)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Lifecycle{}, ErrNotFound
	case err != nil:
		return Lifecycle{}, fmt.Errorf("smscourier/queue: tracker: lookup: %w", err)
	}
	lc.State = State(state)
	if st, ok := finalState(receipt.Status(status.String)); ok && lc.State == StateSent {
		lc.State, lc.Provider, lc.ErrorCode = st, provider.String, code.String
		ended = receiptFinal
	}
	lc.Steps = steps(lc.State, lc.Gateway, queued, sending, sent, ended)
	if lc.Receipts, err = t.receipts(ctx, lc.MessageID, lc.IdempotencyKey); err != nil {
		return Lifecycle{}, err
	}
	return lc, nil
}

// steps lists the states reached, given when each was.
func steps(current State, gateway string, queued, sending, sent, ended nullTime) []Step {
	out := make([]Step, 0, 4)
	add := func(s State, at nullTime, gw string) {
		if at.Valid {
			out = append(out, Step{State: s, Time: at.Time, Gateway: gw})
		}
	}
	add(StateQueued, queued, "")
	add(StateSending, sending, "")
	add(StateSent, sent, gateway)
	if current.Final() {
		add(current, ended, gateway)
	}
	return out
}

// receipts returns the receipts stored for messageID, and for every send
// recorded for the message with idempotency key key (a message sent again
// has two).
func (t *Tracker) receipts(ctx context.Context, messageID, key string) ([]StoredReceipt, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT provider, message_id, status, provider_status, error_code, status_at, received_at, raw
FROM smscourier_receipts
WHERE message_id = $1 OR message_id IN (SELECT message_id FROM smscourier_deliveries WHERE idempotency_key = $2)
ORDER BY status_at, received_at, provider, status`, messageID, key)
	if err != nil {
		return nil, fmt.Errorf("smscourier/queue: tracker: lookup receipts: %w", err)
	}
	defer rows.Close()
	var out []StoredReceipt
	for rows.Next() {
		var (
			r        StoredReceipt
			status   string
			at, recv nullTime
			raw      []byte
		)
		if err := rows.Scan(&r.Provider, &r.MessageID, &status, &r.ProviderStatus, &r.ErrorCode, &at, &recv, &raw); err != nil {
			return nil, fmt.Errorf("smscourier/queue: tracker: lookup receipts: %w", err)
		}
		r.Status, r.Time, r.ReceivedAt, r.Raw = receipt.Status(status), at.Time, recv.Time, receipt.Raw(raw)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("smscourier/queue: tracker: lookup receipts: %w", err)
	}
	return out, nil
}

// lookupJob reads the lifecycle of a message the Tracker has no record of
// from its River job, found by the job's unique key: queued until a worker
// takes it, sending while one holds it, then as its Output says.
func (t *Tracker) lookupJob(ctx context.Context, key string) (Lifecycle, error) {
	columns := "args::text, metadata::text"
	if t.dialect == DialectSQLite {
		columns = "json(args), json(metadata)" // stored as JSONB
	}
	var (
		lc                        Lifecycle
		state                     string
		created, attempted, ended nullTime
		args, md                  []byte
	)
	err := t.db.QueryRowContext(ctx, `SELECT id, state, created_at, attempted_at, finalized_at, `+columns+`
FROM river_job WHERE unique_key = $1 AND kind = $2`, uniqueKey(key), Kind).Scan(&lc.JobID, &state, &created, &attempted, &ended, &args, &md)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Lifecycle{}, ErrNotFound
	case err != nil:
		return Lifecycle{}, fmt.Errorf("smscourier/queue: tracker: lookup job: %w", err)
	}
	lc.IdempotencyKey = key
	var sa SendArgs
	if err := json.Unmarshal(args, &sa); err == nil {
		lc.To, lc.CountryPrefix = smscourier.MaskNumber(sa.Message.To), smscourier.CallingCode(sa.Message.To)
	}
	out, _ := OutputOf(&rivertype.JobRow{Metadata: md})
	var sent nullTime
	switch rivertype.JobState(state) {
	case rivertype.JobStateRunning:
		lc.State, ended = StateSending, nullTime{}
	case rivertype.JobStateCompleted:
		lc.State, lc.Gateway, lc.MessageID = StateSent, out.Gateway, out.MessageID
		sent, ended = ended, nullTime{}
	case rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		lc.State, lc.Gateway, lc.Reason = StateFailed, out.Gateway, out.Reason
		if out.Class == string(smscourier.ClassOutcomeUnknown) {
			lc.State = StateMaybeDelivered
		}
	default: // available, pending, retryable, scheduled
		lc.State, ended = StateQueued, nullTime{}
	}
	if !attempted.Valid || lc.State == StateQueued {
		attempted = nullTime{}
	}
	lc.Steps = steps(lc.State, lc.Gateway, created, attempted, sent, ended)
	if lc.MessageID != "" {
		if lc.Receipts, err = t.receipts(ctx, lc.MessageID, key); err != nil {
			return Lifecycle{}, err
		}
	}
	return lc, nil
}
