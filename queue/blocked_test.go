package queue

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refusingSender stands in for a guard (package guard, a module of its
// own that this one does not require): it refuses the first refusals
// messages with block, then sends through next.
type refusingSender struct {
	next     smscourier.Sender
	block    smscourier.BlockedError
	refusals atomic.Int32
}

func (s *refusingSender) SendMessage(ctx context.Context, m smscourier.Message) (smscourier.Result, error) {
	if s.refusals.Add(-1) >= 0 {
		b := s.block
		return smscourier.Result{IdempotencyKey: m.IdempotencyKey}, &b
	}
	return s.next.SendMessage(ctx, m)
}

func (s *refusingSender) Render(ctx context.Context, m smscourier.Message) (*http.Request, error) {
	return s.next.Render(ctx, m)
}

// TestBlocked checks the jobs of messages a guard refuses: a policy
// cancels, a rate limit snoozes until it allows, or cancels when that is
// past NotAfter. Nothing is sent while blocked.
func TestBlocked(t *testing.T) {
	for _, tc := range []struct {
		name       string
		block      smscourier.BlockedError
		notAfter   time.Duration
		wantState  rivertype.JobState
		wantReason string
		wantSent   int
	}{
		{name: "policy", block: smscourier.BlockedError{Rule: "deny_country", Country: "XK"},
			wantState: rivertype.JobStateCancelled, wantReason: "blocked by the guard's rule deny_country; not sent"},
		{name: "rate limit", block: smscourier.BlockedError{Rule: "recipient_cooldown", RetryAfter: time.Second},
			wantState: rivertype.JobStateCompleted, wantSent: 1},
		{name: "rate limit past NotAfter", block: smscourier.BlockedError{Rule: "recipient_per_hour", RetryAfter: time.Hour}, notAfter: time.Minute,
			wantState: rivertype.JobStateCancelled, wantReason: "until past the message's NotAfter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := smstest.New(t)
			s := &refusingSender{next: newCourier(t, gw), block: tc.block}
			s.refusals.Store(1)
			h := newHarness(t, NewWorker(s, WorkerConfig{}), testConfig())
			msg := message("otp-" + strings.ReplaceAll(tc.name, " ", "-"))
			if tc.notAfter > 0 {
				msg.NotAfter = time.Now().Add(tc.notAfter)
			}
			res, err := Enqueue(context.Background(), h.client, msg, nil)
			require.NoError(t, err)
			h.start(t)
			job := h.waitOne(t, res.Job.ID)
			assert.Equal(t, tc.wantState, job.State)
			gw.AssertCount(t, tc.wantSent)
			out := output(t, job)
			if tc.wantReason != "" {
				assert.Equal(t, string(smscourier.ClassBlocked), out.Class)
				assert.Contains(t, out.Reason, tc.wantReason)
				return
			}
			assert.Equal(t, OutcomeSent, out.Outcome)
			assert.Contains(t, string(job.Metadata), `"snoozes":1`)
			assert.Equal(t, 1, job.Attempt, "a snooze uses up no attempt")
		})
	}
}

// unwrapping is a Sender that wraps another, as a guard does.
type unwrapping struct{ smscourier.Sender }

func (u unwrapping) Unwrap() smscourier.Sender { return u.Sender }

// TestFindRouterThroughWrappers checks that the worker finds a Router
// inside a Sender that wraps it, so that an unknown outcome stays pinned
// to its gateway behind a guard too.
func TestFindRouterThroughWrappers(t *testing.T) {
	primary, secondary := smstest.New(t), smstest.New(t)
	router := newRouter(t, primary.Endpoint("/v1/messages"), secondary.Endpoint("/v1/messages"), smscourier.BreakerConfig{})
	rt, ok := findRouter(unwrapping{unwrapping{router}})
	require.True(t, ok)
	assert.Equal(t, []string{"primary", "secondary"}, rt.Route("+14134242223"))
	_, ok = findRouter(unwrapping{newCourier(t, primary)})
	assert.False(t, ok)
}
