package queue

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
)

// Kind is the River job kind of SendArgs.
const Kind = "smscourier_send"

// QueueName is the River queue that SendArgs jobs are inserted into and that
// the clients made by NewClient work. A client you build yourself must list
// it in river.Config.Queues to work the jobs.
const QueueName = "smscourier"

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
//   - refuses a message that every courier would refuse
//     (smscourier.Message.Validate: an empty To, control characters in To
//     or From, an idempotency key of more than 255 characters or anything
//     but visible ASCII, template data over the limits), with an error
//     wrapping smscourier.ErrInvalidMessage, before anything is stored.
type SendArgs struct {
	Message smscourier.Message `json:"message"`
	// Resend, when not nil, makes the job the one resend of a message a
	// delivery receipt reported undelivered (see Resender): it sends
	// Message, under its idempotency key, at Resend.Gateway alone. Such a
	// job is unique by the key too, apart from the first send's job: a
	// message is resent at most once while the jobs are kept.
	Resend *Resend `json:"resend,omitempty"`
}

// Resend describes a resend job: which job's message it sends again, and
// where.
type Resend struct {
	// Of is the id of the job that sent the message first.
	Of int64 `json:"of"`
	// After is the gateway that took the first send, whose receipt said
	// undelivered or failed.
	After string `json:"after"`
	// Gateway is the gateway of the Router to send at: the one after After
	// in the message's route (smscourier.Router.ResendGateway).
	Gateway string `json:"gateway"`
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

// allStates is the unique states bitmask (rivertype.JobInsertParams'
// UniqueStates) of every job state: River gives each of its eight states
// (rivertype.JobStates) one bit of the byte, so all of them are all bits. A
// job holds its idempotency key in every state, so that a message whose
// outcome is unknown (its job cancelled) is not queued again under the same
// key while the row exists. River reads the mask back as the job row's
// UniqueStates, which the tests check is rivertype.JobStates().
const allStates byte = 0xff

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
	fill := m.IdempotencyKey == ""
	if fill {
		m.IdempotencyKey = smscourier.NewIdempotencyKey()
	}
	if err := m.Validate(); err != nil {
		return err
	}
	if fill {
		encoded, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("smscourier/queue: encode job args: %w", err)
		}
		params.EncodedArgs, params.Args = encoded, args
	}
	params.UniqueKey = uniqueKey(m.IdempotencyKey)
	if args.Resend != nil {
		if args.Resend.Gateway == "" {
			return fmt.Errorf("smscourier/queue: a resend job names no gateway: %w", smscourier.ErrInvalidMessage)
		}
		params.UniqueKey = uniqueKey(m.IdempotencyKey + resendSuffix)
	}
	params.UniqueStates = allStates
	return nil
}

// resendSuffix makes the unique key of a message's resend job.
const resendSuffix = "\x00resend"

// uniqueKey is the job's unique key for an idempotency key: the same in
// every queue.
func uniqueKey(idempotencyKey string) []byte {
	sum := sha256.Sum256([]byte(Kind + "\x00" + idempotencyKey))
	return sum[:]
}
