package smscourier

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/smstest"
)

// vonageResponse is the kind of response template the presets use: Vonage's
// SMS API answers 200 and reports the outcome per message.
const vonageResponse = `function(ctx)
  local m = ctx.body.messages[0];
  {
    ok: m.status == '0',
    message_id: if m.status == '0' then m['message-id'] else null,
    retryable: m.status == '1',
    error_code: m.status,
    error_message: std.get(m, 'error-text', ''),
  }`

func TestResponseTemplate(t *testing.T) {
	fast := WithRetryPolicy(RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	jsonReply := func(status int, body string, header ...string) smstest.Reply {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return smstest.Reply{Status: status, Header: h, Body: body}
	}
	for _, tc := range []struct {
		name      string
		template  string
		script    []smstest.Reply
		wantDeliv int
		wantClass error
		wantID    string
		wantCode  string
		wantMsg   string
		wantWait  time.Duration
	}{
		{
			name:      "Vonage ok",
			template:  vonageResponse,
			script:    []smstest.Reply{jsonReply(200, `{"message-count":"1","messages":[{"status":"0","message-id":"0A0000000123ABCD1"}]}`)},
			wantDeliv: 1, wantID: "0A0000000123ABCD1",
		},
		{
			name:     "Vonage throttled is retried",
			template: vonageResponse,
			script: []smstest.Reply{
				jsonReply(200, `{"messages":[{"status":"1","error-text":"Throughput Rate Exceeded"}]}`),
				jsonReply(200, `{"messages":[{"status":"0","message-id":"ID2"}]}`),
			},
			wantDeliv: 2, wantID: "ID2",
		},
		{
			name:      "Vonage bad credentials is permanent",
			template:  vonageResponse,
			script:    []smstest.Reply{jsonReply(200, `{"messages":[{"status":"4","error-text":"Bad Credentials"}]}`)},
			wantDeliv: 1, wantClass: ErrRejected, wantCode: "4", wantMsg: "Bad Credentials",
		},
		{
			name:      "retry_after_seconds is honoured",
			template:  `function(ctx) {ok: false, retryable: true, retry_after_seconds: 3600}`,
			script:    []smstest.Reply{jsonReply(200, `{}`)},
			wantDeliv: 1, wantClass: ErrRefused, wantWait: time.Hour,
		},
		{
			name:      "numeric ids and codes become text",
			template:  `function(ctx) {ok: ctx.status == 201, message_id: ctx.body.id, error_code: 0}`,
			script:    []smstest.Reply{jsonReply(201, `{"id": 12345678901}`)},
			wantDeliv: 1, wantID: "12345678901",
		},
		{
			name:      "defaults: a 2xx is ok",
			template:  `function(ctx) {message_id: ctx.headers['X-Message-Id']}`,
			script:    []smstest.Reply{jsonReply(202, `accepted`, "X-Message-Id", "abc")},
			wantDeliv: 1, wantID: "abc",
		},
		{
			name:      "defaults: a 400 is rejected, with the gateway's code",
			template:  `function(ctx) {error_code: ctx.body.code, error_message: ctx.body.message}`,
			script:    []smstest.Reply{jsonReply(400, `{"code": 21211, "message": "Invalid 'To' Phone Number"}`)},
			wantDeliv: 1, wantClass: ErrRejected, wantCode: "21211", wantMsg: "Invalid 'To' Phone Number",
		},
		{
			name:      "a 500 without a verdict stays outcome unknown",
			template:  `function(ctx) {}`,
			script:    []smstest.Reply{jsonReply(500, `oops`)},
			wantDeliv: 1, wantClass: ErrOutcomeUnknown,
		},
		{
			name:      "a text body is given as a string",
			template:  `function(ctx) {ok: ctx.body == 'OK 42', message_id: std.substr(ctx.body, 3, 2)}`,
			script:    []smstest.Reply{jsonReply(200, `OK 42`)},
			wantDeliv: 1, wantID: "42",
		},
		{
			name:      "a template error on a 2xx is outcome unknown, never resent",
			template:  `function(ctx) {ok: ctx.body.missing}`,
			script:    []smstest.Reply{jsonReply(200, `{}`)},
			wantDeliv: 1, wantClass: ErrOutcomeUnknown,
		},
		{
			name:      "a misspelt key is an error, not ignored",
			template:  `function(ctx) {ok: true, 'message-id': 'x'}`,
			script:    []smstest.Reply{jsonReply(200, `{}`)},
			wantDeliv: 1, wantClass: ErrOutcomeUnknown,
		},
		{
			name:      "outcome_unknown on a 200 is never resent without an idempotency key",
			template:  `function(ctx) {ok: ctx.body.status == '0', outcome_unknown: ctx.body.status == '5', error_code: ctx.body.status}`,
			script:    []smstest.Reply{jsonReply(200, `{"status": "5"}`), jsonReply(200, `{"status": "0"}`)},
			wantDeliv: 1, wantClass: ErrOutcomeUnknown, wantCode: "5", // a verdict, not a failed template
		},
		{
			name:      "outcome_unknown wins over retryable",
			template:  `function(ctx) {ok: false, retryable: true, outcome_unknown: true, error_code: 'z9'}`,
			script:    []smstest.Reply{jsonReply(200, `{}`), jsonReply(200, `{}`)},
			wantDeliv: 1, wantClass: ErrOutcomeUnknown, wantCode: "z9",
		},
		{
			name:      "outcome_unknown false leaves the status to decide",
			template:  `function(ctx) {ok: false, outcome_unknown: false}`,
			script:    []smstest.Reply{jsonReply(200, `{}`)},
			wantDeliv: 1, wantClass: ErrRejected,
		},
		{
			name:      "a template error on a 429 falls back to the status",
			template:  `function(ctx) if ctx.status == 429 then error 'boom' else {}`,
			script:    []smstest.Reply{jsonReply(429, `{}`, "Retry-After", "0"), jsonReply(201, `{}`)},
			wantDeliv: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := smstest.New(t)
			gw.Script(tc.script...)
			cfg := smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet")
			cfg.RequestConfig.Response = b64(tc.template)
			c, err := New(cfg, fast)
			require.NoError(t, err)
			res, err := c.SendMessage(context.Background(), Message{To: "+1555", Body: "x"})
			gw.AssertCount(t, tc.wantDeliv)
			if tc.wantClass == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.wantID, res.MessageID)
				return
			}
			require.ErrorIs(t, err, tc.wantClass)
			assert.Empty(t, res.MessageID)
			var ge *GatewayError
			if tc.wantCode != "" || tc.wantMsg != "" || tc.wantWait != 0 {
				require.ErrorAs(t, err, &ge)
				assert.Equal(t, tc.wantCode, ge.ErrorCode)
				assert.Equal(t, tc.wantMsg, ge.ErrorMessage)
				assert.Equal(t, tc.wantWait, ge.RetryAfter)
				if tc.wantCode != "" {
					assert.Contains(t, err.Error(), "error code "+tc.wantCode)
				}
				assert.NotContains(t, err.Error(), tc.wantMsg+"x", "the gateway's message stays out of the error text")
			}
		})
	}

	t.Run("outcome_unknown is resent with an idempotency key, with the same key", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(jsonReply(200, `{"status": "5"}`), jsonReply(200, `{"status": "0", "id": "m1"}`))
		cfg := smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet")
		cfg.RequestConfig.Response = b64(`function(ctx) {ok: ctx.body.status == '0', message_id: std.get(ctx.body, 'id'), outcome_unknown: ctx.body.status == '5'}`)
		c, err := New(cfg, fast, WithIdempotencyKeyHeader("Idempotency-Key"))
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+1555", Body: "x"})
		require.NoError(t, err)
		assert.Equal(t, "m1", res.MessageID)
		assert.Equal(t, 2, res.Attempts)
		got := gw.Requests()
		require.Len(t, got, 2)
		assert.Equal(t, got[0].Header.Get("Idempotency-Key"), got[1].Header.Get("Idempotency-Key"))
		assert.NotEmpty(t, got[0].Header.Get("Idempotency-Key"))
	})

	t.Run("config errors name the response key", func(t *testing.T) {
		cfg := smsConfig("http://127.0.0.1:1/send", "")
		cfg.RequestConfig.Response = b64(`function(ctx) {ok: }`)
		_, err := New(cfg)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "courier.sms.request_config.response", ce.Problems[0].Path)

		_, err = ParseConfig([]byte("courier:\n  sms:\n    enabled: true\n    request_config:\n      url: http://x/y\n      method: POST\n      response: s3://bucket/t\n"))
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "courier.sms.request_config.response", ce.Problems[0].Path)
	})
}

func TestObserver(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: 503, RetryAfter: "0"}, smstest.Reply{Status: 500}, smstest.Reply{Status: 201})
	var mu sync.Mutex
	var events []Event
	c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"),
		WithIdempotencyKeyHeader("Idempotency-Key"),
		WithRetryPolicy(RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}),
		WithObserver(func(e Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}))
	require.NoError(t, err)
	require.NoError(t, c.Send(context.Background(), "+1555", "x"))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 3)
	for i, want := range []struct {
		class  Class
		status int
		final  bool
	}{{ClassRefused, 503, false}, {ClassOutcomeUnknown, 500, false}, {ClassOK, 201, true}} {
		assert.Equal(t, i+1, events[i].Attempt)
		assert.Equal(t, want.class, events[i].Class)
		assert.Equal(t, want.status, events[i].Status)
		assert.Equal(t, want.final, events[i].Final)
		assert.Positive(t, events[i].Duration)
	}
	assert.Zero(t, events[2].Wait)
}
