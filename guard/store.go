package guard

import (
	"context"
	"time"
)

// Take is one rate-limit counter a send draws on: a generic cell rate
// algorithm (GCRA) cell. A cell allows Burst units at once and then one
// unit every Interval: a cap of N per window W is Interval W/N and Burst
// N. Key is opaque: the Guard passes a hash, never a phone number.
type Take struct {
	Key      string        // the counter's identity, a hash of rule and subject
	Interval time.Duration // the emission interval: the window over the cap
	Burst    int           // the units allowed at once, >= 1
	Cost     int           // the units this send takes, >= 1 (segments for a segment budget)
}

// Decision is a Store's answer to one set of takes.
type Decision struct {
	// Allowed is true when every take allowed the send; then all were
	// counted. When false, none was.
	Allowed bool
	// Refused is the index in the takes of the first one that refused;
	// -1 when Allowed.
	Refused int
	// RetryAfter is, when not Allowed, how long until every take would
	// allow the same send: the longest wait among those that refused.
	RetryAfter time.Duration
}

// Request is one check-and-count: the takes of one send, and the message's
// admission, so that a retry of a message already admitted (the same
// idempotency key, after a gateway failure or a queue's retry) passes
// without being counted again.
type Request struct {
	// Message is an opaque hash of the message's idempotency key.
	Message string
	// Remember is how long an admission is remembered; 0: not at all.
	Remember time.Duration
	// Takes are the counters the send draws on.
	Takes []Take
}

// Store keeps the GCRA cells of a Guard. Take answers a Request at now:
// when req.Message was admitted within its Remember, it allows the send
// and counts nothing; otherwise it checks every take and, only if all
// allow the send, counts them and remembers the admission, atomically: two
// Guards sharing a Store never let more through than a cap allows. A cell
// whose state is back to fresh (its theoretical arrival time has passed)
// and an admission past its Remember may be forgotten: a Store keeps no
// state without bound. Implementations are safe for concurrent use.
type Store interface {
	Take(ctx context.Context, now time.Time, req Request) (Decision, error)
}

// Peeker is implemented by a Store that can answer a Request without
// counting it: Peek returns the Decision that Take would return at now,
// admissions included, and changes nothing. Guard.Check uses it to report
// the limits that would refuse a message; with a Store that is no Peeker,
// Check reports the policy and the store's failure only.
type Peeker interface {
	Peek(ctx context.Context, now time.Time, req Request) (Decision, error)
}
