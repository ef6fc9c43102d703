package smscourier

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Class is the outcome class of a send, or of one attempt of it: what logs,
// Event.Class, the queue and the command line report. Its values are the
// Class constants; Classes lists them all.
type Class string

// The classes, each defined once here. The first five are the outcomes of
// an attempt; the others end a send before any attempt (ClassExpired also
// after one, when a retry would pass the message's NotAfter).
const (
	ClassOK             Class = "ok"              // the gateway replied 2xx
	ClassNotSent        Class = "not_sent"        // ErrNotSent
	ClassRefused        Class = "refused"         // ErrRefused
	ClassOutcomeUnknown Class = "outcome_unknown" // ErrOutcomeUnknown
	ClassRejected       Class = "rejected"        // ErrRejected
	ClassCancelled      Class = "cancelled"       // ErrCancel
	ClassInvalidMessage Class = "invalid_message" // ErrInvalidMessage
	ClassTemplate       Class = "template"        // ErrTemplate
	ClassDisabled       Class = "disabled"        // ErrDisabled
	ClassExpired        Class = "expired"         // ErrExpired
	ClassBlocked        Class = "blocked"         // ErrBlocked
	ClassOther          Class = "other"           // any other error
)

// classErrors pairs each class of an error with its sentinel, in the order
// ClassOf tests them.
var classErrors = []struct {
	class Class
	err   error
}{
	{ClassNotSent, ErrNotSent},
	{ClassRefused, ErrRefused},
	{ClassOutcomeUnknown, ErrOutcomeUnknown},
	{ClassRejected, ErrRejected},
	{ClassCancelled, ErrCancel},
	{ClassInvalidMessage, ErrInvalidMessage},
	{ClassTemplate, ErrTemplate},
	{ClassDisabled, ErrDisabled},
	{ClassExpired, ErrExpired},
	{ClassBlocked, ErrBlocked},
}

// Classes returns every Class: ClassOK, the class of each sentinel in the
// order ClassOf tests them, and ClassOther. The slice is the caller's.
func Classes() []Class {
	out := make([]Class, 0, len(classErrors)+2)
	out = append(out, ClassOK)
	for _, ce := range classErrors {
		out = append(out, ce.class)
	}
	return append(out, ClassOther)
}

// ClassOf returns the class of an error from SendMessage: ClassOK for nil,
// else the class of the first sentinel it wraps, in the order Classes lists
// them, else ClassOther.
func ClassOf(err error) Class {
	if err == nil {
		return ClassOK
	}
	for _, ce := range classErrors {
		if errors.Is(err, ce.err) {
			return ce.class
		}
	}
	return ClassOther
}

// Event is the one record of a send's progress: the Courier makes one for
// each HTTP attempt, and one for a message refused before any attempt
// (Attempt 0), and hands it to every consumer: the logger (WithLogger) and
// the observer (WithObserver). It never holds the message text or a
// credential.
type Event struct {
	// Attempt counts HTTP requests from 1; 0 for a message refused before
	// any attempt.
	Attempt int
	// Class is the attempt's outcome; for Attempt 0, why nothing was sent.
	Class Class
	// Status is the HTTP status of the reply; 0 when none arrived.
	Status int
	// Duration is the time the attempt took, request and reply.
	Duration time.Duration
	// Wait is the time until the next attempt; 0 when Final.
	Wait time.Duration
	// Final is true for the last event of a send.
	Final bool
	// RetryAfter is the wait a refusing gateway asked for; 0 when none.
	RetryAfter time.Duration
	// Gateway is the gateway's host:port.
	Gateway string
	// To is the recipient, masked as MaskNumber masks it.
	To string
	// IdempotencyKey is the message's idempotency key.
	IdempotencyKey string
	// Segments is the number of SMS segments the message takes (see
	// Segments); 0 for a message refused before any attempt.
	Segments int
	// Abandoned is true for the extra Final event of a send given up while
	// waiting for a retry (its context ended): Attempt names the last
	// attempt, which had an event of its own, and Duration is 0.
	Abandoned bool
	// Tried is, for a Router, the send's steps so far, this attempt last
	// (see Result.Tried); nil for a Courier.
	Tried []Try
	// Rule and Country are set on the event of a message a guard refused
	// (Class ClassBlocked, Attempt 0): the rule, and the recipient's ISO
	// 3166 region when known. DryRun marks a message a guard in dry-run
	// mode would have refused, and sent.
	Rule, Country string
	DryRun        bool
	// Breaker is set, for a Router, on the event of a gateway's circuit
	// breaker changing state: the new state, BreakerOpen, BreakerHalfOpen
	// or BreakerClosed. Such an event belongs to no send: it names the
	// Gateway, and its other fields are zero.
	Breaker string
}

// States of a Router's circuit breaker, in Event.Breaker.
const (
	BreakerClosed   = "closed"    // requests pass
	BreakerOpen     = "open"      // the gateway is skipped for the cool-down
	BreakerHalfOpen = "half-open" // one probe may pass
)

// logEvent writes ev to l: an attempt at debug level, then "sent" (info),
// "retrying" (info) or "failed" (warn); a message refused before any
// attempt as "not sent" (warn; info when the template cancelled it).
func logEvent(ctx context.Context, l *slog.Logger, ev Event) {
	common := []slog.Attr{
		slog.String("gateway", ev.Gateway),
		slog.String("to", ev.To),
		slog.String("idempotency_key", ev.IdempotencyKey),
		slog.Int("attempt", ev.Attempt),
	}
	record := func(level slog.Level, msg string, attrs ...slog.Attr) {
		l.LogAttrs(ctx, level, msg, append(common[:len(common):len(common)], attrs...)...)
	}
	class := slog.String("class", string(ev.Class))
	status := slog.Int("status", ev.Status)
	switch {
	case ev.Breaker != "":
		level := slog.LevelInfo
		if ev.Breaker == BreakerOpen {
			level = slog.LevelWarn
		}
		l.LogAttrs(ctx, level, "smscourier: circuit breaker", slog.String("gateway", ev.Gateway), slog.String("state", ev.Breaker))
		return
	case ev.Attempt == 0:
		level := slog.LevelWarn
		if ev.Class == ClassCancelled {
			level = slog.LevelInfo
		}
		record(level, "smscourier: not sent", class)
		return
	case !ev.Abandoned:
		record(slog.LevelDebug, "smscourier: attempt", status, class, slog.Duration("duration", ev.Duration))
	}
	switch {
	case ev.Class == ClassOK:
		record(slog.LevelInfo, "smscourier: sent", status)
	case !ev.Final:
		record(slog.LevelInfo, "smscourier: retrying", status, class, slog.Duration("wait", ev.Wait))
	default:
		record(slog.LevelWarn, "smscourier: failed", status, class, slog.Duration("retry_after", ev.RetryAfter))
	}
}

// MaskNumber hides all but the last digits of a phone number or other
// recipient for logs: at most 4 are shown, and never more than a third of
// it ("+14134242223" becomes "********2223").
func MaskNumber(s string) string {
	r := []rune(s)
	show := min(4, len(r)/3)
	for i := range len(r) - show {
		r[i] = '*'
	}
	return string(r)
}
