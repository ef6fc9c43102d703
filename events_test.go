package smscourier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/smstest"
)

func TestLogging(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: 503, RetryAfter: "0"}, smstest.Reply{Status: 201})
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet")
	cfg.RequestConfig.Auth = AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "acct", Password: "pa55-secret"}}
	c, err := New(cfg, WithLogger(logger))
	require.NoError(t, err)
	_, err = c.SendMessage(context.Background(), Message{To: "+14134242223", Body: "Your code is 918273", IdempotencyKey: "k-9"})
	require.NoError(t, err)

	out := buf.String()
	for _, secret := range []string{"918273", "Your code", "pa55-secret", "+14134242223", "4134242"} {
		assert.NotContains(t, out, secret)
	}
	var records []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		records = append(records, r)
	}
	var msgs []string
	for _, r := range records {
		msgs = append(msgs, r["msg"].(string))
		assert.Equal(t, strings.TrimPrefix(gw.URL(), "http://"), r["gateway"])
		assert.Equal(t, "********2223", r["to"])
		assert.Equal(t, "k-9", r["idempotency_key"])
	}
	assert.Equal(t, []string{"smscourier: attempt", "smscourier: retrying", "smscourier: attempt", "smscourier: sent"}, msgs)
	assert.Equal(t, "refused", records[0]["class"])
	assert.EqualValues(t, 503, records[0]["status"])
	assert.EqualValues(t, 1, records[1]["attempt"])
	assert.Contains(t, records[1], "wait")
	assert.EqualValues(t, 201, records[3]["status"])
	assert.EqualValues(t, 2, records[3]["attempt"])

	t.Run("failures and cancellations", func(t *testing.T) {
		buf.Reset()
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: 400})
		c, err := New(smsConfig(gw.URL()+"/send", b64(`function(ctx) if ctx.body == 'stop' then error 'cancel' else {}`)), WithLogger(logger))
		require.NoError(t, err)
		require.ErrorIs(t, c.Send(context.Background(), "+1555000111", "go"), ErrRejected)
		require.ErrorIs(t, c.Send(context.Background(), "+1555000111", "stop"), ErrCancel)
		out := buf.String()
		assert.Contains(t, out, `"msg":"smscourier: failed"`)
		assert.Contains(t, out, `"class":"rejected"`)
		assert.Contains(t, out, `"msg":"smscourier: not sent"`)
		assert.Contains(t, out, `"class":"cancelled"`)
		assert.NotContains(t, out, "555000")
	})
}

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+14134242223": "********2223",
		"+4915112345":  "********345",
		"12345":        "****5",
		"+12":          "**2",
		"ab":           "**",
		"":             "",
		"Ünïcødé-№42":  "********№42",
	} {
		assert.Equal(t, want, MaskNumber(in), "input %q", in)
	}
}

// formsOf returns every formatted form of v that could end up in a log,
// an error report or an API response.
func formsOf(t *testing.T, v any) []string {
	forms := []string{
		fmt.Sprint(v), fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v), fmt.Sprintf("%q", v),
	}
	if b, err := json.Marshal(v); err == nil {
		forms = append(forms, string(b))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("config", "value", v)
		forms = append(forms, b.String())
	}
	return forms
}

// FuzzRedaction checks that a password or api key never appears in any
// formatted form of a config, of New's error for it, or of a failed send.
func FuzzRedaction(f *testing.F) {
	f.Add("hunter2", "ftp://host/x")
	f.Add("pa55 word", "http://user:pass@127.0.0.1:1/send")
	f.Add("ünïcødé\"quote", "https://example.com")
	f.Add("%v%s%d", "http://127.0.0.1:1/send?token=x")
	f.Fuzz(func(t *testing.T, secret, rawURL string) {
		secret = "S3cr3t:" + secret // a distinctive marker, never a substring of other output
		for _, auth := range []AuthConfig{
			{Type: AuthBasicAuth, Config: AuthParams{User: "u", Password: Secret(secret)}},
			{Type: AuthAPIKey, Config: AuthParams{Name: "X-Key", Value: Secret(secret), In: "header"}},
		} {
			cfg := smsConfig(rawURL, "")
			cfg.RequestConfig.Auth = auth
			values := []any{cfg, auth, auth.Config, &cfg}
			c, err := New(cfg, WithoutRetries(), WithHTTPClient(&http.Client{Timeout: time.Second}))
			if err != nil {
				values = append(values, err)
			} else if strings.HasPrefix(rawURL, "http://127.0.0.1:1/") {
				_, err := c.SendMessage(context.Background(), Message{To: "+1555"})
				require.Error(t, err)
				values = append(values, err)
			}
			for _, v := range values {
				for _, form := range formsOf(t, v) {
					require.NotContains(t, form, secret)
				}
			}
		}
	})
}

func TestClasses(t *testing.T) {
	all := Classes()
	assert.Equal(t, ClassOK, all[0])
	assert.Equal(t, ClassOther, all[len(all)-1])
	assert.Len(t, all, 12)
	for _, ce := range classErrors {
		wrapped := fmt.Errorf("smscourier: x: %w", ce.err)
		assert.Equal(t, ce.class, ClassOf(wrapped))
		assert.Contains(t, all, ce.class)
	}
	assert.Equal(t, ClassOK, ClassOf(nil))
	assert.Equal(t, ClassOther, ClassOf(errors.New("boom")))
	all[0] = "changed"
	assert.Equal(t, ClassOK, Classes()[0], "Classes returns a copy")
}

// TestEventsOnePath: the logger and the observer consume the same events,
// one per attempt, and the last event of a send is Final.
func TestEventsOnePath(t *testing.T) {
	newCourier := func(t *testing.T, policy RetryPolicy, observe func(Event)) (*Courier, *bytes.Buffer) {
		gw := smstest.New(t)
		// A retry in exactly an hour: a backoff, drawn from [0, MaxDelay),
		// may fall within a test's deadline.
		gw.Script(smstest.Reply{Status: 503, RetryAfter: "3600"})
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"), WithRetryPolicy(policy), WithLogger(logger), WithObserver(observe))
		require.NoError(t, err)
		return c, &buf
	}
	msgs := func(buf *bytes.Buffer) []string {
		var out []string
		for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
			var r map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &r))
			out = append(out, r["msg"].(string))
		}
		return out
	}

	t.Run("no time left for the retry: the attempt's event is final", func(t *testing.T) {
		var events []Event
		c, buf := newCourier(t, RetryPolicy{MaxRetryAfter: 2 * time.Hour}, func(e Event) { events = append(events, e) })
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.ErrorIs(t, c.Send(ctx, "+14134242223", "hi"), context.DeadlineExceeded)
		require.Len(t, events, 1)
		assert.True(t, events[0].Final)
		assert.Zero(t, events[0].Wait)
		assert.Equal(t, ClassRefused, events[0].Class)
		assert.Equal(t, 503, events[0].Status)
		assert.Equal(t, "********2223", events[0].To)
		assert.Equal(t, 1, events[0].Segments)
		assert.Equal(t, []string{"smscourier: attempt", "smscourier: failed"}, msgs(buf))
	})
	t.Run("retry abandoned while waiting: one more final event", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var events []Event
		c, buf := newCourier(t, RetryPolicy{MaxRetryAfter: 2 * time.Hour}, func(e Event) {
			events = append(events, e)
			cancel() // the courier is about to wait for the retry
		})
		require.ErrorIs(t, c.Send(ctx, "+14134242223", "hi"), context.Canceled)
		require.Len(t, events, 2)
		assert.False(t, events[0].Final)
		assert.Positive(t, events[0].Wait)
		assert.Positive(t, events[0].Duration)
		assert.True(t, events[1].Final)
		assert.Equal(t, 1, events[1].Attempt)
		assert.Zero(t, events[1].Duration)
		assert.True(t, events[1].Abandoned)
		assert.False(t, events[0].Abandoned)
		assert.Equal(t, ClassRefused, events[1].Class)
		assert.Equal(t, []string{"smscourier: attempt", "smscourier: retrying", "smscourier: failed"}, msgs(buf))
	})
	t.Run("refused before any attempt: logged, not observed", func(t *testing.T) {
		var events []Event
		c, buf := newCourier(t, RetryPolicy{}, func(e Event) { events = append(events, e) })
		require.ErrorIs(t, c.Send(context.Background(), " ", "hi"), ErrInvalidMessage)
		assert.Empty(t, events)
		assert.Equal(t, []string{"smscourier: not sent"}, msgs(buf))
	})
}
