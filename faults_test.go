package smscourier

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/smstest"
)

// faultGateway is a loopback gateway for answers smstest cannot script,
// such as a reply streamed byte by byte. It records deliveries (requests
// whose body it read in full) and answers each by the script: the n-th
// delivery gets script[min(n, len-1)].
type faultGateway struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []smstest.Request
}

// fault is one scripted answer. It receives the hijackable writer after
// the request body was read.
type fault func(w http.ResponseWriter, r *http.Request)

func newFaultGateway(t *testing.T, script ...fault) *faultGateway {
	t.Helper()
	g := &faultGateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		g.mu.Lock()
		n := len(g.deliveries)
		g.deliveries = append(g.deliveries, smstest.Request{Index: n, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
		g.mu.Unlock()
		script[min(n, len(script)-1)](w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// got returns the deliveries so far, with their method, path, headers and
// raw body.
func (g *faultGateway) got() []smstest.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]smstest.Request(nil), g.deliveries...)
}

// hang never answers: its wait ends when the client goes away.
var hang = smstest.Reply{Delay: time.Hour}

// dribbleHeaders sends a status line and then one header byte at a time,
// never finishing, until the client goes away.
func dribbleHeaders(w http.ResponseWriter, r *http.Request) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_, _ = rw.WriteString("HTTP/1.1 201 Created\r\nX-Slow: ")
	_ = rw.Flush()
	for range 200 {
		if _, err := rw.WriteString("a"); err != nil {
			return
		}
		if rw.Flush() != nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // the fault itself: a slow gateway
	}
}

// dribbleBody answers 201 at once and then the body one byte at a time.
func dribbleBody(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusCreated)
	rc := http.NewResponseController(w)
	for range 50 {
		if _, err := w.Write([]byte("a")); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // the fault itself: a slow gateway
	}
}

// TestFaultScenarios drives every failure class through a loopback gateway
// and asserts the exact number of deliveries: the requests the gateway read.
func TestFaultScenarios(t *testing.T) {
	fastRetry := WithRetryPolicy(RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	// retryAt answers status with a Retry-After date d ahead, made when the
	// reply is written, and the requests after the first by then, as Script
	// would: the last reply repeats.
	retryAt := func(status int, d time.Duration, then ...smstest.Reply) func(smstest.Request) smstest.Reply {
		return func(r smstest.Request) smstest.Reply {
			if r.Index == 0 || len(then) == 0 {
				return smstest.Reply{Status: status, RetryAfter: time.Now().Add(d).UTC().Format(http.TimeFormat)}
			}
			return then[min(r.Index-1, len(then)-1)]
		}
	}
	type replies = []smstest.Reply
	for _, tc := range []struct {
		name       string
		script     replies                             // smstest's script
		respond    func(smstest.Request) smstest.Reply // instead of script
		hijack     fault                               // instead of smstest: a fault it cannot script
		idemHeader bool
		timeout    time.Duration
		wantDeliv  int
		wantClass  error // nil: success
		wantRetry  time.Duration
		wantDL     bool // the error wraps context.DeadlineExceeded
	}{
		{name: "201", script: replies{{Status: 201}}, wantDeliv: 1},
		{name: "reset after reading the request", script: replies{{Reset: true}}, wantDeliv: 1, wantClass: ErrOutcomeUnknown},
		{name: "reset, with idempotency header", script: replies{{Reset: true}, {Status: 201}}, idemHeader: true, wantDeliv: 2},
		{name: "close without a reply", script: replies{{Close: true}}, wantDeliv: 1, wantClass: ErrOutcomeUnknown},
		{name: "close, with idempotency header", script: replies{{Close: true}, {Close: true}, {Status: 202}}, idemHeader: true, wantDeliv: 3},
		{name: "hang past the deadline", script: replies{hang}, timeout: 300 * time.Millisecond, wantDeliv: 1, wantClass: ErrOutcomeUnknown, wantDL: true},
		{name: "dribbled headers past the deadline", hijack: dribbleHeaders, timeout: 300 * time.Millisecond, wantDeliv: 1, wantClass: ErrOutcomeUnknown, wantDL: true},
		{name: "dribbled body after 201", hijack: dribbleBody, wantDeliv: 1},
		{name: "429 with Retry-After seconds", script: replies{{Status: 429, RetryAfter: "1"}, {Status: 201}}, wantDeliv: 2},
		{name: "503 with Retry-After date", respond: retryAt(503, 1500*time.Millisecond, smstest.Reply{Status: 201}), wantDeliv: 2},
		{name: "503 with garbage Retry-After", script: replies{{Status: 503, RetryAfter: "soon"}, {Status: 201}}, wantDeliv: 2},
		{name: "429 until attempts run out", script: replies{{Status: 429, RetryAfter: "0"}}, wantDeliv: 3, wantClass: ErrRefused},
		{name: "429 with Retry-After 86400", script: replies{{Status: 429, RetryAfter: "86400"}}, wantDeliv: 1, wantClass: ErrRefused, wantRetry: 24 * time.Hour},
		{name: "503 with a date an hour ahead", respond: retryAt(503, time.Hour), wantDeliv: 1, wantClass: ErrRefused, wantRetry: time.Hour},
		{name: "500 without idempotency header", script: replies{{Status: 500}}, wantDeliv: 1, wantClass: ErrOutcomeUnknown},
		{name: "502 without idempotency header", script: replies{{Status: 502}}, wantDeliv: 1, wantClass: ErrOutcomeUnknown},
		{name: "504 without idempotency header", script: replies{{Status: 504}}, wantDeliv: 1, wantClass: ErrOutcomeUnknown},
		{name: "500 with idempotency header", script: replies{{Status: 500}, {Status: 201}}, idemHeader: true, wantDeliv: 2},
		{name: "502 with idempotency header, every attempt", script: replies{{Status: 502}}, idemHeader: true, wantDeliv: 3, wantClass: ErrOutcomeUnknown},
		{name: "504 with idempotency header", script: replies{{Status: 504}, {Status: 504}, {Status: 200}}, idemHeader: true, wantDeliv: 3},
		{name: "400 is never retried", script: replies{{Status: 400}}, idemHeader: true, wantDeliv: 1, wantClass: ErrRejected},
		{name: "501 is never retried", script: replies{{Status: 501}}, idemHeader: true, wantDeliv: 1, wantClass: ErrRejected},
		{name: "302 is never followed or retried", script: replies{{Status: 302, Header: http.Header{"Location": {"/elsewhere"}}}}, wantDeliv: 1, wantClass: ErrRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var url string
			var deliveries func() []smstest.Request
			if tc.hijack != nil {
				fg := newFaultGateway(t, tc.hijack)
				url, deliveries = fg.URL, fg.got
			} else {
				gw := smstest.New(t)
				if tc.respond != nil {
					gw.Respond(tc.respond)
				} else {
					gw.Script(tc.script...)
				}
				url, deliveries = gw.URL(), gw.Requests
			}
			opts := []Option{fastRetry}
			if tc.idemHeader {
				opts = append(opts, WithIdempotencyKeyHeader("Idempotency-Key"))
			}
			c, err := New(smsConfig(url+"/send", "file://./testdata/sms.jsonnet"), opts...)
			require.NoError(t, err)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			res, err := c.SendMessage(ctx, Message{To: "+14134242223", Body: "Your code is 123456"})
			took := time.Since(start)

			got := deliveries()
			assert.Len(t, got, tc.wantDeliv, "deliveries")
			t.Logf("deliveries: %d, attempts: %d, took %s, err: %v", len(got), res.Attempts, took.Round(time.Millisecond), err)
			if tc.wantClass == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.wantClass)
				for _, other := range []error{ErrNotSent, ErrRefused, ErrOutcomeUnknown, ErrRejected} {
					if other != tc.wantClass {
						assert.NotErrorIs(t, err, other, "exactly one class")
					}
				}
			}
			if tc.wantDL {
				require.ErrorIs(t, err, context.DeadlineExceeded)
				// Promptly: the gateway never answers. The bound is loose
				// because these machines are shared and noisy.
				assert.Less(t, took, tc.timeout+time.Second, "returns promptly after the deadline")
			}
			if tc.wantRetry > 0 {
				var ge *GatewayError
				require.ErrorAs(t, err, &ge)
				assert.InDelta(t, tc.wantRetry.Seconds(), ge.RetryAfter.Seconds(), 2)
				assert.Less(t, took, time.Second, "a long Retry-After is not slept")
			}
			// Every delivery of one message is the same request.
			for _, d := range got {
				assert.Equal(t, got[0].Body, d.Body, "byte-identical body on every attempt")
				if tc.idemHeader {
					assert.Equal(t, res.IdempotencyKey, d.Header.Get("Idempotency-Key"))
				} else {
					assert.Empty(t, d.Header.Get("Idempotency-Key"))
				}
			}
			assert.GreaterOrEqual(t, res.Attempts, len(got))
		})
	}
}

func TestFaultNotSent(t *testing.T) {
	fastRetry := WithRetryPolicy(RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	t.Run("refused port", func(t *testing.T) {
		c, err := New(smsConfig("http://"+closedAddr(t)+"/send", "file://./testdata/sms.jsonnet"), fastRetry)
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
		require.ErrorIs(t, err, ErrNotSent)
		assert.NotErrorIs(t, err, ErrOutcomeUnknown)
		assert.Equal(t, DefaultMaxAttempts, res.Attempts, "never written, so retried")
	})
	t.Run("self-signed TLS", func(t *testing.T) {
		var mu sync.Mutex
		count := 0
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			count++
			mu.Unlock()
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
		srv.StartTLS()
		t.Cleanup(srv.Close)
		c, err := New(smsConfig(srv.URL+"/send", "file://./testdata/sms.jsonnet"), fastRetry)
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
		require.ErrorIs(t, err, ErrNotSent)
		assert.Contains(t, err.Error(), "certificate")
		assert.Equal(t, DefaultMaxAttempts, res.Attempts)
		mu.Lock()
		assert.Zero(t, count, "nothing reached the handler")
		mu.Unlock()
	})
	t.Run("context already cancelled", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: http.StatusCreated})
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := c.SendMessage(ctx, Message{To: "+1555"})
		require.ErrorIs(t, err, context.Canceled)
		assert.LessOrEqual(t, res.Attempts, 1)
		gw.AssertCount(t, 0)
	})
}

// TestDribbledBodyBounded shows that once the status has arrived, a slow
// body cannot hold SendMessage past replyReadTimeout, even through a client
// without a timeout and with a context without a deadline.
func TestDribbledBodyBounded(t *testing.T) {
	old := replyReadTimeout
	replyReadTimeout = 100 * time.Millisecond
	defer func() { replyReadTimeout = old }()
	gw := newFaultGateway(t, dribbleBody)
	c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"), WithHTTPClient(&http.Client{}))
	require.NoError(t, err)
	start := time.Now()
	res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
	require.NoError(t, err, "the status decided the outcome")
	assert.Equal(t, http.StatusCreated, res.StatusCode)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "the dribble lasts a second")
	assert.Less(t, len(res.Body), 50)
	assert.Len(t, gw.got(), 1)
}

func TestIdempotencyAcrossAttempts(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: 500}, smstest.Reply{Status: 503, RetryAfter: "0"}, smstest.Reply{Status: 201})
	c, err := New(smsConfig(gw.URL()+"/send", b64(`function(ctx) {to: ctx.to, ref: ctx.idempotency_key}`)),
		WithIdempotencyKeyHeader("X-Idempotency-Key"),
		WithRetryPolicy(RetryPolicy{BaseDelay: time.Millisecond}))
	require.NoError(t, err)
	res, err := c.SendMessage(context.Background(), Message{To: "+1555", IdempotencyKey: "order-7"})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Attempts)
	assert.Equal(t, "order-7", res.IdempotencyKey)
	got := gw.Requests()
	require.Len(t, got, 3)
	for _, d := range got {
		assert.Equal(t, "order-7", d.Header.Get("X-Idempotency-Key"))
		assert.Equal(t, "{\n   \"ref\": \"order-7\",\n   \"to\": \"+1555\"\n}\n", d.Body)
	}

	t.Run("invalid keys", func(t *testing.T) {
		for _, key := range []string{"has space", "new\nline", "é", string(make([]byte, 256))} {
			_, err := c.SendMessage(context.Background(), Message{To: "+1555", IdempotencyKey: key})
			require.ErrorIs(t, err, ErrInvalidMessage, "key %q", key)
		}
		gw.AssertCount(t, 3)
	})
	t.Run("Render carries the header", func(t *testing.T) {
		req, err := c.Render(context.Background(), Message{To: "+1555", IdempotencyKey: "k"})
		require.NoError(t, err)
		assert.Equal(t, "k", req.Header.Get("X-Idempotency-Key"))
	})
}

func TestRetryPolicyValidation(t *testing.T) {
	for _, p := range []RetryPolicy{{MaxAttempts: -1}, {BaseDelay: -1}, {MaxDelay: -time.Second}, {MaxRetryAfter: -1}} {
		_, err := New(smsConfig("http://127.0.0.1:1/send", ""), WithRetryPolicy(p))
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", p)
	}
	_, err := New(smsConfig("http://127.0.0.1:1/send", ""), WithIdempotencyKeyHeader("Bad Header"))
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = New(smsConfig("http://127.0.0.1:1/send", ""), WithMaxBodySize(-5))
	require.ErrorIs(t, err, ErrInvalidConfig)

	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: 503})
	c, err := New(smsConfig(gw.URL()+"/send", ""), WithoutRetries())
	require.NoError(t, err)
	res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
	require.ErrorIs(t, err, ErrRefused)
	assert.Equal(t, 1, res.Attempts)
	gw.AssertCount(t, 1)
}

func TestRedirectsKeepCredentialsHome(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth AuthConfig
		hdr  string
		want string
	}{
		{"basic_auth", AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "me", Password: "12345"}}, "Authorization", "Basic bWU6MTIzNDU="},
		{"api_key header", AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "header", Name: "X-Api-Key", Value: "k-1"}}, "X-Api-Key", "k-1"},
		{"api_key cookie", AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "cookie", Name: "sid", Value: "k-1"}}, "Cookie", "sid=k-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			elsewhere := smstest.New(t)
			elsewhere.Script(smstest.Reply{Status: http.StatusCreated})
			home := smstest.New(t)
			home.Script(
				smstest.Reply{Status: http.StatusTemporaryRedirect, Header: http.Header{"Location": {"/moved"}}},               // same origin
				smstest.Reply{Status: http.StatusPermanentRedirect, Header: http.Header{"Location": {elsewhere.URL() + "/x"}}}) // other origin
			cfg := smsConfig(home.URL()+"/send", "")
			cfg.RequestConfig.Auth = tc.auth
			client := &http.Client{} // follows redirects
			c, err := New(cfg, WithHTTPClient(client), WithoutRetries())
			require.NoError(t, err)
			_, err = c.SendMessage(context.Background(), Message{To: "+1555"})
			require.NoError(t, err)
			homeGot, away := home.Requests(), elsewhere.Requests()
			require.Len(t, homeGot, 2)
			require.Len(t, away, 1)
			assert.Equal(t, tc.want, homeGot[1].Header.Get(tc.hdr), "same origin keeps credentials")
			assert.Empty(t, away[0].Header.Get(tc.hdr), "other origin gets none")
			assert.Empty(t, away[0].Header.Get("Authorization"))
			assert.Empty(t, away[0].Header.Get("Cookie"))
			assert.Nil(t, client.CheckRedirect, "the caller's client is not modified")
		})
	}
	t.Run("the caller's redirect policy still applies", func(t *testing.T) {
		home := smstest.New(t)
		home.Script(smstest.Reply{Status: http.StatusFound, Header: http.Header{"Location": {"/again"}}})
		stop := errors.New("no redirects please")
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return stop }}
		c, err := New(smsConfig(home.URL()+"/send", ""), WithHTTPClient(client), WithoutRetries())
		require.NoError(t, err)
		err = c.Send(context.Background(), "+1555", "x")
		require.ErrorIs(t, err, stop)
		home.AssertCount(t, 1)
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"86400", 24 * time.Hour, true},
		{"99999999999999999999", time.Duration(1<<63-1) / time.Second * time.Second, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Mon, 23 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Monday, 23-Nov-26 12:01:00 GMT", time.Minute, true},
	} {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			got, ok := parseRetryAfter(tc.in, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "Mon, 23 Nov 2026 12:00:30 GMT", "x", "99999999999999999999", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		require.GreaterOrEqual(t, d, time.Duration(0))
		if !ok {
			require.Zero(t, d)
		}
		if n, err := strconv.ParseUint(s, 10, 32); err == nil {
			require.True(t, ok)
			require.Equal(t, time.Duration(n)*time.Second, d)
		}
	})
}

func TestNotAfter(t *testing.T) {
	t.Run("expired before sending", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: http.StatusCreated})
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"))
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+1555", NotAfter: time.Now().Add(-time.Second)})
		require.ErrorIs(t, err, ErrExpired)
		assert.Zero(t, res.Attempts)
		gw.AssertCount(t, 0)
		_, err = c.Render(context.Background(), Message{To: "+1555", NotAfter: time.Now().Add(-time.Second)})
		require.ErrorIs(t, err, ErrExpired)
	})
	t.Run("no retry after it", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: 503, RetryAfter: "5"}, smstest.Reply{Status: 201})
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"))
		require.NoError(t, err)
		start := time.Now()
		res, err := c.SendMessage(context.Background(), Message{To: "+1555", NotAfter: time.Now().Add(2 * time.Second)})
		require.ErrorIs(t, err, ErrExpired)
		require.ErrorIs(t, err, ErrRefused)
		assert.Equal(t, 1, res.Attempts)
		assert.Less(t, time.Since(start), time.Second, "does not wait for a retry it may not make")
		gw.AssertCount(t, 1)
	})
	t.Run("in time", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(smstest.Reply{Status: http.StatusCreated})
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"))
		require.NoError(t, err)
		require.NoError(t, func() error {
			_, err := c.SendMessage(context.Background(), Message{To: "+1555", NotAfter: time.Now().Add(time.Minute)})
			return err
		}())
	})
}

func TestIdempotencyKeyHeaderAccessor(t *testing.T) {
	c, err := New(smsConfig("http://127.0.0.1:1/send", ""), WithIdempotencyKeyHeader("idempotency-key"))
	require.NoError(t, err)
	assert.Equal(t, "Idempotency-Key", c.IdempotencyKeyHeader())
	c, err = New(smsConfig("http://127.0.0.1:1/send", ""))
	require.NoError(t, err)
	assert.Empty(t, c.IdempotencyKeyHeader())
}

// TestClientTimeoutIsRetried separates the client's per-attempt Timeout from
// the caller's context: a timed-out attempt is classified like any other
// failure (not sent before the request was written, outcome unknown after)
// and retried by those rules while the caller's context lives.
func TestClientTimeoutIsRetried(t *testing.T) {
	fastRetry := WithRetryPolicy(RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	t.Run("hang after the request, with idempotency header", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(hang, smstest.Reply{Status: 201})
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"), fastRetry,
			WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}), WithIdempotencyKeyHeader("Idempotency-Key"))
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+14134242223", Body: "hi"})
		require.NoError(t, err)
		assert.Equal(t, 2, res.Attempts)
		got := gw.Requests()
		require.Len(t, got, 2)
		assert.Equal(t, got[0].Header.Get("Idempotency-Key"), got[1].Header.Get("Idempotency-Key"))
	})
	t.Run("hang after the request, without idempotency header", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(hang, smstest.Reply{Status: 201})
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"), fastRetry,
			WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}))
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+14134242223", Body: "hi"})
		require.ErrorIs(t, err, ErrOutcomeUnknown)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the client's timeout")
		assert.Equal(t, 1, res.Attempts)
		assert.Len(t, gw.Requests(), 1, "never resent without the header")
	})
	t.Run("a connection that never opens", func(t *testing.T) {
		var dials atomic.Int32
		stop := make(chan struct{})
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials.Add(1)
			select { // a black-holed SYN; net/http may go on dialling after the request gave up
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-stop:
				return nil, errors.New("test over")
			}
		}}
		t.Cleanup(func() { close(stop); tr.CloseIdleConnections() })
		c, err := New(smsConfig("http://127.0.0.1:1/send", "file://./testdata/sms.jsonnet"), fastRetry,
			WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond, Transport: tr}))
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+14134242223", Body: "hi"})
		require.ErrorIs(t, err, ErrNotSent)
		assert.Equal(t, 3, res.Attempts)
		assert.EqualValues(t, 3, dials.Load())
	})
	t.Run("the caller's deadline still ends it", func(t *testing.T) {
		gw := smstest.New(t)
		gw.Script(hang)
		c, err := New(smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet"), fastRetry,
			WithHTTPClient(&http.Client{Timeout: 10 * time.Second}), WithIdempotencyKeyHeader("Idempotency-Key"))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		res, err := c.SendMessage(ctx, Message{To: "+14134242223", Body: "hi"})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 1, res.Attempts)
		gw.AssertCount(t, 1)
	})
}
