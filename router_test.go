package smscourier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/smstest"
)

// routedTemplate renders the recipient and the idempotency key, so that
// tests can tell which message a gateway got.
const routedTemplate = "function(ctx) { to: ctx.to, key: ctx.idempotency_key }"

// gatewayAt returns an enabled gateway config posting JSON to url.
func gatewayAt(url string) SMSConfig {
	cfg := smsConfig(url+"/send", b64(routedTemplate))
	cfg.RequestConfig.Headers = map[string]string{"Content-Type": "application/json"}
	return cfg
}

// deadGateway returns the URL of a gateway that refuses connections.
func deadGateway() string {
	g := smstest.NewServer()
	url := g.URL()
	g.Close()
	return url
}

// steps makes a route's steps of single gateways.
func steps(names ...string) []RouteStep {
	out := make([]RouteStep, len(names))
	for i, n := range names {
		out[i] = RouteStep{Gateway: n}
	}
	return out
}

// failover is the config of two gateways, primary then secondary, for
// every number.
func failover(primary, secondary string) RoutingConfig {
	return RoutingConfig{
		Gateways: map[string]SMSConfig{"primary": gatewayAt(primary), "secondary": gatewayAt(secondary)},
		Default:  Route{Gateways: steps("primary", "secondary")},
	}
}

func newRouter(t *testing.T, cfg RoutingConfig, opts ...Option) *Router {
	t.Helper()
	r, err := NewRouter(cfg, opts...)
	require.NoError(t, err)
	return r
}

// keyOf returns the idempotency key a routed request carried.
func keyOf(r smstest.Request) string {
	k, _ := r.JSONField("key").(string)
	return k
}

// TestRouterFailover checks, for each first failure, where the message
// went: the exact count of requests at each gateway, the error and the
// steps recorded.
func TestRouterFailover(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                    string
		primary                 []smstest.Reply // nil: connections refused
		route                   func(*Route)
		opts                    []Option
		wantPrimary, wantSecond int
		wantErr                 error
		wantTried               []Try
	}{
		{
			name:        "connection refused: once via the secondary",
			wantPrimary: 0, wantSecond: 1,
			wantTried: []Try{{Gateway: "primary", Class: ClassNotSent}, {Gateway: "secondary", Class: ClassOK}},
		},
		{
			name:        "503 with Retry-After: once via the secondary",
			primary:     []smstest.Reply{{Status: 503, RetryAfter: "120"}},
			wantPrimary: 1, wantSecond: 1,
			wantTried: []Try{{Gateway: "primary", Class: ClassRefused}, {Gateway: "secondary", Class: ClassOK}},
		},
		{
			name:        "429 without Retry-After: once via the secondary",
			primary:     []smstest.Reply{{Status: 429}},
			wantPrimary: 1, wantSecond: 1,
			wantTried: []Try{{Gateway: "primary", Class: ClassRefused}, {Gateway: "secondary", Class: ClassOK}},
		},
		{
			name:        "400: not sent elsewhere by default",
			primary:     []smstest.Reply{{Status: 400}},
			wantPrimary: 1, wantSecond: 0, wantErr: ErrRejected,
			wantTried: []Try{{Gateway: "primary", Class: ClassRejected}},
		},
		{
			name:        "400 with FailoverOnRejected: once via the secondary",
			primary:     []smstest.Reply{{Status: 400}},
			route:       func(r *Route) { r.FailoverOnRejected = true },
			wantPrimary: 1, wantSecond: 1,
			wantTried: []Try{{Gateway: "primary", Class: ClassRejected}, {Gateway: "secondary", Class: ClassOK}},
		},
		{
			name:        "hang after reading the request: outcome unknown, not sent elsewhere",
			primary:     []smstest.Reply{{Delay: time.Minute}},
			opts:        []Option{WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond})},
			wantPrimary: 1, wantSecond: 0, wantErr: ErrOutcomeUnknown,
			wantTried: []Try{{Gateway: "primary", Class: ClassOutcomeUnknown}},
		},
		{
			name:        "outcome unknown with an idempotency key: retried at the primary only",
			primary:     []smstest.Reply{{Status: 502}, {Status: 201}},
			opts:        []Option{WithIdempotencyKeyHeader("Idempotency-Key"), WithRetryPolicy(RetryPolicy{BaseDelay: time.Millisecond})},
			wantPrimary: 2, wantSecond: 0,
			wantTried: []Try{{Gateway: "primary", Class: ClassOutcomeUnknown}, {Gateway: "primary", Class: ClassOK}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var primaryURL string
			var primary *smstest.Gateway
			if tc.primary == nil {
				primaryURL = deadGateway()
			} else {
				primary = smstest.New(t)
				primary.Script(tc.primary...)
				primaryURL = primary.URL()
			}
			secondary := smstest.New(t)
			cfg := failover(primaryURL, secondary.URL())
			if tc.route != nil {
				tc.route(&cfg.Default)
			}
			r := newRouter(t, cfg, tc.opts...)
			res, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code 1"})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.wantTried[len(tc.wantTried)-1].Gateway, res.Gateway)
			}
			if primary != nil {
				primary.AssertCount(t, tc.wantPrimary)
				for _, req := range primary.Requests() {
					assert.Equal(t, res.IdempotencyKey, keyOf(req))
				}
			}
			secondary.AssertCount(t, tc.wantSecond)
			for _, req := range secondary.Requests() {
				assert.Equal(t, res.IdempotencyKey, keyOf(req), "the same key at every gateway")
			}
			assert.Equal(t, tc.wantTried, res.Tried)
			assert.Equal(t, len(tc.wantTried), res.Attempts)
		})
	}
}

// TestRouterRetryAfterRemembered checks that a gateway that asked to wait
// is skipped by later sends, without a request, until the wait passes.
func TestRouterRetryAfterRemembered(t *testing.T) {
	t.Parallel()
	primary, secondary := smstest.New(t), smstest.New(t)
	primary.Script(smstest.Reply{Status: 503, RetryAfter: "3600"})
	r := newRouter(t, failover(primary.URL(), secondary.URL()))
	for i := range 3 {
		res, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
		require.NoError(t, err)
		if i > 0 {
			assert.Equal(t, []Try{{Gateway: "primary", Skipped: SkipRetryAfter}, {Gateway: "secondary", Class: ClassOK}}, res.Tried)
		}
	}
	primary.AssertCount(t, 1)
	secondary.AssertCount(t, 3)
}

// TestRouterEveryGatewayAsksToWait checks that when every gateway refused
// with Retry-After, the error carries the shortest wait, for a queue to
// snooze.
func TestRouterEveryGatewayAsksToWait(t *testing.T) {
	t.Parallel()
	primary, secondary := smstest.New(t), smstest.New(t)
	primary.Script(smstest.Reply{Status: 503, RetryAfter: "120"})
	secondary.Script(smstest.Reply{Status: 429, RetryAfter: "60"})
	r := newRouter(t, failover(primary.URL(), secondary.URL()))
	_, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.ErrorIs(t, err, ErrRefused)
	var ge *GatewayError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusTooManyRequests, ge.StatusCode)
	assert.InDelta(t, 60, ge.RetryAfter.Seconds(), 5)

	// The next send makes no request at all, and says the same.
	res, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.ErrorAs(t, err, &ge)
	assert.InDelta(t, 60, ge.RetryAfter.Seconds(), 5)
	assert.Zero(t, res.Attempts)
	assert.Equal(t, []Try{{Gateway: "primary", Skipped: SkipRetryAfter}, {Gateway: "secondary", Skipped: SkipRetryAfter}}, res.Tried)
	primary.AssertCount(t, 1)
	secondary.AssertCount(t, 1)
}

// TestRouterBreaker checks that the breaker opens after its failures,
// skips the gateway without a request, lets one probe through after the
// cool-down, and closes when the probe succeeds; each change is an event.
func TestRouterBreaker(t *testing.T) {
	t.Parallel()
	primary, secondary := smstest.New(t), smstest.New(t)
	primary.Script(smstest.Reply{Status: 503})
	cfg := failover(primary.URL(), secondary.URL())
	cfg.Breaker = BreakerConfig{Failures: 3, CoolDown: 50 * time.Millisecond}
	var mu sync.Mutex
	var states []string
	r := newRouter(t, cfg, WithObserver(func(ev Event) {
		if ev.Breaker != "" {
			mu.Lock()
			states = append(states, ev.Gateway+" "+ev.Breaker)
			mu.Unlock()
		}
	}))
	send := func() Result {
		res, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
		require.NoError(t, err)
		return res
	}
	for range 3 {
		send()
	}
	primary.AssertCount(t, 3)
	res := send()
	assert.Equal(t, []Try{{Gateway: "primary", Skipped: SkipCircuitOpen}, {Gateway: "secondary", Class: ClassOK}}, res.Tried)
	primary.AssertCount(t, 3)

	primary.Script(smstest.Reply{Status: 201})
	time.Sleep(60 * time.Millisecond) // the cool-down itself
	res = send()
	assert.Equal(t, []Try{{Gateway: "primary", Class: ClassOK}}, res.Tried, "the probe")
	res = send()
	assert.Equal(t, "primary", res.Gateway)
	primary.AssertCount(t, 5)
	secondary.AssertCount(t, 4)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"primary open", "primary half-open", "primary closed"}, states)
}

// TestRouterAllOpen checks that when every gateway's breaker is open, the
// message goes to the one that failed longest ago.
func TestRouterAllOpen(t *testing.T) {
	t.Parallel()
	primary, secondary := smstest.New(t), smstest.New(t)
	primary.Script(smstest.Reply{Status: 503})
	secondary.Script(smstest.Reply{Status: 503})
	cfg := failover(primary.URL(), secondary.URL())
	cfg.Breaker = BreakerConfig{Failures: 1, CoolDown: time.Hour}
	r := newRouter(t, cfg, WithoutRetries())
	_, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.ErrorIs(t, err, ErrRefused)
	// Both are open now; the primary failed first.
	primary.Script(smstest.Reply{Status: 201})
	res, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.NoError(t, err)
	assert.Equal(t, []Try{
		{Gateway: "primary", Skipped: SkipCircuitOpen},
		{Gateway: "secondary", Skipped: SkipCircuitOpen},
		{Gateway: "primary", Class: ClassOK},
	}, res.Tried)
	primary.AssertCount(t, 2)
	secondary.AssertCount(t, 1)
}

// TestRouterPrefixes checks longest-prefix routing and the default route.
func TestRouterPrefixes(t *testing.T) {
	t.Parallel()
	gws := map[string]*smstest.Gateway{"uk": smstest.New(t), "uk-mobile": smstest.New(t), "us": smstest.New(t), "world": smstest.New(t)}
	cfg := RoutingConfig{
		Gateways: map[string]SMSConfig{},
		Routes: []Route{
			{Prefixes: []string{"+44"}, Gateways: steps("uk")},
			{Prefixes: []string{"+4470", "+4471"}, Gateways: steps("uk-mobile")},
			{Prefixes: []string{"+1"}, Gateways: steps("us")},
		},
		Default: Route{Gateways: steps("world")},
	}
	for name, g := range gws {
		cfg.Gateways[name] = gatewayAt(g.URL())
	}
	r := newRouter(t, cfg)
	for to, want := range map[string]string{
		"+442071234567": "uk",
		"+447012345678": "uk-mobile",
		"+447112345678": "uk-mobile",
		"+447212345678": "uk",
		"+14134242223":  "us",
		"+33612345678":  "world",
		"0612345678":    "world",
		"+4":            "world",
	} {
		res, err := r.SendMessage(context.Background(), Message{To: to, Body: "code"})
		require.NoError(t, err, to)
		assert.Equal(t, want, res.Gateway, to)
		assert.Equal(t, []string{want}, r.Route(to), to)
	}
	gws["uk"].AssertCount(t, 2)
	gws["uk-mobile"].AssertCount(t, 2)
	gws["us"].AssertCount(t, 1)
	gws["world"].AssertCount(t, 3)
}

// TestRouterShare checks that a 70/30 share holds within 2 points over
// 10,000 sends, and that a share's others follow its first.
func TestRouterShare(t *testing.T) {
	t.Parallel()
	a, b, c := smstest.New(t), smstest.New(t), smstest.New(t)
	cfg := RoutingConfig{
		Gateways: map[string]SMSConfig{"a": gatewayAt(a.URL()), "b": gatewayAt(b.URL()), "c": gatewayAt(c.URL())},
		Default:  Route{Gateways: []RouteStep{{Share: map[string]int{"a": 70, "b": 30}}, {Gateway: "c"}}},
	}
	r := newRouter(t, cfg)
	assert.Equal(t, []string{"a", "b", "c"}, r.Route("+14134242223"))
	const n = 10000
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for range work {
				_, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
				assert.NoError(t, err)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	assert.Equal(t, n, a.Count()+b.Count())
	assert.InDelta(t, 0.70, float64(a.Count())/n, 0.02)
	c.AssertCount(t, 0)
}

// TestRouterFlappingExactlyOnce sends 1,000 messages at once while the
// primary flaps between accepting and refusing, and checks that each was
// accepted exactly once, across both gateways.
func TestRouterFlappingExactlyOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	accepted := map[string]int{}
	var seq atomic.Int64
	accept := func(r smstest.Request) smstest.Reply {
		mu.Lock()
		accepted[keyOf(r)]++
		mu.Unlock()
		return smstest.Reply{Status: 201}
	}
	primary, secondary := smstest.New(t), smstest.New(t)
	primary.Respond(func(r smstest.Request) smstest.Reply {
		if seq.Add(1)/10%2 == 1 { // 10 up, 10 refusing, ...
			return smstest.Reply{Status: 503}
		}
		return accept(r)
	})
	secondary.Respond(accept)
	cfg := failover(primary.URL(), secondary.URL())
	cfg.Breaker = BreakerConfig{Failures: 3, CoolDown: time.Millisecond}
	r := newRouter(t, cfg)
	const n = 1000
	keys := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
			assert.NoError(t, err)
			keys[i] = res.IdempotencyKey
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, accepted, n)
	for _, k := range keys {
		assert.Equal(t, 1, accepted[k], "message %s", k)
	}
	assert.Positive(t, secondary.Count(), "the secondary took some")
	t.Logf("primary %d requests, secondary %d", primary.Count(), secondary.Count())
}

// TestRouterBoundsTheRoute checks that the message's NotAfter and ctx bound
// the whole route: no pass starts that would end past them.
func TestRouterBoundsTheRoute(t *testing.T) {
	t.Parallel()
	t.Run("NotAfter", func(t *testing.T) {
		t.Parallel()
		// Both ask to wait two minutes, which the policy would wait out,
		// but the message expires in one.
		primary, secondary := smstest.New(t), smstest.New(t)
		primary.Script(smstest.Reply{Status: 503, RetryAfter: "120"})
		secondary.Script(smstest.Reply{Status: 503, RetryAfter: "120"})
		r := newRouter(t, failover(primary.URL(), secondary.URL()), WithRetryPolicy(RetryPolicy{MaxRetryAfter: time.Hour}))
		start := time.Now()
		_, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code", NotAfter: time.Now().Add(time.Minute)})
		require.ErrorIs(t, err, ErrExpired)
		require.ErrorIs(t, err, ErrRefused)
		assert.Less(t, time.Since(start), 5*time.Second)
		primary.AssertCount(t, 1)
		secondary.AssertCount(t, 1)
	})
	t.Run("ctx deadline", func(t *testing.T) {
		t.Parallel()
		// Both ask to wait two minutes; ctx ends in one second.
		primary, secondary := smstest.New(t), smstest.New(t)
		primary.Script(smstest.Reply{Status: 503, RetryAfter: "120"})
		secondary.Script(smstest.Reply{Status: 503, RetryAfter: "120"})
		r := newRouter(t, failover(primary.URL(), secondary.URL()), WithRetryPolicy(RetryPolicy{MaxRetryAfter: time.Hour}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := r.SendMessage(ctx, Message{To: "+14134242223", Body: "code"})
		require.ErrorIs(t, err, ErrRefused)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
		primary.AssertCount(t, 1)
		secondary.AssertCount(t, 1)
	})
}

// TestRouterTemplateMovesOn checks that a gateway whose template cancels
// sends nothing, and the next gateway takes the message.
func TestRouterTemplateMovesOn(t *testing.T) {
	t.Parallel()
	primary, secondary := smstest.New(t), smstest.New(t)
	cfg := failover(primary.URL(), secondary.URL())
	p := cfg.Gateways["primary"]
	p.RequestConfig.Body = b64("function(ctx) if std.startsWith(ctx.to, '+1') then error 'cancel' else { to: ctx.to }")
	cfg.Gateways["primary"] = p
	r := newRouter(t, cfg)
	res, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.NoError(t, err)
	assert.Equal(t, []Try{{Gateway: "primary", Class: ClassCancelled}, {Gateway: "secondary", Class: ClassOK}}, res.Tried)
	primary.AssertCount(t, 0)
	secondary.AssertCount(t, 1)
}

// TestRouterEvents checks that every attempt is an event that lists the
// steps so far, and that only the last one is Final.
func TestRouterEvents(t *testing.T) {
	t.Parallel()
	secondary := smstest.New(t)
	var events []Event
	r := newRouter(t, failover(deadGateway(), secondary.URL()), WithObserver(func(ev Event) { events = append(events, ev) }))
	_, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, "primary", events[0].Gateway)
	assert.Equal(t, ClassNotSent, events[0].Class)
	assert.False(t, events[0].Final)
	assert.Equal(t, []Try{{Gateway: "primary", Class: ClassNotSent}}, events[0].Tried)
	assert.Equal(t, "secondary", events[1].Gateway)
	assert.True(t, events[1].Final)
	assert.Equal(t, 2, events[1].Attempt)
	assert.Len(t, events[1].Tried, 2)
	assert.Equal(t, "********2223", events[1].To)
}

// TestRouterRender checks that Render builds the first gateway's request,
// that Gateway reaches the others, and that the Router prints without
// credentials.
func TestRouterRender(t *testing.T) {
	t.Parallel()
	primary, secondary := smstest.New(t), smstest.New(t)
	cfg := failover(primary.URL(), secondary.URL())
	p := cfg.Gateways["primary"]
	p.RequestConfig.Auth = AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "AC1", Password: "hunter2"}}
	cfg.Gateways["primary"] = p
	r := newRouter(t, cfg)
	req, err := r.Render(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.NoError(t, err)
	assert.Equal(t, primary.URL()+"/send", req.URL.String())
	req2, err := r.Gateway("secondary").Render(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.NoError(t, err)
	assert.Equal(t, secondary.URL()+"/send", req2.URL.String())
	assert.Nil(t, r.Gateway("nope"))
	assert.Equal(t, "smscourier.Router(primary, secondary)", fmt.Sprint(r))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.Equal(t, "smscourier.Router(primary, secondary)", fmt.Sprintf(verb, r), verb)
		assert.Equal(t, "smscourier.Router(primary, secondary)", fmt.Sprintf(verb, *r), verb)
	}
	var nilRouter *Router
	assert.Equal(t, "<nil>", fmt.Sprint(nilRouter))
	primary.AssertCount(t, 0)
}

// TestRouterSecretsWithheld checks that a gateway's credentials do not
// appear in a Router's errors.
func TestRouterSecretsWithheld(t *testing.T) {
	t.Parallel()
	cfg := failover(deadGateway(), deadGateway())
	for name, g := range cfg.Gateways {
		g.RequestConfig.URL = strings.Replace(g.RequestConfig.URL, "http://", "http://user:s3cret-"+name+"@", 1)
		cfg.Gateways[name] = g
	}
	r := newRouter(t, cfg, WithoutRetries())
	_, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "the text"})
	require.ErrorIs(t, err, ErrNotSent)
	assert.NotContains(t, err.Error(), "s3cret")
	assert.NotContains(t, err.Error(), "the text")
}

// TestRouterDisabled checks that a Router whose gateways are all disabled
// answers ErrDisabled, and a zero Router an error.
func TestRouterDisabled(t *testing.T) {
	t.Parallel()
	r := newRouter(t, RoutingConfig{
		Gateways: map[string]SMSConfig{GatewayCourier: {}},
		Default:  Route{Gateways: steps(GatewayCourier)},
	})
	_, err := r.SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.ErrorIs(t, err, ErrDisabled)
	_, err = r.Render(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.ErrorIs(t, err, ErrDisabled)
	_, err = (&Router{}).SendMessage(context.Background(), Message{To: "+14134242223", Body: "code"})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrDisabled))
}

// TestRouterRefusedBeforeAnyRequest checks that a send that makes no
// request logs one "not sent" record, as a Courier's does.
func TestRouterRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRouter(t, failover(deadGateway(), deadGateway()), WithLogger(logger))
	_, err := r.SendMessage(context.Background(), Message{To: " ", Body: "code"})
	require.ErrorIs(t, err, ErrInvalidMessage)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, strings.Count(buf.String(), "smscourier: not sent"), buf.String())
	assert.Contains(t, buf.String(), "class=invalid_message")
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
