package smstest_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastRetry keeps backoff waits in milliseconds.
var fastRetry = smscourier.WithRetryPolicy(smscourier.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})

// formTemplate and jsonTemplate are body template URIs: the Twilio form
// template in testdata, and a JSON one.
const formTemplate = "file://./testdata/twilio.request.jsonnet"

var jsonTemplate = "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) { to: ctx.to, text: ctx.body }`))

// newCourier returns a courier posting to gw's /send with the given body
// template URI; the form template gets a form Content-Type.
func newCourier(t *testing.T, gw *smstest.Gateway, template string, opts ...smscourier.Option) *smscourier.Courier {
	t.Helper()
	cfg := smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL:    gw.Endpoint("/send"),
			Method: http.MethodPost,
			Body:   template,
		},
	}
	if template == formTemplate {
		cfg.RequestConfig.Headers = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	}
	c, err := smscourier.New(cfg, opts...)
	require.NoError(t, err)
	return c
}

// post sends body with the given Content-Type ("" for none) through gw's
// client and returns the reply, its body read and closed.
func post(t *testing.T, gw *smstest.Gateway, target, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := gw.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		wantForm    url.Values
		wantJSON    any
		wantErr     string // in DecodeErr; "" for none
	}{
		{
			name:        "form",
			contentType: "application/x-www-form-urlencoded",
			body:        "Body=Your+code+is+123456&From=%2B12065550110&Tag=a&Tag=b",
			wantForm:    url.Values{"Body": {"Your code is 123456"}, "From": {"+12065550110"}, "Tag": {"a", "b"}},
		},
		{
			name:        "form with charset",
			contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body:        "To=%2B14134242223",
			wantForm:    url.Values{"To": {"+14134242223"}},
		},
		{
			name:        "malformed form",
			contentType: "application/x-www-form-urlencoded",
			body:        "To=%zz",
			wantForm:    url.Values{},
			wantErr:     "smstest: decode form body: invalid URL escape",
		},
		{
			name:        "JSON",
			contentType: "application/json",
			body:        `{"to":"+1555","n":12345678901234567890,"ok":true,"list":[1.5,"a",null]}`,
			wantJSON: map[string]any{
				"to": "+1555", "n": json.Number("12345678901234567890"), "ok": true,
				"list": []any{json.Number("1.5"), "a", nil},
			},
		},
		{
			name:        "JSON with charset",
			contentType: "application/json; charset=utf-8",
			body:        "{\n   \"to\": \"+1555\"\n}\n",
			wantJSON:    map[string]any{"to": "+1555"},
		},
		{
			name:        "vendor +json",
			contentType: "application/vnd.api+json",
			body:        `["a"]`,
			wantJSON:    []any{"a"},
		},
		{
			name:        "invalid JSON",
			contentType: "application/json",
			body:        `{"to":`,
			wantErr:     "smstest: decode JSON body: unexpected EOF",
		},
		{
			name:        "data after the JSON value",
			contentType: "application/json",
			body:        `{} {}`,
			wantErr:     "smstest: decode JSON body: data after the JSON value",
		},
		{name: "text/plain", contentType: "text/plain", body: `{"to":"+1555"}`},
		{name: "XML", contentType: "application/xml", body: "<to>+1555</to>"},
		{name: "no Content-Type", body: "To=%2B1555"},
		{name: "unparsable Content-Type", contentType: "json?", body: `{}`},
		{name: "empty JSON body", contentType: "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := smstest.New(t)
			resp, _ := post(t, gw, gw.Endpoint("/v1/messages?dry=1"), tc.contentType, tc.body)
			assert.Equal(t, http.StatusCreated, resp.StatusCode)

			req := gw.RequireRequest(t, 0)
			assert.Equal(t, http.MethodPost, req.Method)
			assert.Equal(t, "/v1/messages", req.Path)
			assert.Equal(t, "dry=1", req.RawQuery)
			assert.Equal(t, strings.TrimPrefix(gw.URL(), "http://"), req.Host)
			assert.Equal(t, tc.contentType, req.Header.Get("Content-Type"))
			assert.Equal(t, tc.body, req.Body)
			assert.Equal(t, tc.wantForm, req.Form)
			assert.Equal(t, tc.wantJSON, req.JSON)
			if tc.wantErr == "" {
				assert.NoError(t, req.DecodeErr)
			} else {
				assert.ErrorContains(t, req.DecodeErr, tc.wantErr)
			}
			assert.Zero(t, req.Index)
			assert.False(t, req.Time.IsZero())
		})
	}
}

// TestCourierBodies checks both encodings end to end through the courier.
func TestCourierBodies(t *testing.T) {
	gw := smstest.New(t)
	ctx := context.Background()
	require.NoError(t, newCourier(t, gw, formTemplate).Send(ctx, "+14134242223", "Your code is 123456"))
	require.NoError(t, newCourier(t, gw, jsonTemplate).Send(ctx, "+14134242223", "Your code is 123456"))

	gw.AssertCount(t, 2)
	form := gw.RequireRequest(t, 0)
	assert.Equal(t, url.Values{"From": {"+12065550110"}, "To": {"+14134242223"}, "Body": {"Your code is 123456"}}, form.Form)
	assert.Nil(t, form.JSON)
	js := gw.RequireRequest(t, -1)
	assert.Equal(t, map[string]any{"to": "+14134242223", "text": "Your code is 123456"}, js.JSON)
	assert.Nil(t, js.Form)
	assert.Equal(t, 1, js.Index)
}

func TestRequestHelpers(t *testing.T) {
	gw := smstest.New(t)
	req, err := http.NewRequest(http.MethodPost, gw.Endpoint("/send"),
		strings.NewReader(`{"message":{"to":["+1555","+1666"],"text":"hi","n":3,"none":null}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("AC123", "secret")
	resp, err := gw.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	r := gw.RequireRequest(t, 0)
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"message", "text"}, "hi"},
		{[]string{"message", "to", "1"}, "+1666"},
		{[]string{"message", "n"}, json.Number("3")},
		{[]string{"message", "none"}, nil},
		{[]string{"message", "missing"}, nil},
		{[]string{"message", "to", "2"}, nil},
		{[]string{"message", "to", "-1"}, nil},
		{[]string{"message", "to", "x"}, nil},
		{[]string{"message", "text", "deeper"}, nil},
	} {
		assert.Equal(t, tc.want, r.JSONField(tc.path...), "%v", tc.path)
	}
	assert.Equal(t, r.JSON, r.JSONField())
	assert.Empty(t, r.FormValue("to"), "no form body")

	user, pass, ok := r.BasicAuth()
	assert.True(t, ok)
	assert.Equal(t, "AC123", user)
	assert.Equal(t, "secret", pass)
	_, _, ok = smstest.Request{}.BasicAuth()
	assert.False(t, ok)
}

// TestRequestsAreCopies shows that changing a returned request changes
// neither the records nor what Respond sees.
func TestRequestsAreCopies(t *testing.T) {
	gw := smstest.New(t)
	_, _ = post(t, gw, gw.Endpoint("/a"), "application/json", `{"to":"+1555"}`)
	_, _ = post(t, gw, gw.Endpoint("/b"), "application/x-www-form-urlencoded", `To=%2B1555`)

	first := gw.Requests()
	first[0].Header.Set("Content-Type", "text/plain")
	first[0].JSON.(map[string]any)["to"] = "changed"
	first[1].Form.Set("To", "changed")
	first[1].Form["To"][0] = "changed"
	first[1].Path = "/changed"

	again := gw.Requests()
	assert.Equal(t, "application/json", again[0].Header.Get("Content-Type"))
	assert.Equal(t, "+1555", again[0].JSONField("to"))
	assert.Equal(t, "+1555", again[1].FormValue("To"))
	assert.Equal(t, "/b", again[1].Path)
}

func TestScript(t *testing.T) {
	type want struct {
		status     int
		body       string
		retryAfter string
		custom     string // X-Custom
	}
	for _, tc := range []struct {
		name   string
		script []smstest.Reply // nil: no Script call
		want   []want
	}{
		{
			name: "default replies",
			want: []want{
				{status: 201, body: `{"id":"msg-1","status":"queued"}`},
				{status: 201, body: `{"id":"msg-2","status":"queued"}`},
			},
		},
		{
			name:   "zero Reply",
			script: []smstest.Reply{{}},
			want:   []want{{status: 201}, {status: 201}},
		},
		{
			name: "in order, the last repeats",
			script: []smstest.Reply{
				{Status: 429, RetryAfter: "3"},
				{Status: 503, Header: http.Header{"Retry-After": {"1"}, "X-Custom": {"c"}}, Body: "busy"},
				{Status: 202, Body: `{"sid":"SM1"}`},
			},
			want: []want{
				{status: 429, retryAfter: "3"},
				{status: 503, retryAfter: "1", custom: "c", body: "busy"},
				{status: 202, body: `{"sid":"SM1"}`},
				{status: 202, body: `{"sid":"SM1"}`},
			},
		},
		{
			name:   "RetryAfter replaces the header's",
			script: []smstest.Reply{{Status: 429, Header: http.Header{"Retry-After": {"9"}}, RetryAfter: "0"}},
			want:   []want{{status: 429, retryAfter: "0"}},
		},
		{
			name:   "empty script restores the default",
			script: []smstest.Reply{},
			want:   []want{{status: 201, body: `{"id":"msg-1","status":"queued"}`}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := smstest.New(t)
			if tc.script != nil {
				gw.Script(tc.script...)
			}
			for i, w := range tc.want {
				resp, body := post(t, gw, gw.Endpoint("/send"), "", "x")
				assert.Equal(t, w.status, resp.StatusCode, "reply %d", i)
				assert.Equal(t, w.body, body, "reply %d", i)
				assert.Equal(t, w.retryAfter, resp.Header.Get("Retry-After"), "reply %d", i)
				assert.Equal(t, w.custom, resp.Header.Get("X-Custom"), "reply %d", i)
			}
			gw.AssertCount(t, len(tc.want))
		})
	}

	t.Run("a new script starts from its first reply", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: 500}, smstest.Reply{Status: 502})
		resp, _ := post(t, gw, gw.Endpoint("/send"), "", "")
		assert.Equal(t, 500, resp.StatusCode)
		gw.Script(smstest.Reply{Status: 400}, smstest.Reply{Status: 200})
		for _, status := range []int{400, 200, 200} {
			resp, _ := post(t, gw, gw.Endpoint("/send"), "", "")
			assert.Equal(t, status, resp.StatusCode)
		}
		gw.Script()
		resp, body := post(t, gw, gw.Endpoint("/send"), "", "")
		assert.Equal(t, 201, resp.StatusCode)
		assert.Equal(t, `{"id":"msg-5","status":"queued"}`, body, "ids count every request")
	})

	t.Run("the replies are copied", func(t *testing.T) {
		gw := smstest.New(t)
		replies := []smstest.Reply{{Status: 202, Header: http.Header{"X-Custom": {"before"}}}}
		gw.Script(replies...)
		replies[0].Status = 500
		replies[0].Header.Set("X-Custom", "after")
		resp, _ := post(t, gw, gw.Endpoint("/send"), "", "")
		assert.Equal(t, 202, resp.StatusCode)
		assert.Equal(t, "before", resp.Header.Get("X-Custom"))
	})

	t.Run("an invalid status panics at once", func(t *testing.T) {
		gw := smstest.New(t)
		assert.PanicsWithValue(t, "smstest: Script: reply 1 has status 99, not in 200-999", func() {
			gw.Script(smstest.Reply{}, smstest.Reply{Status: 99})
		})
	})
}

func TestRespond(t *testing.T) {
	gw := smstest.New(t)
	var mu sync.Mutex
	var seen []int // Count as Respond saw it
	gw.Respond(func(r smstest.Request) smstest.Reply {
		mu.Lock()
		seen = append(seen, gw.Count())
		mu.Unlock()
		if r.FormValue("To") == "+44" {
			return smstest.Reply{Status: http.StatusBadRequest, Body: "region " + r.FormValue("To")}
		}
		r.Header.Set("X-Changed", "yes") // a copy: the record keeps its own
		return smstest.Reply{Status: http.StatusAccepted, Body: fmt.Sprint("index ", r.Index)}
	})
	c := newCourier(t, gw, formTemplate, smscourier.WithoutRetries())
	ctx := context.Background()

	res, err := c.SendMessage(ctx, smscourier.Message{To: "+1555"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, res.StatusCode)
	assert.Equal(t, "index 0", string(res.Body))

	_, err = c.SendMessage(ctx, smscourier.Message{To: "+44"})
	var gerr *smscourier.GatewayError
	require.ErrorAs(t, err, &gerr)
	assert.Equal(t, http.StatusBadRequest, gerr.StatusCode)
	assert.Equal(t, "region +44", string(gerr.Body))
	require.ErrorIs(t, err, smscourier.ErrRejected)

	mu.Lock()
	assert.Equal(t, []int{1, 2}, seen, "Respond sees the request already recorded")
	mu.Unlock()
	assert.Empty(t, gw.RequireRequest(t, 0).Header.Get("X-Changed"))

	gw.Respond(nil)
	res, err = c.SendMessage(ctx, smscourier.Message{To: "+1555"})
	require.NoError(t, err)
	assert.Equal(t, `{"id":"msg-3","status":"queued"}`, string(res.Body))

	gw.Respond(func(smstest.Request) smstest.Reply { return smstest.Reply{Status: 202} })
	gw.Script(smstest.Reply{Status: 203})
	res, err = c.SendMessage(ctx, smscourier.Message{To: "+1555"})
	require.NoError(t, err)
	assert.Equal(t, 203, res.StatusCode, "Script replaces Respond")
}

func TestDelay(t *testing.T) {
	t.Run("the reply comes after the delay", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: http.StatusAccepted, Delay: 50 * time.Millisecond})
		start := time.Now()
		res, err := newCourier(t, gw, jsonTemplate).SendMessage(context.Background(), smscourier.Message{To: "+1555"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusAccepted, res.StatusCode)
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	})

	t.Run("ends when the client gives up", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Delay: time.Hour})
		c := newCourier(t, gw, jsonTemplate)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		res, err := c.SendMessage(ctx, smscourier.Message{To: "+1555"})
		require.ErrorIs(t, err, smscourier.ErrOutcomeUnknown, "the request was delivered")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 1, res.Attempts)
		gw.AssertCount(t, 1)

		// Close waits for every handler: it returns only because the
		// delay ended with the client's request.
		start := time.Now()
		gw.Close()
		assert.Less(t, time.Since(start), 5*time.Second)
	})

	t.Run("ends when the gateway closes, without a reply", func(t *testing.T) {
		gw := smstest.New(t)
		arrived := make(chan struct{})
		gw.Respond(func(smstest.Request) smstest.Reply {
			close(arrived)
			return smstest.Reply{Delay: time.Hour}
		})
		c := newCourier(t, gw, jsonTemplate, smscourier.WithoutRetries())
		errc := make(chan error, 1)
		go func() {
			errc <- c.Send(context.Background(), "+1555", "hi")
		}()
		<-arrived
		start := time.Now()
		gw.Close()
		err := <-errc
		assert.Less(t, time.Since(start), 5*time.Second, "the courier's client would time out after 10 s")
		require.ErrorIs(t, err, smscourier.ErrOutcomeUnknown, "no reply, not a default 200")
		gw.AssertCount(t, 1)
	})
}

func TestConnectionFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply smstest.Reply
	}{
		{"reset", smstest.Reply{Reset: true, Status: 201}},
		{"close", smstest.Reply{Close: true, Status: 201}},
		{"reset after a delay", smstest.Reply{Reset: true, Delay: 10 * time.Millisecond}},
	} {
		for _, useTLS := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/TLS=%v", tc.name, useTLS), func(t *testing.T) {
				t.Parallel()
				var opts []smstest.Option
				copts := []smscourier.Option{fastRetry}
				if useTLS {
					opts = append(opts, smstest.WithTLS())
				}
				gw := smstest.New(t, opts...)
				if useTLS {
					copts = append(copts, smscourier.WithHTTPClient(gw.Client()))
				}
				gw.Script(tc.reply)
				c := newCourier(t, gw, formTemplate, copts...)

				res, err := c.SendMessage(context.Background(), smscourier.Message{To: "+1555", Body: "hi"})
				require.ErrorIs(t, err, smscourier.ErrOutcomeUnknown)
				assert.NotErrorIs(t, err, smscourier.ErrNotSent)
				assert.Equal(t, 1, res.Attempts, "not resent without an idempotency key header")
				gw.AssertCount(t, 1)
				assert.Equal(t, "+1555", gw.RequireRequest(t, 0).FormValue("To"), "delivered before the fault")

				// With an idempotency key header the courier resends the
				// identical request on a new connection.
				gw.Script(tc.reply, smstest.Reply{})
				gw.Reset()
				c = newCourier(t, gw, formTemplate, append(copts, smscourier.WithIdempotencyKeyHeader("Idempotency-Key"))...)
				conns := gw.Connections()
				res, err = c.SendMessage(context.Background(), smscourier.Message{To: "+1555", Body: "hi", IdempotencyKey: "k-1"})
				require.NoError(t, err)
				assert.Equal(t, 2, res.Attempts)
				reqs := gw.Requests()
				require.Len(t, reqs, 2)
				for _, r := range reqs {
					assert.Equal(t, "k-1", r.Header.Get("Idempotency-Key"))
					assert.Equal(t, reqs[0].Body, r.Body)
				}
				assert.Equal(t, conns+2, gw.Connections(), "the fault ended the first connection")
			})
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Run("0: retried at once", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "0"}, smstest.Reply{})
		res, err := newCourier(t, gw, jsonTemplate, fastRetry).SendMessage(context.Background(), smscourier.Message{To: "+1555"})
		require.NoError(t, err)
		assert.Equal(t, 2, res.Attempts)
		gw.AssertCount(t, 2)
	})
	t.Run("1: the retry waits a second", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "1"}, smstest.Reply{})
		res, err := newCourier(t, gw, jsonTemplate, fastRetry).SendMessage(context.Background(), smscourier.Message{To: "+1555"})
		require.NoError(t, err)
		assert.Equal(t, 2, res.Attempts)
		reqs := gw.Requests()
		require.Len(t, reqs, 2)
		assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), time.Second)
	})
	t.Run("a day: not waited, reported", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "86400"})
		start := time.Now()
		_, err := newCourier(t, gw, jsonTemplate, fastRetry).SendMessage(context.Background(), smscourier.Message{To: "+1555"})
		var gerr *smscourier.GatewayError
		require.ErrorAs(t, err, &gerr)
		require.ErrorIs(t, err, smscourier.ErrRefused)
		assert.Equal(t, 24*time.Hour, gerr.RetryAfter)
		assert.Less(t, time.Since(start), 5*time.Second)
		gw.AssertCount(t, 1)
	})
}

func TestReset(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: 200}, smstest.Reply{Status: 202}, smstest.Reply{Status: 204})
	c := newCourier(t, gw, jsonTemplate, smscourier.WithoutRetries())
	ctx := context.Background()

	res, err := c.SendMessage(ctx, smscourier.Message{To: "+1001"})
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	gw.AssertCount(t, 1)

	gw.Reset()
	assert.Zero(t, gw.Count())
	assert.Nil(t, gw.Requests())

	res, err = c.SendMessage(ctx, smscourier.Message{To: "+1002"})
	require.NoError(t, err)
	assert.Equal(t, 202, res.StatusCode, "the script goes on")
	r := gw.RequireRequest(t, -1)
	assert.Equal(t, 0, r.Index)
	assert.Equal(t, "+1002", r.JSONField("to"))
	assert.Equal(t, 1, gw.Connections(), "connections are kept")
}

// TestConcurrentSends sends from many goroutines while reading the records;
// every count is exact.
func TestConcurrentSends(t *testing.T) {
	const workers, each = 16, 25
	gw := smstest.New(t)
	// Exactly one request, whichever comes first, is refused and retried.
	gw.Script(smstest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "0"}, smstest.Reply{})
	c := newCourier(t, gw, jsonTemplate, fastRetry)

	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // reads while the sends go on
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
				reqs := gw.Requests()
				if len(reqs) > 0 {
					_ = reqs[len(reqs)-1].JSONField("to")
				}
				_ = gw.Count()
			}
		}
	}()

	var wg sync.WaitGroup
	var mu sync.Mutex
	attempts := 0
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				res, err := c.SendMessage(context.Background(), smscourier.Message{To: fmt.Sprintf("+1555%03d%03d", w, i)})
				assert.NoError(t, err)
				mu.Lock()
				attempts += res.Attempts
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-readerDone

	gw.AssertCount(t, workers*each+1)
	assert.Equal(t, workers*each+1, attempts)
	reqs := gw.Requests()
	var to []string
	for i, r := range reqs {
		assert.Equal(t, i, r.Index)
		to = append(to, r.JSONField("to").(string))
	}
	slices.Sort(to)
	to = slices.Compact(to)
	assert.Len(t, to, workers*each, "every message arrived; one of them twice")
}

func TestConnections(t *testing.T) {
	gw := smstest.New(t)
	c := newCourier(t, gw, formTemplate)
	for range 20 {
		require.NoError(t, c.Send(context.Background(), "+1555", "hi"))
	}
	assert.Equal(t, 1, gw.Connections(), "keep-alive: one connection")
	gw.Script(smstest.Reply{Close: true}, smstest.Reply{})
	require.ErrorIs(t, c.Send(context.Background(), "+1555", "hi"), smscourier.ErrOutcomeUnknown)
	require.NoError(t, c.Send(context.Background(), "+1555", "hi"))
	assert.Equal(t, 2, gw.Connections())
	gw.AssertCount(t, 22)
}

func TestTLS(t *testing.T) {
	gw := smstest.New(t, smstest.WithTLS())
	require.True(t, strings.HasPrefix(gw.URL(), "https://127.0.0.1:"), gw.URL())
	c := newCourier(t, gw, jsonTemplate, smscourier.WithHTTPClient(gw.Client()))
	res, err := c.SendMessage(context.Background(), smscourier.Message{To: "+1555"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, res.StatusCode)
	assert.Equal(t, "+1555", gw.RequireRequest(t, 0).JSONField("to"))
}

func TestURLs(t *testing.T) {
	gw := smstest.New(t)
	assert.True(t, strings.HasPrefix(gw.URL(), "http://127.0.0.1:"), gw.URL())
	assert.Equal(t, gw.URL()+"/v1/messages", gw.Endpoint("/v1/messages"))
	assert.Equal(t, gw.URL()+"/v1/messages", gw.Endpoint("v1/messages"))
	assert.Equal(t, gw.URL()+"/", gw.Endpoint(""))
}

// get sends a GET to target and returns its error, if any.
func get(target string) error {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(target)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func TestClose(t *testing.T) {
	var gw *smstest.Gateway
	t.Run("New closes at the end of the test", func(t *testing.T) {
		gw = smstest.New(t)
		_, _ = post(t, gw, gw.Endpoint("/send"), "", "x")
	})
	var opErr *net.OpError
	require.ErrorAs(t, get(gw.Endpoint("/send")), &opErr, "closed")
	assert.Equal(t, 1, gw.Count(), "the records stay")

	srv := smstest.NewServer()
	srv.Close()
	srv.Close() // a second Close does nothing
	require.ErrorAs(t, get(srv.Endpoint("/send")), &opErr)
}

// TestIncompleteRequestNotRecorded sends, on one connection, a complete
// request and then one whose body is shorter than its Content-Length, and
// hangs up: the second was not delivered and is not recorded.
func TestIncompleteRequestNotRecorded(t *testing.T) {
	gw := smstest.New(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL(), "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\ncomplete")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusCreated, resp.StatusCode)

	_, err = io.WriteString(conn, "POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort")
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	gw.Close() // waits for the handler
	gw.AssertCount(t, 1)
	assert.Equal(t, "complete", gw.RequireRequest(t, 0).Body)
}

// fakeT records what the assertion helpers report. Fatalf ends the calling
// goroutine, as testing.T's does.
type fakeT struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatals []string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn in a goroutine of its own, as a test body, and waits.
func (f *fakeT) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func TestAssertionHelpers(t *testing.T) {
	gw := smstest.New(t)
	_, _ = post(t, gw, gw.Endpoint("/a"), "", "one")
	_, _ = post(t, gw, gw.Endpoint("/b"), "", "two")

	ft := &fakeT{}
	assert.True(t, gw.AssertCount(ft, 2))
	assert.Empty(t, ft.errors)
	assert.False(t, gw.AssertCount(ft, 3))
	assert.Equal(t, []string{"smstest: gateway recorded 2 request(s), want 3\n\t0: POST /a (3 bytes)\n\t1: POST /b (3 bytes)"}, ft.errors)

	for i, path := range map[int]string{0: "/a", 1: "/b", -1: "/b", -2: "/a"} {
		var got smstest.Request
		ft.run(func() { got = gw.RequireRequest(ft, i) })
		assert.Equal(t, path, got.Path, "index %d", i)
	}
	assert.Empty(t, ft.fatals)

	for _, i := range []int{2, -3} {
		reached := false
		ft.run(func() {
			gw.RequireRequest(ft, i)
			reached = true
		})
		assert.False(t, reached, "index %d stops the test", i)
	}
	assert.Equal(t, []string{
		"smstest: no request 2: gateway recorded 2 request(s)\n\t0: POST /a (3 bytes)\n\t1: POST /b (3 bytes)",
		"smstest: no request -3: gateway recorded 2 request(s)\n\t0: POST /a (3 bytes)\n\t1: POST /b (3 bytes)",
	}, ft.fatals)

	ft = &fakeT{}
	empty := smstest.New(t)
	assert.True(t, empty.AssertCount(ft, 0))
	ft.run(func() { empty.RequireRequest(ft, -1) })
	assert.Equal(t, []string{"smstest: no request -1: gateway recorded 0 request(s)"}, ft.fatals)
}
