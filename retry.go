package smscourier

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of RetryPolicy.
const (
	DefaultMaxAttempts   = 3
	defaultBaseDelay     = 200 * time.Millisecond
	defaultMaxDelay      = 5 * time.Second
	defaultMaxRetryAfter = 30 * time.Second
)

// RetryPolicy says how SendMessage retries within one call. Zero fields take
// their defaults; negative fields make New fail.
//
// A failure is retried when it is ErrNotSent or ErrRefused, or
// ErrOutcomeUnknown with WithIdempotencyKeyHeader set; never ErrRejected.
// The wait before retry n (n = 1, 2, ...) is a uniformly random duration in
// [0, min(MaxDelay, BaseDelay * 2^(n-1))) ("full jitter"), or the gateway's
// Retry-After when it sent one. Every retry resends the identical body.
//
// A Router applies the policy to the whole route: MaxAttempts counts passes
// over the route, since moving on to the next gateway is not a retry, and
// the waits come between passes.
type RetryPolicy struct {
	// MaxAttempts is the most HTTP requests one SendMessage makes, the first
	// included. Default DefaultMaxAttempts (3); 1 turns retries off.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry's jitter.
	// Default 200 ms.
	BaseDelay time.Duration
	// MaxDelay caps the backoff. Default 5 s.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After that SendMessage waits out.
	// A longer one is not slept: SendMessage returns at once with the
	// *GatewayError, whose RetryAfter tells a queue when to try again.
	// Default 30 s.
	MaxRetryAfter time.Duration
}

// normalize checks p and fills in its defaults.
func (p RetryPolicy) normalize(ps *problems) RetryPolicy {
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"MaxAttempts", p.MaxAttempts < 0},
		{"BaseDelay", p.BaseDelay < 0},
		{"MaxDelay", p.MaxDelay < 0},
		{"MaxRetryAfter", p.MaxRetryAfter < 0},
	} {
		if f.neg {
			ps.add("RetryPolicy."+f.name, "must not be negative")
		}
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = defaultBaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = defaultMaxDelay
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = defaultMaxRetryAfter
	}
	return p
}

// backoff returns the full-jitter wait before retry n (n >= 1).
func (p RetryPolicy) backoff(n int) time.Duration {
	ceiling := p.MaxDelay
	if n-1 < 62 {
		if d := p.BaseDelay << (n - 1); d > 0 && d < ceiling {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP date
// (relative to now; a past date is 0). ok is false when the header is
// absent or malformed.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		const maxSecs = uint64(1<<63-1) / uint64(time.Second)
		secs, err := strconv.ParseUint(v, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			secs = maxSecs
		case err != nil:
			return 0, false
		}
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}
