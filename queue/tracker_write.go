package queue

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/smscourier/smscourier/receipt"
)

// trackedJob is what the worker tells the Tracker about a job's message.
type trackedJob struct {
	key      string    // idempotency key
	jobID    int64     // River job id
	to       string    // masked recipient
	prefix   string    // country calling code
	queuedAt time.Time // the job's CreatedAt
}

// SQL of the worker's writes. Each upsert also writes the row whole when
// it belongs to an earlier job of the same key (one deleted by River's
// retention, whose key was queued again), and the sent and failed writes
// change only a message not yet sent nor ended, so that they apply once.
const (
	// $1 key, $2 job id, $3 to, $4 prefix, $5 queued at, $6 now.
	sqlSending = `INSERT INTO smscourier_messages AS m
	(idempotency_key, job_id, state, to_masked, country_prefix, queued_at, sending_at, updated_at)
VALUES ($1, $2, 'sending', $3, $4, $5, $6, $6)
ON CONFLICT (idempotency_key) DO UPDATE SET
	job_id = excluded.job_id, state = excluded.state, to_masked = excluded.to_masked,
	country_prefix = excluded.country_prefix, gateway = '', message_id = '', reason = '',
	queued_at = excluded.queued_at, sending_at = excluded.sending_at, sent_at = NULL, final_at = NULL,
	updated_at = excluded.updated_at
WHERE m.job_id <> excluded.job_id`

	// $1 key, $2 job id, $3 to, $4 prefix, $5 gateway, $6 message id,
	// $7 queued at, $8 sent at.
	sqlSentMessage = `INSERT INTO smscourier_messages AS m
	(idempotency_key, job_id, state, to_masked, country_prefix, gateway, message_id, queued_at, sent_at, updated_at)
VALUES ($1, $2, 'sent', $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (idempotency_key) DO UPDATE SET
	state = excluded.state, gateway = excluded.gateway, message_id = excluded.message_id,
	sent_at = excluded.sent_at, updated_at = excluded.updated_at,
	job_id = excluded.job_id, to_masked = excluded.to_masked, country_prefix = excluded.country_prefix,
	queued_at = excluded.queued_at, reason = '', final_at = NULL,
	sending_at = CASE WHEN m.job_id = excluded.job_id THEN m.sending_at END
WHERE m.state IN ('queued', 'sending') OR m.job_id <> excluded.job_id
RETURNING 1`

	// The same parameters as sqlSentMessage ($2 unused).
	sqlSentDelivery = `INSERT INTO smscourier_deliveries AS d
	(message_id, idempotency_key, gateway, country_prefix, to_masked, queued_at, sent_at, updated_at)
VALUES ($6, $1, $5, $4, $3, $7, $8, $8)
ON CONFLICT (message_id) DO UPDATE SET
	idempotency_key = excluded.idempotency_key, gateway = excluded.gateway,
	country_prefix = excluded.country_prefix, to_masked = excluded.to_masked,
	queued_at = excluded.queued_at, sent_at = excluded.sent_at, updated_at = excluded.updated_at
RETURNING provider, status, error_code, final_at, received_at`

	// $1 key, $2 job id, $3 state, $4 to, $5 prefix, $6 gateway,
	// $7 reason, $8 queued at, $9 now.
	sqlFailed = `INSERT INTO smscourier_messages AS m
	(idempotency_key, job_id, state, to_masked, country_prefix, gateway, reason, queued_at, final_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
ON CONFLICT (idempotency_key) DO UPDATE SET
	state = excluded.state, gateway = excluded.gateway, reason = excluded.reason,
	final_at = excluded.final_at, updated_at = excluded.updated_at,
	job_id = excluded.job_id, to_masked = excluded.to_masked, country_prefix = excluded.country_prefix,
	queued_at = excluded.queued_at, message_id = '', sent_at = NULL,
	sending_at = CASE WHEN m.job_id = excluded.job_id THEN m.sending_at END
WHERE m.state IN ('queued', 'sending') OR m.job_id <> excluded.job_id
RETURNING 1`
)

// recordSending records that a worker took the job, at.
func (t *Tracker) recordSending(ctx context.Context, j trackedJob, at time.Time) error {
	_, err := t.db.ExecContext(ctx, sqlSending, j.key, j.jobID, j.to, j.prefix, t.dbTime(j.queuedAt), t.dbTime(at))
	if err != nil {
		return fmt.Errorf("smscourier/queue: tracker: record sending: %w", err)
	}
	return nil
}

// recordSent records that gateway accepted the message at, under
// messageID, and applies the final receipt that arrived before (its
// report is returned; nil when there is none, or the send was recorded
// already).
func (t *Tracker) recordSent(ctx context.Context, j trackedJob, gateway, messageID string, at time.Time) (*DeliveryReport, error) {
	args := []any{j.key, j.jobID, j.to, j.prefix, gateway, messageID, t.dbTime(j.queuedAt), t.dbTime(at)}
	if messageID == "" {
		// No receipt can name the message: the worker's record alone.
		if _, err := t.db.ExecContext(ctx, sqlSentMessage, args...); err != nil {
			return nil, fmt.Errorf("smscourier/queue: tracker: record sent: %w", err)
		}
		return nil, nil
	}
	var (
		provider, errorCode string
		status              sql.NullString
		finalAt, receivedAt nullTime
		changed             bool
	)
	if t.dialect == DialectPostgres {
		// One statement: the delivery row first, then the message's, in
		// the order Receive locks them.
		q := `WITH d AS (` + sqlSentDelivery + `), m AS (` + sqlSentMessage + `)
SELECT d.provider, d.status, d.error_code, d.final_at, d.received_at, EXISTS (SELECT 1 FROM m) FROM d`
		if err := t.db.QueryRowContext(ctx, q, args...).Scan(&provider, &status, &errorCode, &finalAt, &receivedAt, &changed); err != nil {
			return nil, fmt.Errorf("smscourier/queue: tracker: record sent: %w", err)
		}
	} else {
		err := t.inTx(ctx, func(tx *sql.Tx) error {
			// SQLite binds $N by number: the arguments must be exactly those
			// the statement names.
			dargs := []any{args[0], nil, args[2], args[3], args[4], args[5], args[6], args[7]}
			if err := tx.QueryRowContext(ctx, sqlSentDelivery, dargs...).Scan(&provider, &status, &errorCode, &finalAt, &receivedAt); err != nil {
				return err
			}
			var one int
			switch err := tx.QueryRowContext(ctx, sqlSentMessage, args...).Scan(&one); err {
			case nil:
				changed = true
			case sql.ErrNoRows:
			default:
				return err
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("smscourier/queue: tracker: record sent: %w", err)
		}
	}
	st, final := finalState(receipt.Status(status.String))
	if !changed || !final {
		return nil, nil
	}
	return &DeliveryReport{
		IdempotencyKey: j.key, State: st, Gateway: gateway, CountryPrefix: j.prefix, To: j.to,
		MessageID: messageID, Provider: provider, ErrorCode: errorCode,
		QueuedAt: j.queuedAt.UTC().Truncate(time.Microsecond), SentAt: at.UTC().Truncate(time.Microsecond), FinalAt: finalAt.Time,
		Latency: latency(at, receivedAt.Time),
	}, nil
}

// recordFailed records that the worker gave up on the message at, in the
// final state st, for reason; it returns the report, or nil when the
// message was sent or ended already.
func (t *Tracker) recordFailed(ctx context.Context, j trackedJob, st State, gateway, reason string, at time.Time) (*DeliveryReport, error) {
	var one int
	err := t.db.QueryRowContext(ctx, sqlFailed, j.key, j.jobID, string(st), j.to, j.prefix, gateway, reason, t.dbTime(j.queuedAt), t.dbTime(at)).Scan(&one)
	switch err {
	case nil:
	case sql.ErrNoRows:
		return nil, nil
	default:
		return nil, fmt.Errorf("smscourier/queue: tracker: record %s: %w", st, err)
	}
	return &DeliveryReport{
		IdempotencyKey: j.key, State: st, Gateway: gateway, CountryPrefix: j.prefix, To: j.to, Reason: reason,
		QueuedAt: j.queuedAt.UTC().Truncate(time.Microsecond), FinalAt: at.UTC().Truncate(time.Microsecond),
	}, nil
}

// latency is the time from sent to received, or 0 when received is not
// after sent.
func latency(sent, received time.Time) time.Duration {
	if sent.IsZero() || received.IsZero() || !received.After(sent) {
		return 0
	}
	return received.Sub(sent)
}

// inTx runs f in a transaction, committed when f returns nil.
func (t *Tracker) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Receive stores receipts, the receipts of one callback, and moves the
// state of the messages they name (receipt.Sink). A receipt stored
// already is skipped; a receipt without a message id is ignored, since it
// can name no message. An invalid Status is stored as unknown, and a zero
// Time as the time of arrival. The first final receipt of a message id
// sets its final state: at once when its send is recorded, else when the
// worker records it. OnFinal is called, after the commit, for each message
// this call made final.
//
// On PostgreSQL it is one statement, whatever the number of receipts; on
// SQLite one transaction. It fails, storing nothing, when the database
// does: receipt.Handler then answers 503 and the provider sends the
// callback again.
func (t *Tracker) Receive(ctx context.Context, receipts []receipt.Receipt) error {
	now := t.now().UTC().Truncate(time.Microsecond)
	rows := make([]receiptRow, 0, len(receipts))
	for _, r := range receipts {
		if r.MessageID == "" {
			continue
		}
		if !r.Status.Valid() {
			r.Status = receipt.StatusUnknown
		}
		at := r.Time
		if at.IsZero() {
			at = now
		}
		rows = append(rows, receiptRow{
			Provider: r.Provider, MessageID: r.MessageID, Status: string(r.Status),
			ProviderStatus: r.ProviderStatus, ErrorCode: r.ErrorCode,
			At: at.UTC().Truncate(time.Microsecond), Raw: []byte(r.Raw),
		})
	}
	if len(rows) == 0 {
		return nil
	}
	// One order for every caller, so that concurrent callbacks lock the
	// same rows in the same order.
	slices.SortStableFunc(rows, func(a, b receiptRow) int {
		return cmp.Or(cmp.Compare(a.MessageID, b.MessageID), cmp.Compare(a.Provider, b.Provider),
			cmp.Compare(a.Status, b.Status), cmp.Compare(a.ProviderStatus, b.ProviderStatus), cmp.Compare(a.ErrorCode, b.ErrorCode))
	})
	var (
		reports []DeliveryReport
		err     error
	)
	if t.dialect == DialectPostgres {
		reports, err = t.receivePostgres(ctx, rows, now)
	} else {
		reports, err = t.receiveSQLite(ctx, rows, now)
	}
	if err != nil {
		return fmt.Errorf("smscourier/queue: tracker: store receipts: %w", err)
	}
	t.report(ctx, reports)
	return nil
}

// receiptRow is a receipt as Receive stores it; its JSON is the input of
// the PostgreSQL statement (Raw in base64).
type receiptRow struct {
	N              int       `json:"n"`
	Provider       string    `json:"provider"`
	MessageID      string    `json:"message_id"`
	Status         string    `json:"status"`
	ProviderStatus string    `json:"provider_status"`
	ErrorCode      string    `json:"error_code"`
	At             time.Time `json:"status_at"`
	Raw            []byte    `json:"raw"`
}

// sqlReceivePostgres stores a batch of receipts ($1, JSON) received at $2,
// and returns the messages it made final: the receipts not stored before,
// then per message id the earliest final one of them, upserted into the
// delivery row unless that holds a final status already; a row with an
// idempotency key has its send recorded, and is reported.
const sqlReceivePostgres = `WITH input AS (
	SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(n int, provider text, message_id text, status text,
		provider_status text, error_code text, status_at timestamptz, raw text)
), ins AS (
	INSERT INTO smscourier_receipts (message_id, provider, status, provider_status, error_code, status_at, received_at, raw)
	SELECT message_id, provider, status, provider_status, error_code, status_at, $2::timestamptz, decode(raw, 'base64')
	FROM input ORDER BY n
	ON CONFLICT DO NOTHING
	RETURNING message_id, provider, status, error_code, status_at
), fin AS (
	SELECT DISTINCT ON (message_id) message_id, provider, status, error_code, status_at
	FROM ins WHERE status IN ('delivered', 'undelivered', 'failed')
	ORDER BY message_id, status_at
), d AS (
	INSERT INTO smscourier_deliveries AS d (message_id, provider, status, error_code, final_at, received_at, updated_at)
	SELECT message_id, provider, status, error_code, status_at, $2::timestamptz, $2::timestamptz FROM fin ORDER BY message_id
	ON CONFLICT (message_id) DO UPDATE SET
		provider = excluded.provider, status = excluded.status, error_code = excluded.error_code,
		final_at = excluded.final_at, received_at = excluded.received_at, updated_at = excluded.updated_at
	WHERE d.status IS NULL
	RETURNING message_id, idempotency_key, gateway, country_prefix, to_masked, queued_at, sent_at,
		provider, status, error_code, final_at, received_at
)
SELECT message_id, idempotency_key, gateway, country_prefix, to_masked, queued_at, sent_at,
	provider, status, error_code, final_at, received_at
FROM d WHERE idempotency_key IS NOT NULL`

// receivePostgres stores rows in one statement.
func (t *Tracker) receivePostgres(ctx context.Context, rows []receiptRow, now time.Time) ([]DeliveryReport, error) {
	for i := range rows {
		rows[i].N = i
	}
	input, err := json.Marshal(rows)
	if err != nil {
		return nil, err
	}
	res, err := t.db.QueryContext(ctx, sqlReceivePostgres, string(input), now)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var reports []DeliveryReport
	for res.Next() {
		r, err := scanReport(res)
		if err != nil {
			return nil, err
		}
		reports = append(reports, r)
	}
	return reports, res.Err()
}

// SQL of the SQLite Receive, one receipt at a time.
const (
	sqlReceiptInsert = `INSERT INTO smscourier_receipts
	(message_id, provider, status, provider_status, error_code, status_at, received_at, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING
RETURNING 1`
	sqlReceiptFinal = `INSERT INTO smscourier_deliveries AS d (message_id, provider, status, error_code, final_at, received_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (message_id) DO UPDATE SET
	provider = excluded.provider, status = excluded.status, error_code = excluded.error_code,
	final_at = excluded.final_at, received_at = excluded.received_at, updated_at = excluded.updated_at
WHERE d.status IS NULL
RETURNING message_id, idempotency_key, gateway, country_prefix, to_masked, queued_at, sent_at,
	provider, status, error_code, final_at, received_at`
)

// receiveSQLite stores rows in one transaction, with the semantics of
// sqlReceivePostgres.
func (t *Tracker) receiveSQLite(ctx context.Context, rows []receiptRow, now time.Time) ([]DeliveryReport, error) {
	var reports []DeliveryReport
	err := t.inTx(ctx, func(tx *sql.Tx) error {
		reports = reports[:0]
		var finals []receiptRow // the earliest new final receipt per message id, in order
		for _, r := range rows {
			var one int
			switch err := tx.QueryRowContext(ctx, sqlReceiptInsert, r.MessageID, r.Provider, r.Status, r.ProviderStatus, r.ErrorCode,
				t.dbTime(r.At), t.dbTime(now), r.Raw).Scan(&one); err {
			case nil:
			case sql.ErrNoRows:
				continue // stored before
			default:
				return err
			}
			if !receipt.Status(r.Status).Final() {
				continue
			}
			if n := len(finals); n > 0 && finals[n-1].MessageID == r.MessageID {
				if r.At.Before(finals[n-1].At) {
					finals[n-1] = r
				}
				continue
			}
			finals = append(finals, r)
		}
		for _, r := range finals {
			res, err := tx.QueryContext(ctx, sqlReceiptFinal, r.MessageID, r.Provider, r.Status, r.ErrorCode, t.dbTime(r.At), t.dbTime(now))
			if err != nil {
				return err
			}
			for res.Next() {
				rep, err := scanReport(res)
				if err != nil {
					res.Close()
					return err
				}
				if rep.IdempotencyKey != "" {
					reports = append(reports, rep)
				}
			}
			res.Close()
			if err := res.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return reports, err
}

// scanReport reads a delivery row as the receipt statements return it.
func scanReport(rows *sql.Rows) (DeliveryReport, error) {
	var (
		r                            DeliveryReport
		key, status                  sql.NullString
		queued, sent, final, arrived nullTime
	)
	if err := rows.Scan(&r.MessageID, &key, &r.Gateway, &r.CountryPrefix, &r.To, &queued, &sent,
		&r.Provider, &status, &r.ErrorCode, &final, &arrived); err != nil {
		return r, err
	}
	r.IdempotencyKey, r.State = key.String, State(status.String)
	r.QueuedAt, r.SentAt, r.FinalAt = queued.Time, sent.Time, final.Time
	r.Latency = latency(sent.Time, arrived.Time)
	return r, nil
}

// Prune deletes the lifecycles (messages and delivery rows) last changed
// before before, and the receipts received before it, in batches of
// pruneBatch rows so that no statement holds its locks long. It returns
// how many rows it deleted. A worker client with the Tracker runs it every
// TrackerConfig.PruneInterval with before = now - Retention.
func (t *Tracker) Prune(ctx context.Context, before time.Time) (int64, error) {
	rowID := "ctid"
	if t.dialect == DialectSQLite {
		rowID = "rowid"
	}
	var total int64
	for _, tc := range []struct{ table, column string }{
		{"smscourier_receipts", "received_at"},
		{"smscourier_deliveries", "updated_at"},
		{"smscourier_messages", "updated_at"},
	} {
		q := fmt.Sprintf(`DELETE FROM %[1]s WHERE %[3]s IN (SELECT %[3]s FROM %[1]s WHERE %[2]s < $1 LIMIT %[4]d)`,
			tc.table, tc.column, rowID, pruneBatch)
		for {
			res, err := t.db.ExecContext(ctx, q, t.dbTime(before))
			if err != nil {
				return total, fmt.Errorf("smscourier/queue: tracker: prune %s: %w", tc.table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("smscourier/queue: tracker: prune %s: %w", tc.table, err)
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

// pruneBatch is the most rows one statement of Prune deletes.
const pruneBatch = 5000
