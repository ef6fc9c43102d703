package smscourier

import (
	"errors"
	"time"
)

// Event describes one attempt of a send, for metrics and tracing hooks
// (see WithObserver).
type Event struct {
	// Attempt counts from 1.
	Attempt int
	// Class is the attempt's outcome: "ok", "not_sent", "refused",
	// "outcome_unknown" or "rejected".
	Class string
	// Status is the HTTP status of the reply; 0 when none arrived.
	Status int
	// Duration is the time the attempt took, request and reply.
	Duration time.Duration
	// Wait is the time until the next attempt; 0 when Final.
	Wait time.Duration
	// Final is true for the last attempt of a send.
	Final bool
}

// WithObserver calls fn after every attempt, on the sending goroutine, with
// what a metrics or tracing system needs. fn must be fast and safe for
// concurrent use; it never sees the message text or credentials.
func WithObserver(fn func(Event)) Option {
	return optionFunc(func(o *options) { o.observer = fn })
}

// observe reports one attempt to the observer, if any.
func (c *Courier) observe(attempt, status int, err error, started time.Time, wait time.Duration, final bool) {
	if c.observer == nil {
		return
	}
	var ge *GatewayError
	if errors.As(err, &ge) {
		status = ge.StatusCode
	}
	if final {
		wait = 0
	}
	c.observer(Event{Attempt: attempt, Class: FailureClass(err), Status: status, Duration: time.Since(started), Wait: wait, Final: final})
}
