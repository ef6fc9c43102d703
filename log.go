package smscourier

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// LogValue keeps a Secret out of slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// FailureClass names the class of an error from SendMessage, as logs,
// Event.Class and the command line do: "ok" for nil, "not_sent", "refused",
// "outcome_unknown", "rejected", "cancelled", "invalid_message", "template",
// "disabled", "expired", or "other".
func FailureClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotSent):
		return "not_sent"
	case errors.Is(err, ErrRefused):
		return "refused"
	case errors.Is(err, ErrOutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, ErrRejected):
		return "rejected"
	case errors.Is(err, ErrCancel):
		return "cancelled"
	case errors.Is(err, ErrInvalidMessage):
		return "invalid_message"
	case errors.Is(err, ErrTemplate):
		return "template"
	case errors.Is(err, ErrDisabled):
		return "disabled"
	case errors.Is(err, ErrExpired):
		return "expired"
	}
	return "other"
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

func (c *Courier) attrs(p *prepared, attempt int) []slog.Attr {
	return []slog.Attr{
		slog.String("gateway", c.gateway),
		slog.String("to", MaskNumber(p.to)),
		slog.String("idempotency_key", p.key),
		slog.Int("attempt", attempt),
	}
}

func statusOf(err error, status int) int {
	var ge *GatewayError
	if errors.As(err, &ge) {
		return ge.StatusCode
	}
	return status
}

// logAttempt records one HTTP attempt at debug level.
func (c *Courier) logAttempt(ctx context.Context, p *prepared, attempt, status int, err error, started time.Time) {
	if c.logger == nil {
		return
	}
	took := time.Since(started)
	c.logger.LogAttrs(ctx, slog.LevelDebug, "smscourier: attempt", append(c.attrs(p, attempt),
		slog.Int("status", statusOf(err, status)),
		slog.String("class", FailureClass(err)),
		slog.Duration("duration", took),
	)...)
	if err == nil {
		c.logger.LogAttrs(ctx, slog.LevelInfo, "smscourier: sent", append(c.attrs(p, attempt),
			slog.Int("status", status))...)
	}
}

// logRetry records a retry about to be waited for.
func (c *Courier) logRetry(ctx context.Context, p *prepared, attempt int, wait time.Duration, err error) {
	if c.logger == nil {
		return
	}
	c.logger.LogAttrs(ctx, slog.LevelInfo, "smscourier: retrying", append(c.attrs(p, attempt),
		slog.Int("status", statusOf(err, 0)),
		slog.String("class", FailureClass(err)),
		slog.Duration("wait", wait),
	)...)
}

// logOutcome records a send that failed for good.
func (c *Courier) logOutcome(ctx context.Context, p *prepared, attempts int, err error) {
	if c.logger == nil {
		return
	}
	var retryAfter time.Duration
	var ge *GatewayError
	if errors.As(err, &ge) {
		retryAfter = ge.RetryAfter
	}
	c.logger.LogAttrs(ctx, slog.LevelWarn, "smscourier: failed", append(c.attrs(p, attempts),
		slog.Int("status", statusOf(err, 0)),
		slog.String("class", FailureClass(err)),
		slog.Duration("retry_after", retryAfter),
	)...)
}

// logNotSent records a message refused before any attempt.
func (c *Courier) logNotSent(ctx context.Context, p *prepared, err error) {
	if c == nil || c.logger == nil {
		return
	}
	level := slog.LevelWarn
	if errors.Is(err, ErrCancel) {
		level = slog.LevelInfo
	}
	c.logger.LogAttrs(ctx, level, "smscourier: not sent", append(c.attrs(p, 0),
		slog.String("class", FailureClass(err)))...)
}
