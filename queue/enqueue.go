package queue

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
)

// Enqueue queues msg for sending: it inserts a SendArgs job through client,
// in a transaction of its own. opts may be nil; its UniqueOpts are replaced
// by uniqueness on the idempotency key (see SendArgs), and its Queue, when
// set, must be one that a worker client works (QueueName by default).
//
// When a job already holds msg's idempotency key, nothing is inserted and
// the result has UniqueSkippedAsDuplicate set, with that job. The key of a
// message without one is in the result's job args. It fails when msg has
// an empty To or an invalid key (wrapping smscourier.ErrInvalidMessage), or
// when the insert fails.
func Enqueue[TTx any](ctx context.Context, client *river.Client[TTx], msg smscourier.Message, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return client.Insert(ctx, SendArgs{Message: msg}, opts)
}

// EnqueueTx queues msg in the caller's transaction tx (River's InsertTx):
// the job exists, and will be sent, if and only if tx commits, so that a
// message can be queued atomically with the change that calls for it (the
// transactional outbox). The job is not worked before the commit. TTx is
// the driver's transaction type: pgx.Tx with riverpgxv5, *sql.Tx with
// riversqlite. opts may be nil and is treated as in Enqueue. Results and
// errors are those of Enqueue.
//
// With SQLite (one connection, see sqlitedb.Open) the client cannot use the
// database while tx is open: keep such transactions short, and do not call
// the client's non-transactional methods before tx ends.
func EnqueueTx[TTx any](ctx context.Context, client *river.Client[TTx], tx TTx, msg smscourier.Message, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return client.InsertTx(ctx, tx, SendArgs{Message: msg}, opts)
}

// EnqueueMany queues msgs in one batch (River's InsertMany), in one
// transaction: either all are inserted or none. opts (nil for none) apply to
// every job, as in Enqueue. It returns one result per message, in order. A
// message whose idempotency key was held by an existing job, or repeats the
// key of an earlier message in msgs, is not inserted: its result has
// UniqueSkippedAsDuplicate set and holds the job that has the key. Messages
// without a key get random ones. An empty msgs inserts nothing and returns
// nil. It fails as Enqueue does; nothing is inserted then.
func EnqueueMany[TTx any](ctx context.Context, client *river.Client[TTx], msgs []smscourier.Message, opts *river.InsertOpts) ([]*rivertype.JobInsertResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	params := make([]river.InsertManyParams, 0, len(msgs))
	first := make(map[string]int, len(msgs)) // key -> index into params
	slot := make([]int, len(msgs))           // message -> index into params
	dup := make([]bool, len(msgs))
	for i, m := range msgs {
		if m.IdempotencyKey == "" {
			m.IdempotencyKey = smscourier.NewIdempotencyKey()
		}
		if j, ok := first[m.IdempotencyKey]; ok {
			slot[i], dup[i] = j, true
			continue
		}
		first[m.IdempotencyKey] = len(params)
		slot[i] = len(params)
		params = append(params, river.InsertManyParams{Args: SendArgs{Message: m}, InsertOpts: opts})
	}
	inserted, err := client.InsertMany(ctx, params)
	if err != nil {
		return nil, err
	}
	out := make([]*rivertype.JobInsertResult, len(msgs))
	for i := range msgs {
		r := inserted[slot[i]]
		if dup[i] {
			r = &rivertype.JobInsertResult{Job: r.Job, UniqueSkippedAsDuplicate: true}
		}
		out[i] = r
	}
	return out, nil
}
