package queue

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivershared/uniquestates"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
)

// Kind is the River job kind of SendArgs.
const Kind = "smscourier_send"

// QueueName is the River queue that SendArgs jobs are inserted into and that
// the clients made by NewSQLiteClient and NewPostgresClient work. A client you
// build yourself must list it in river.Config.Queues to work the jobs.
const QueueName = "smscourier"

// maxIdempotencyKey is the longest idempotency key the courier accepts.
const maxIdempotencyKey = 255

// SendArgs is the River job that sends one SMS with a Worker. Its Message is
// stored as JSON in the job's row (the keys of smscourier.Message) until the
// job is deleted; see Config's retention periods.
//
// Every insert of SendArgs, through the Enqueue helpers or through River's
// own Insert methods, goes through a hook that:
//
//   - gives a message with an empty IdempotencyKey a random one (128 bits, UUID
//     form), stored in the job, so that every retry of the job, even after a
//     crash, sends under the same key;
//   - makes the job unique by that key: inserting a message whose key is
//     already held by a job in any state (queued, running, completed,
//     cancelled or discarded, until the row is deleted) inserts nothing, and
//     the insert result has UniqueSkippedAsDuplicate set. This replaces any
//     InsertOpts.UniqueOpts given for the job;
//   - refuses a message with an empty To or an idempotency key that the
//     courier would refuse (more than 255 characters, or anything but visible
//     ASCII), with an error wrapping smscourier.ErrInvalidMessage.
type SendArgs struct {
	Message smscourier.Message `json:"message"`
}

// Kind returns Kind, "smscourier_send".
func (SendArgs) Kind() string { return Kind }

// InsertOpts puts the job in QueueName.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName}
}

// Hooks returns the insert hook described on SendArgs.
func (SendArgs) Hooks() []rivertype.Hook {
	return []rivertype.Hook{river.HookInsertBeginFunc(prepareInsert)}
}

// uniqueStates are the states in which a job holds its idempotency key: all
// of them, so that a message whose outcome is unknown (its job cancelled) is
// not queued again under the same key while the row exists.
var uniqueStates = uniquestates.UniqueStatesToBitmask(rivertype.JobStates())

// prepareInsert settles a SendArgs job's idempotency key and makes the job
// unique by it.
func prepareInsert(_ context.Context, params *rivertype.JobInsertParams) error {
	if params.Kind != Kind {
		return nil
	}
	var args SendArgs
	if err := json.Unmarshal(params.EncodedArgs, &args); err != nil {
		return fmt.Errorf("smscourier/queue: decode job args: %w", err)
	}
	m := &args.Message
	if strings.TrimSpace(m.To) == "" { // as the courier would refuse it
		return fmt.Errorf("%w: to is empty or only spaces", smscourier.ErrInvalidMessage)
	}
	if m.IdempotencyKey == "" {
		m.IdempotencyKey = smscourier.NewIdempotencyKey()
		encoded, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("smscourier/queue: encode job args: %w", err)
		}
		params.EncodedArgs, params.Args = encoded, args
	} else if !validKey(m.IdempotencyKey) {
		return fmt.Errorf("%w: idempotency key must be 1 to %d visible ASCII characters", smscourier.ErrInvalidMessage, maxIdempotencyKey)
	}
	params.UniqueKey = uniqueKey(m.IdempotencyKey)
	params.UniqueStates = uniqueStates
	return nil
}

// uniqueKey is the job's unique key for an idempotency key: the same in
// every queue.
func uniqueKey(idempotencyKey string) []byte {
	sum := sha256.Sum256([]byte(Kind + "\x00" + idempotencyKey))
	return sum[:]
}

// validKey reports whether k is an idempotency key the courier accepts.
func validKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
