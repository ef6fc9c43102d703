package queue

import (
	"encoding/json"

	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
)

// Outcomes of a job attempt, as Output.Outcome records them.
const (
	// OutcomeSent: the gateway accepted the message; the job is completed.
	OutcomeSent = "sent"
	// OutcomeSnoozed: the gateway asked to wait (Retry-After), or the rate
	// limiter had no token in time; the job runs again later without using
	// up an attempt. Nothing was delivered.
	OutcomeSnoozed = "snoozed"
	// OutcomeRetry: a failure that is safe to retry (nothing was
	// delivered, or the gateway deduplicates on the idempotency key); River
	// retries the job with its backoff, or discards it once its attempts are
	// used up.
	OutcomeRetry = "retry"
	// OutcomeCancelled: the message will not be sent (rejected by the
	// gateway, refused by the template, invalid, expired, courier disabled);
	// the job is cancelled. Nothing was delivered.
	OutcomeCancelled = "cancelled"
	// OutcomeMaybeDelivered: the request reached the gateway but no reply
	// said what happened, and resending could deliver the SMS twice; the job
	// is cancelled and never resent.
	OutcomeMaybeDelivered = "may_have_been_delivered"
)

// Output is what a Worker records about each job attempt, as the job's
// River output (river.RecordOutput; rivertype.JobRow.Output returns it as
// JSON). It holds no message text and only a masked recipient. As in the
// core, "attempts" are HTTP requests (Attempts); River's attempts at the
// job are job attempts (JobAttempt).
type Output struct {
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// Class is the class of the send's error, smscourier.ClassOf as a
	// string: one of smscourier.Classes().
	Class string `json:"class"`
	// Status is the gateway's HTTP status, when it replied; else 0.
	Status int `json:"status,omitempty"`
	// MessageID is the gateway's id for the message, when the courier's
	// response template found one.
	MessageID string `json:"message_id,omitempty"`
	// Attempts is the number of HTTP requests this job attempt tried, the
	// sender's Result.Attempts (one that could not even connect included;
	// for a Router, over every gateway of the route): 0 when none was tried
	// (a template error, an expired or invalid message, the courier
	// disabled, the rate limiter).
	Attempts int `json:"attempts"`
	// Gateway is the sender's Result.Gateway: for a Router, the name of the
	// gateway that sent the message, or when none did, of the last one
	// tried; for a Courier, its host (host:port when its URL has a port).
	// "" when no request was made.
	Gateway string `json:"gateway,omitempty"`
	// Tried is, for a Router, each step of the message's route in this job
	// attempt (Result.Tried): the gateway tried and the class of its
	// outcome, or the reason it was passed over without a request
	// (smscourier.SkipCircuitOpen, smscourier.SkipRetryAfter); for an
	// attempt sent to its Pinned gateway alone, that one step. Nil for a
	// Courier.
	Tried []smscourier.Try `json:"tried,omitempty"`
	// Pinned names, for a Router with an idempotency key header, the
	// gateway where this or an earlier attempt of the job ended with an
	// unknown outcome: the message may be out there, and only that gateway
	// knows its key, so every later attempt sends there alone (through
	// Router.Gateway), never failing over. "" otherwise.
	Pinned string `json:"pinned,omitempty"`
	// ResendOf is, for a resend job (SendArgs.Resend), the id of the job
	// that sent the message first; 0 for any other.
	ResendOf int64 `json:"resend_of,omitempty"`
	// JobAttempt is the number of the River job attempt that recorded this
	// Output (River's JobRow.Attempt), the first being 1.
	JobAttempt int `json:"job_attempt"`
	// IdempotencyKey is the message's idempotency key.
	IdempotencyKey string `json:"idempotency_key"`
	// To is the recipient with all but its last digits masked.
	To string `json:"to"`
	// RetryAfterSeconds is the wait the gateway asked for, when it did.
	RetryAfterSeconds float64 `json:"retry_after_seconds,omitempty"`
	// Reason says why the job was not completed; "" when it was.
	Reason string `json:"reason,omitempty"`
}

// OutputOf returns the Output recorded on job by its latest attempt; false
// when there is none (the job has not run, or its output is not an Output).
func OutputOf(job *rivertype.JobRow) (Output, bool) {
	raw := job.Output()
	if len(raw) == 0 {
		return Output{}, false
	}
	var out Output
	if err := json.Unmarshal(raw, &out); err != nil || out.Outcome == "" {
		return Output{}, false
	}
	return out, true
}
