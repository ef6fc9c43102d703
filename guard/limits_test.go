package guard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// step is one message of a limit's test, sent at a time from the start.
type step struct {
	at        time.Duration
	to        string
	requester string
	body      string // default a one-segment code
	key       string // the idempotency key; "": made by the guard
	wantRule  string // "": sent
	wantRetry time.Duration
}

// twoSegments is a GSM-7 text of 2 segments; sixSegments one of 6.
var (
	twoSegments = strings.Repeat("a", 200)
	sixSegments = strings.Repeat("a", 900)
)

// TestLimitRules checks each limit: it lets its cap through, refuses the
// next message with its rule and the time until it would be allowed, and
// counts only what it is about.
func TestLimitRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{name: "recipient cooldown", limits: Limits{Recipient: RecipientLimits{Cooldown: 30 * time.Second}}, steps: []step{
			{to: gbMobile},
			{at: 10 * time.Second, to: gbMobile, wantRule: RuleRecipientCooldown, wantRetry: 20 * time.Second},
			{at: 10 * time.Second, to: "+44 7400 123-456", wantRule: RuleRecipientCooldown, wantRetry: 20 * time.Second},
			{at: 10 * time.Second, to: gbMobile2},
			{at: 30 * time.Second, to: gbMobile},
		}},
		{name: "recipient per hour", limits: Limits{Recipient: RecipientLimits{PerHour: 2}}, steps: []step{
			{to: gbMobile}, {to: gbMobile},
			{to: gbMobile, wantRule: RuleRecipientPerHour, wantRetry: 30 * time.Minute},
			{to: frMobile},
			{at: 30 * time.Minute, to: gbMobile},
		}},
		{name: "recipient per day", limits: Limits{Recipient: RecipientLimits{PerDay: 2}}, steps: []step{
			{to: gbMobile}, {at: time.Hour, to: gbMobile},
			{at: 2 * time.Hour, to: gbMobile, wantRule: RuleRecipientPerDay, wantRetry: 10 * time.Hour},
			{at: 12 * time.Hour, to: gbMobile},
		}},
		{name: "prefix per window", limits: Limits{Prefix: PrefixLimits{PerWindow: 2}}, steps: []step{
			{to: "+447400000001"}, {to: "+447400999999"},
			{to: "+447409123456", wantRule: RulePrefixPerWindow, wantRetry: 5 * time.Minute},
			{to: gbMobile2},
			{at: 5 * time.Minute, to: "+447400000003"},
		}},
		{name: "prefix per window, 2 digits, 1h", limits: Limits{Prefix: PrefixLimits{Digits: 2, Window: time.Hour, PerWindow: 1}}, steps: []step{
			{to: "+447400000001"},
			{to: "+447499999999", wantRule: RulePrefixPerWindow, wantRetry: time.Hour},
			{to: "+447511111111"},
		}},
		{name: "country per hour", limits: Limits{Country: CountryLimits{PerHour: 2}}, steps: []step{
			{to: gbMobile}, {to: gbMobile2},
			{to: "+447700123456", wantRule: RuleCountryPerHour, wantRetry: 30 * time.Minute},
			{to: frMobile},
			{to: tollFreeNG}, {to: "+80087654321"},
			{to: "+80011112222", wantRule: RuleCountryPerHour, wantRetry: 30 * time.Minute},
			{to: notE164}, {to: notE164}, {to: notE164},
		}},
		{name: "global messages per hour", limits: Limits{Global: GlobalLimits{MessagesPerHour: 2}}, steps: []step{
			{to: gbMobile}, {to: frMobile},
			{to: usNumber, wantRule: RuleGlobalMessagesPerHour, wantRetry: 30 * time.Minute},
		}},
		{name: "global messages per day", limits: Limits{Global: GlobalLimits{MessagesPerDay: 2}}, steps: []step{
			{to: gbMobile}, {to: frMobile},
			{to: usNumber, wantRule: RuleGlobalMessagesPerDay, wantRetry: 12 * time.Hour},
		}},
		{name: "global segments per hour", limits: Limits{Global: GlobalLimits{SegmentsPerHour: 4}}, steps: []step{
			{to: gbMobile, body: twoSegments}, {to: frMobile},
			{to: usNumber, body: twoSegments, wantRule: RuleGlobalSegmentsPerHour, wantRetry: 15 * time.Minute},
			{to: usNumber},
			{to: usNumber, body: sixSegments, wantRule: RuleGlobalSegmentsPerHour},
		}},
		{name: "global segments per day", limits: Limits{Global: GlobalLimits{SegmentsPerDay: 4}}, steps: []step{
			{to: gbMobile, body: twoSegments}, {to: frMobile, body: twoSegments},
			{to: usNumber, wantRule: RuleGlobalSegmentsPerDay, wantRetry: 6 * time.Hour},
		}},
		{name: "requester per hour", limits: Limits{Requester: RequesterLimits{PerHour: 2}}, steps: []step{
			{to: gbMobile, requester: "acct-1"}, {to: frMobile, requester: "acct-1"},
			{to: usNumber, requester: "acct-1", wantRule: RuleRequesterPerHour, wantRetry: 30 * time.Minute},
			{to: usNumber, requester: "acct-2"},
			{to: usNumber}, {to: usNumber}, {to: usNumber},
		}},
		{name: "the first refusing rule names the block", limits: Limits{
			Recipient: RecipientLimits{Cooldown: time.Minute, PerHour: 1},
			Global:    GlobalLimits{MessagesPerHour: 1},
		}, steps: []step{
			{to: gbMobile},
			{to: gbMobile, wantRule: RuleRecipientCooldown, wantRetry: time.Hour},
			{to: frMobile, wantRule: RuleGlobalMessagesPerHour, wantRetry: time.Hour},
		}},
		{name: "a retry of an admitted message is not counted", limits: Limits{Recipient: RecipientLimits{Cooldown: time.Minute}}, steps: []step{
			{to: gbMobile, key: "otp-1"},
			{at: time.Second, to: gbMobile, key: "otp-1"},
			{at: 2 * time.Second, to: "+44 7400 123456", key: "otp-1"},
			{at: 2 * time.Second, to: gbMobile, key: "otp-2", wantRule: RuleRecipientCooldown, wantRetry: 58 * time.Second},
			// The same key to another number is another message.
			{at: 2 * time.Second, to: gbMobile2, key: "otp-1"},
			{at: 3 * time.Second, to: gbMobile2, key: "otp-3", wantRule: RuleRecipientCooldown, wantRetry: 59 * time.Second},
		}},
	} {
		// The Guard's own MemoryStore, which it gives fingerprints, and a
		// Store that is no MemoryStore, which it gives encoded keys.
		for _, store := range []string{"memory", "other store"} {
			t.Run(tc.name+"/"+store, func(t *testing.T) {
				testLimitSteps(t, tc.limits, tc.steps, store == "other store")
			})
		}
	}
}

// testLimitSteps sends steps through a Guard of limits, checking each
// first with Check; other makes its Store one that is no MemoryStore.
func testLimitSteps(t *testing.T, limits Limits, steps []step, other bool) {
	c, gw := newCourier(t)
	clk := newClock()
	start := clk.Now()
	var evs events
	opts := []Option{WithClock(clk.Now), WithObserver(evs.observe)}
	if other {
		opts = append(opts, WithStore(&keyRecorder{mem: NewMemoryStore()}))
	}
	g, err := New(c, Config{Limits: limits, KeySecret: testSecret}, opts...)
	require.NoError(t, err)
	sent := 0
	for i, s := range steps {
		clk.Set(s.at, start)
		body := s.body
		if body == "" {
			body = "Your code is 123456"
		}
		m := smscourier.Message{To: s.to, Body: body, Requester: s.requester, IdempotencyKey: s.key}
		checkErr := g.Check(context.Background(), m)
		res, err := g.SendMessage(context.Background(), m)
		if s.wantRule == "" {
			require.NoError(t, checkErr, "step %d: Check", i)
		} else {
			assert.Equal(t, s.wantRule, asBlocked(t, checkErr).Rule, "step %d: Check", i)
		}
		if s.wantRule == "" {
			require.NoError(t, err, "step %d", i)
			sent++
			continue
		}
		be := asBlocked(t, err)
		assert.Equal(t, s.wantRule, be.Rule, "step %d", i)
		assert.Equal(t, s.wantRetry, be.RetryAfter, "step %d", i)
		assert.Equal(t, smscourier.Segments(body), res.Segments, "step %d", i)
		ev := evs.all()[len(evs.all())-1]
		assert.Equal(t, s.wantRule, ev.Rule)
		assert.Equal(t, s.wantRetry, ev.RetryAfter)
		assert.Equal(t, res.IdempotencyKey, ev.IdempotencyKey)
	}
	gw.AssertCount(t, sent)
}

// TestIdempotencyKeyPassedOn checks that a message without a key goes to
// next with the key the guard made, so that its retries are recognised.
func TestIdempotencyKeyPassedOn(t *testing.T) {
	c, gw := newCourier(t)
	g, err := New(c, RecommendedConfig())
	require.NoError(t, err)
	res, err := g.SendMessage(context.Background(), smscourier.Message{To: gbMobile, Body: "code"})
	require.NoError(t, err)
	require.NotEmpty(t, res.IdempotencyKey)
	assert.Equal(t, res.IdempotencyKey, gw.RequireRequest(t, 0).Header.Get("Idempotency-Key"))

	// Sent again with that key, it passes the cooldown.
	_, err = g.SendMessage(context.Background(), smscourier.Message{To: gbMobile, Body: "code", IdempotencyKey: res.IdempotencyKey})
	require.NoError(t, err)
	_, err = g.SendMessage(context.Background(), smscourier.Message{To: gbMobile, Body: "code"})
	assert.Equal(t, RuleRecipientCooldown, asBlocked(t, err).Rule)
}

// TestFreshKeysRemembered checks that the admissions of messages sent
// without a key, which a MemoryStore puts in its tables in batches, are
// remembered before and after their batch is: each message sent again
// with its key passes its recipient's cooldown.
func TestFreshKeysRemembered(t *testing.T) {
	c, _ := newCourier(t)
	g, err := New(c, Config{Limits: Limits{Recipient: RecipientLimits{Cooldown: time.Minute}}})
	require.NoError(t, err)
	ctx := context.Background()
	keys := make([]string, 3*memBatch+1)
	for i := range keys {
		res, err := g.SendMessage(ctx, smscourier.Message{To: fmt.Sprintf("+4474%08d", i), Body: "code"})
		require.NoError(t, err)
		keys[i] = res.IdempotencyKey
	}
	for i, key := range keys {
		_, err := g.SendMessage(ctx, smscourier.Message{To: fmt.Sprintf("+4474%08d", i), Body: "code", IdempotencyKey: key})
		require.NoError(t, err, "message %d sent again with its key", i)
	}
	_, err = g.SendMessage(ctx, smscourier.Message{To: fmt.Sprintf("+4474%08d", 0), Body: "code"})
	assert.Equal(t, RuleRecipientCooldown, asBlocked(t, err).Rule)
}
