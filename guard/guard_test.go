package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unreachableStore is a Store whose database cannot be reached: every
// call fails with err. It counts the calls.
type unreachableStore struct {
	err   error
	calls atomic.Int32
}

func (s *unreachableStore) Take(context.Context, time.Time, Request) (Decision, error) {
	s.calls.Add(1)
	return Decision{Refused: -1}, s.err
}

func (s *unreachableStore) Peek(context.Context, time.Time, Request) (Decision, error) {
	s.calls.Add(1)
	return Decision{Refused: -1}, s.err
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

// TestStoreFailure checks that a Guard whose Store fails blocks or sends
// as each kind of limit is configured to: by default closed for budgets
// and open for the rest.
func TestStoreFailure(t *testing.T) {
	recipient := Limits{Recipient: RecipientLimits{Cooldown: time.Minute}}
	prefix := Limits{Prefix: PrefixLimits{PerWindow: 10}}
	country := Limits{Country: CountryLimits{PerHour: 10}}
	requester := Limits{Requester: RequesterLimits{PerHour: 10}}
	global := Limits{Global: GlobalLimits{MessagesPerDay: 1000}}
	both := recipient
	both.Global = global.Global
	for _, tc := range []struct {
		name       string
		limits     Limits
		failure    StoreFailure
		wantClosed bool
	}{
		{name: "recipient default open", limits: recipient},
		{name: "prefix default open", limits: prefix},
		{name: "country default open", limits: country},
		{name: "requester default open", limits: requester},
		{name: "global default closed", limits: global, wantClosed: true},
		{name: "one closed kind closes the send", limits: both, wantClosed: true},
		{name: "recipient configured closed", limits: recipient, failure: StoreFailure{Recipient: FailClosed}, wantClosed: true},
		{name: "prefix configured closed", limits: prefix, failure: StoreFailure{Prefix: FailClosed}, wantClosed: true},
		{name: "country configured closed", limits: country, failure: StoreFailure{Country: FailClosed}, wantClosed: true},
		{name: "requester configured closed", limits: requester, failure: StoreFailure{Requester: FailClosed}, wantClosed: true},
		{name: "global configured open", limits: global, failure: StoreFailure{Global: FailOpen}},
		{name: "both configured open", limits: both, failure: StoreFailure{Global: FailOpen, Recipient: FailOpen}},
		{name: "a closed kind not drawn on", limits: recipient, failure: StoreFailure{Global: FailClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, gw := newCourier(t)
			store := &unreachableStore{err: errUnreachable}
			var logs logRecords
			var evs events
			g, err := New(c, Config{Limits: tc.limits, OnStoreFailure: tc.failure, KeySecret: testSecret},
				WithStore(store), WithLogger(logs.logger()), WithObserver(evs.observe))
			require.NoError(t, err)
			m := smscourier.Message{To: gbMobile, Body: "Your code is 123456", Requester: "acct-1"}
			_, err = g.SendMessage(context.Background(), m)
			assert.Equal(t, int32(1), store.calls.Load())
			checkErr := g.Check(context.Background(), m)
			if !tc.wantClosed {
				require.NoError(t, err)
				require.NoError(t, checkErr)
				gw.AssertCount(t, 1)
				assert.Empty(t, evs.all())
				recs := logs.records(t)
				require.Len(t, recs, 1)
				assert.Equal(t, "WARN", recs[0]["level"])
				assert.Equal(t, "smscourier: guard store unavailable; failing open", recs[0]["msg"])
				assert.Equal(t, errUnreachable.Error(), recs[0]["error"])
				return
			}
			gw.AssertCount(t, 0)
			for _, err := range []error{err, checkErr} {
				be := asBlocked(t, err)
				assert.Equal(t, smscourier.BlockedError{Rule: RuleStoreUnavailable, Country: "GB", RetryAfter: StoreRetryAfter}, *be)
				assert.ErrorIs(t, err, smscourier.ErrBlocked)
				assert.ErrorIs(t, err, errUnreachable)
				assert.Equal(t, "smscourier: blocked by store_unavailable (country GB); allowed again in 30s: the guard's store is unreachable: "+errUnreachable.Error(), err.Error())
			}
			require.Len(t, evs.all(), 1)
			assert.Equal(t, RuleStoreUnavailable, evs.all()[0].Rule)
			recs := logs.records(t)
			require.Len(t, recs, 1)
			assert.Equal(t, "smscourier: blocked", recs[0]["msg"])
			assert.Equal(t, errUnreachable.Error(), recs[0]["error"])
		})
	}
}

// TestStoreFailureContextEnded checks that a Store failing because the
// send's context ended ends the send with the context's error.
func TestStoreFailureContextEnded(t *testing.T) {
	c, gw := newCourier(t)
	g, err := New(c, Config{Limits: Limits{Global: GlobalLimits{MessagesPerDay: 10}}, KeySecret: testSecret}, WithStore(&unreachableStore{err: context.Canceled}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = g.SendMessage(ctx, smscourier.Message{To: gbMobile, Body: "x"})
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, smscourier.ErrBlocked)
	gw.AssertCount(t, 0)
}

// TestDryRun checks that a Guard in dry-run mode sends what it would
// block, reports it, and counts only what it would have let through.
func TestDryRun(t *testing.T) {
	c, gw := newCourier(t)
	clk := newClock()
	start := clk.Now()
	var evs events
	var logs logRecords
	cfg := RecommendedConfig()
	cfg.DryRun = true
	g, err := New(c, cfg, WithClock(clk.Now), WithObserver(evs.observe), WithLogger(logs.logger()))
	require.NoError(t, err)
	send := func(at time.Duration, to string) {
		t.Helper()
		clk.Set(at, start)
		_, err := g.SendMessage(context.Background(), smscourier.Message{To: to, Body: "Your code is 123456"})
		require.NoError(t, err)
	}
	send(0, frPremium)                      // would block: number type
	send(0, gbMobile)                       // allowed, counted
	send(10*time.Second, gbMobile)          // would block: cooldown
	send(30*time.Second, gbMobile)          // allowed: the send at 10s was not counted
	send(31*time.Second, "+44 7400 123456") // would block
	gw.AssertCount(t, 5)

	got := evs.all()
	require.Len(t, got, 3)
	for i, want := range []struct {
		rule  string
		retry time.Duration
	}{{RuleNumberType, 0}, {RuleRecipientCooldown, 20 * time.Second}, {RuleRecipientCooldown, 29 * time.Second}} {
		assert.True(t, got[i].DryRun)
		assert.Equal(t, want.rule, got[i].Rule)
		assert.Equal(t, want.retry, got[i].RetryAfter)
		assert.Equal(t, smscourier.ClassBlocked, got[i].Class)
	}
	for _, r := range logs.records(t) {
		assert.Equal(t, "smscourier: would block (dry run); sent", r["msg"])
		assert.Equal(t, true, r["dry_run"])
	}

	// Check and Render report what an enforcing guard would do.
	assert.Equal(t, RuleNumberType, asBlocked(t, g.Check(context.Background(), smscourier.Message{To: frPremium})).Rule)
	_, err = g.Render(context.Background(), smscourier.Message{To: frPremium})
	require.NoError(t, err)
}

// TestBlockedEventAndLog checks the event and the log record of a block:
// rule, country, the masked number, never the number, the text or the
// requester.
func TestBlockedEventAndLog(t *testing.T) {
	c, _ := newCourier(t)
	var logs logRecords
	var evs events
	g, err := New(c, Config{Limits: Limits{Recipient: RecipientLimits{Cooldown: time.Minute}}},
		WithLogger(logs.logger()), WithObserver(evs.observe))
	require.NoError(t, err)
	m := smscourier.Message{To: gbMobile, Body: "Your code is 918273", Requester: "acct-secret-42", IdempotencyKey: "otp-1"}
	_, err = g.SendMessage(context.Background(), m)
	require.NoError(t, err)
	m.IdempotencyKey = "otp-2"
	_, err = g.SendMessage(context.Background(), m)
	be := asBlocked(t, err)
	require.Equal(t, RuleRecipientCooldown, be.Rule)

	want := smscourier.Event{Class: smscourier.ClassBlocked, Final: true, Rule: RuleRecipientCooldown, Country: "GB",
		To: "*********3456", IdempotencyKey: "otp-2", RetryAfter: be.RetryAfter}
	assert.Equal(t, []smscourier.Event{want}, evs.all())
	recs := logs.records(t)
	require.Len(t, recs, 1)
	r := recs[0]
	assert.Equal(t, "WARN", r["level"])
	assert.Equal(t, "smscourier: blocked", r["msg"])
	assert.Equal(t, RuleRecipientCooldown, r["rule"])
	assert.Equal(t, "GB", r["country"])
	assert.Equal(t, "*********3456", r["to"])
	assert.Equal(t, "otp-2", r["idempotency_key"])
	assert.Equal(t, false, r["dry_run"])
	text := logs.text()
	for _, secret := range []string{"7400123", "918273", "acct-secret-42"} {
		assert.NotContains(t, text, secret)
		assert.NotContains(t, err.Error(), secret)
	}
}

// TestCheckCountsNothing checks that Check reports the limit that would
// refuse a message without counting it.
func TestCheckCountsNothing(t *testing.T) {
	c, gw := newCourier(t)
	clk := newClock()
	start := clk.Now()
	g, err := New(c, Config{Limits: Limits{Recipient: RecipientLimits{Cooldown: time.Minute}, Global: GlobalLimits{SegmentsPerHour: 3}}}, WithClock(clk.Now))
	require.NoError(t, err)
	ctx := context.Background()
	m := smscourier.Message{To: gbMobile, Body: "code", IdempotencyKey: "otp-1"}
	for range 3 {
		require.NoError(t, g.Check(ctx, m))
	}
	_, err = g.SendMessage(ctx, m)
	require.NoError(t, err)
	clk.Set(10*time.Second, start)
	require.NoError(t, g.Check(ctx, m), "a retry of an admitted message passes")
	m.IdempotencyKey = "otp-2"
	for range 3 {
		be := asBlocked(t, g.Check(ctx, m))
		assert.Equal(t, smscourier.BlockedError{Rule: RuleRecipientCooldown, Country: "GB", RetryAfter: 50 * time.Second}, *be)
	}
	assert.Equal(t, RuleGlobalSegmentsPerHour, asBlocked(t, g.Check(ctx, smscourier.Message{To: frMobile, Body: sixSegments})).Rule)
	require.ErrorIs(t, g.Check(ctx, smscourier.Message{To: " "}), smscourier.ErrInvalidMessage)
	clk.Set(time.Minute, start)
	_, err = g.SendMessage(ctx, m)
	require.NoError(t, err)
	gw.AssertCount(t, 2)
}

// TestRenderChecksPolicyOnly checks that Render refuses what the policy
// refuses and counts nothing against the limits.
func TestRenderChecksPolicyOnly(t *testing.T) {
	c, gw := newCourier(t)
	g, err := New(c, RecommendedConfig())
	require.NoError(t, err)
	ctx := context.Background()
	for range 3 {
		req, err := g.Render(ctx, smscourier.Message{To: gbMobile, Body: "code"})
		require.NoError(t, err)
		assert.Equal(t, "/2010-04-01/Accounts/AC123/Messages.json", req.URL.Path)
	}
	_, err = g.SendMessage(ctx, smscourier.Message{To: gbMobile, Body: "code"})
	require.NoError(t, err, "Render counted against the cooldown")
	_, err = g.Render(ctx, smscourier.Message{To: frPremium, Body: "code"})
	assert.Equal(t, RuleNumberType, asBlocked(t, err).Rule)
	gw.AssertCount(t, 1)
}

// TestInvalidMessageGoesToNext checks that a message next would refuse as
// invalid is refused by next, uncounted.
func TestInvalidMessageGoesToNext(t *testing.T) {
	c, gw := newCourier(t)
	g, err := New(c, Config{Limits: Limits{Global: GlobalLimits{MessagesPerHour: 1}}})
	require.NoError(t, err)
	_, err = g.SendMessage(context.Background(), smscourier.Message{To: gbMobile, Body: "x", IdempotencyKey: "has space"})
	require.ErrorIs(t, err, smscourier.ErrInvalidMessage)
	_, err = g.SendMessage(context.Background(), smscourier.Message{To: gbMobile, Body: "x"})
	require.NoError(t, err)
	gw.AssertCount(t, 1)
}

// TestConcurrentSendsCap sends 1,000 messages at once through a Guard
// with a cap of 100: exactly 100 are delivered.
func TestConcurrentSendsCap(t *testing.T) {
	c, gw := newCourier(t)
	clk := newClock()
	g, err := New(c, Config{Limits: Limits{Global: GlobalLimits{MessagesPerHour: 100}}}, WithClock(clk.Now))
	require.NoError(t, err)
	var wg sync.WaitGroup
	var blocked atomic.Int32
	for i := range 1000 {
		wg.Go(func() {
			_, err := g.SendMessage(context.Background(), smscourier.Message{To: fmt.Sprintf("+4474%08d", i), Body: "x"})
			if errors.Is(err, smscourier.ErrBlocked) {
				blocked.Add(1)
			} else if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(900), blocked.Load())
	gw.AssertCount(t, 100)
}

// TestWrapping checks what a Guard forwards of next.
func TestWrapping(t *testing.T) {
	c, _ := newCourier(t)
	g, err := New(c, Config{})
	require.NoError(t, err)
	assert.Equal(t, "Idempotency-Key", g.IdempotencyKeyHeader())
	assert.Same(t, c, g.Unwrap())

	outer, err := New(g, Config{})
	require.NoError(t, err)
	assert.Equal(t, "Idempotency-Key", outer.IdempotencyKeyHeader())

	_, err = New(nil, Config{})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "smscourier: "))
}

// TestNewRefusesInvalidConfig checks that New reports every problem of a
// Config with its key path.
func TestNewRefusesInvalidConfig(t *testing.T) {
	c, _ := newCourier(t)
	_, err := New(c, Config{
		Policy:         Policy{AllowCountries: []string{"GB", "XX"}, DenyPrefixes: []string{"44"}, DenyNumberTypes: []NumberType{"premium"}},
		Limits:         Limits{Recipient: RecipientLimits{Cooldown: -time.Second, PerHour: -1}, Prefix: PrefixLimits{Digits: 13}},
		OnStoreFailure: StoreFailure{Global: "sometimes"},
		Remember:       -time.Hour,
	})
	var ce *smscourier.ConfigError
	require.ErrorAs(t, err, &ce)
	require.ErrorIs(t, err, smscourier.ErrInvalidConfig)
	var paths []string
	for _, p := range ce.Problems {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{
		"smscourier.guard.policy.allow_countries[1]",
		"smscourier.guard.policy.deny_prefixes[0]",
		"smscourier.guard.policy.deny_number_types[0]",
		"smscourier.guard.limits.recipient.cooldown",
		"smscourier.guard.limits.recipient.per_hour",
		"smscourier.guard.limits.prefix.digits",
		"smscourier.guard.on_store_failure.global",
		"smscourier.guard.remember",
	}, paths)
}

// confusedStore refuses every Request without naming one of its takes.
type confusedStore struct{}

func (confusedStore) Take(context.Context, time.Time, Request) (Decision, error) {
	return Decision{Refused: 7}, nil
}

// TestStoreRefusingNoTake checks that a Store's refusal that names no take
// is a failure of the store, not a crash.
func TestStoreRefusingNoTake(t *testing.T) {
	c, gw := newCourier(t)
	g, err := New(c, Config{Limits: Limits{Global: GlobalLimits{MessagesPerDay: 10}}, KeySecret: testSecret}, WithStore(confusedStore{}))
	require.NoError(t, err)
	_, err = g.SendMessage(context.Background(), smscourier.Message{To: gbMobile, Body: "x"})
	assert.Equal(t, RuleStoreUnavailable, asBlocked(t, err).Rule)
	assert.ErrorIs(t, err, errBadDecision)
	gw.AssertCount(t, 0)
}
