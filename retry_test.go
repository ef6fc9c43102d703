package smscourier

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedTransport answers requests in memory from a script, recording the
// (virtual) time and body of each. It stands in for the network so that
// backoff can be measured in synctest's virtual time.
type scriptedTransport struct {
	mu      sync.Mutex
	replies []*http.Response
	times   []time.Time
	bodies  []string
}

func (s *scriptedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	s.bodies = append(s.bodies, string(body))
	resp := s.replies[min(len(s.times)-1, len(s.replies)-1)]
	cp := *resp
	cp.Body = io.NopCloser(strings.NewReader(""))
	cp.Request = r
	return &cp, nil
}

// gaps returns the waits between consecutive requests.
func (s *scriptedTransport) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(s.times); i++ {
		gaps = append(gaps, s.times[i].Sub(s.times[i-1]))
	}
	return gaps
}

func status(code int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: code, Header: h, ProtoMajor: 1, ProtoMinor: 1}
}

func scriptedCourier(t *testing.T, tr *scriptedTransport, opts ...Option) *Courier {
	t.Helper()
	c, err := New(smsConfig("https://sms.example.com/send", "file://./testdata/sms.jsonnet"),
		append([]Option{WithHTTPClient(&http.Client{Transport: tr})}, opts...)...)
	require.NoError(t, err)
	return c
}

func TestRetryTiming(t *testing.T) {
	t.Run("Retry-After seconds is waited exactly", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{replies: []*http.Response{status(429, "Retry-After", "2"), status(503, "Retry-After", "7"), status(201)}}
			res, err := scriptedCourier(t, tr).SendMessage(context.Background(), Message{To: "+1555"})
			require.NoError(t, err)
			assert.Equal(t, 3, res.Attempts)
			assert.Equal(t, []time.Duration{2 * time.Second, 7 * time.Second}, tr.gaps())
		})
	})
	t.Run("Retry-After date is waited until", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			when := time.Now().Add(12 * time.Second).UTC().Format(http.TimeFormat)
			tr := &scriptedTransport{replies: []*http.Response{status(503, "Retry-After", when), status(201)}}
			_, err := scriptedCourier(t, tr).SendMessage(context.Background(), Message{To: "+1555"})
			require.NoError(t, err)
			assert.Equal(t, []time.Duration{12 * time.Second}, tr.gaps())
		})
	})
	t.Run("Retry-After over the cap returns at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{replies: []*http.Response{status(429, "Retry-After", "31"), status(201)}}
			start := time.Now()
			res, err := scriptedCourier(t, tr).SendMessage(context.Background(), Message{To: "+1555"})
			var ge *GatewayError
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, 31*time.Second, ge.RetryAfter)
			assert.Equal(t, 1, res.Attempts)
			assert.Zero(t, time.Since(start))
		})
	})
	t.Run("a raised cap waits longer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{replies: []*http.Response{status(429, "Retry-After", "90"), status(201)}}
			_, err := scriptedCourier(t, tr, WithRetryPolicy(RetryPolicy{MaxRetryAfter: 2 * time.Minute})).
				SendMessage(context.Background(), Message{To: "+1555"})
			require.NoError(t, err)
			assert.Equal(t, []time.Duration{90 * time.Second}, tr.gaps())
		})
	})
	t.Run("full-jitter backoff stays under base*2^n and the cap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const runs = 200
			policy := RetryPolicy{MaxAttempts: 6, BaseDelay: 100 * time.Millisecond, MaxDelay: 500 * time.Millisecond}
			var sums [5]time.Duration
			for range runs {
				tr := &scriptedTransport{replies: []*http.Response{status(503)}}
				res, err := scriptedCourier(t, tr, WithRetryPolicy(policy)).SendMessage(context.Background(), Message{To: "+1555"})
				require.ErrorIs(t, err, ErrRefused)
				require.Equal(t, 6, res.Attempts)
				for i, g := range tr.gaps() {
					ceiling := min(policy.BaseDelay<<i, policy.MaxDelay)
					require.GreaterOrEqual(t, g, time.Duration(0))
					require.Less(t, g, ceiling, "retry %d", i+1)
					sums[i] += g
				}
			}
			// Full jitter: the mean wait is about half the ceiling.
			for i, sum := range sums {
				ceiling := min(policy.BaseDelay<<i, policy.MaxDelay)
				assert.InDelta(t, float64(ceiling)/2, float64(sum/runs), float64(ceiling)/5, "retry %d", i+1)
			}
		})
	})
	t.Run("default policy: 3 attempts within 200ms and 400ms", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{replies: []*http.Response{status(503)}}
			res, err := scriptedCourier(t, tr).SendMessage(context.Background(), Message{To: "+1555"})
			require.ErrorIs(t, err, ErrRefused)
			assert.Equal(t, 3, res.Attempts)
			gaps := tr.gaps()
			require.Len(t, gaps, 2)
			assert.Less(t, gaps[0], 200*time.Millisecond)
			assert.Less(t, gaps[1], 400*time.Millisecond)
		})
	})
	t.Run("no retry would outlive the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{replies: []*http.Response{status(503, "Retry-After", "10"), status(201)}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			res, err := scriptedCourier(t, tr).SendMessage(ctx, Message{To: "+1555"})
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorIs(t, err, ErrRefused)
			assert.Equal(t, 1, res.Attempts)
			assert.Zero(t, time.Since(start), "returns at once instead of waiting for a deadline it cannot beat")
		})
	})
	t.Run("cancellation during a wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{replies: []*http.Response{status(503, "Retry-After", "10"), status(201)}}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(3*time.Second, cancel)
			start := time.Now()
			_, err := scriptedCourier(t, tr).SendMessage(ctx, Message{To: "+1555"})
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 3*time.Second, time.Since(start))
			assert.Len(t, tr.gaps(), 0)
		})
	})
	t.Run("every retry resends the identical body", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &scriptedTransport{replies: []*http.Response{status(503), status(429), status(201)}}
			_, err := scriptedCourier(t, tr).SendMessage(context.Background(), Message{To: "+1555", Body: "code 1"})
			require.NoError(t, err)
			require.Len(t, tr.bodies, 3)
			assert.Equal(t, tr.bodies[0], tr.bodies[1])
			assert.Equal(t, tr.bodies[0], tr.bodies[2])
			assert.True(t, bytes.Contains([]byte(tr.bodies[0]), []byte("code 1")))
		})
	})
}
