package smscourier

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Router sends each message through the gateways of its route, failing
// over from one to the next only when the first certainly did not send:
//
//   - after ErrNotSent or ErrRefused it tries the next gateway at once; a
//     refusal with Retry-After also makes every send skip that gateway
//     until the wait has passed;
//   - after ErrRejected it stops, unless the route has FailoverOnRejected;
//   - after ErrOutcomeUnknown it never fails over: it retries the same
//     gateway, under the same rules as a Courier (only with
//     WithIdempotencyKeyHeader);
//   - after a template error or cancel of one gateway's template, nothing
//     was sent there, and it moves on.
//
// Every gateway gets the same idempotency key (ctx.idempotency_key and the
// WithIdempotencyKeyHeader header) for one message. The RetryPolicy bounds
// the whole route: MaxAttempts counts passes over the route (moving to the
// next gateway is not a retry), backoff waits come between passes, and the
// message's NotAfter and ctx's deadline bound the whole send.
//
// Each gateway has a circuit breaker (github.com/sony/gobreaker/v2): after
// BreakerConfig.Failures consecutive failed attempts it skips the gateway
// for the cool-down, then lets one probe through. When every gateway of a
// route is skipped for that reason, the message goes to the one whose last
// failure is oldest rather than failing without a request.
//
// A Router is immutable after NewRouter, apart from its gateways' health,
// and safe for concurrent use by multiple goroutines.
type Router struct {
	disabled   bool
	gateways   map[string]*routeGateway
	byPrefix   map[string]*route
	lengths    []int // the lengths of the prefixes, longest first
	def        *route
	retry      RetryPolicy
	idemHeader string
	logger     *slog.Logger
	observer   func(Event)
	secrets    []string // every gateway's credentials
}

var _ Sender = (*Router)(nil)

// routeGateway is a gateway of a Router and its health.
type routeGateway struct {
	name       string
	courier    *Courier
	breaker    *gobreaker.TwoStepCircuitBreaker[struct{}]
	retryUntil atomic.Int64 // unix nanoseconds: a Retry-After refusal asked to wait until then
	lastFail   atomic.Int64 // unix nanoseconds of the last failed attempt

	changed atomic.Bool // changes is not empty
	mu      sync.Mutex
	changes []string // breaker states not yet emitted
}

// route is a compiled Route.
type route struct {
	steps              []routeStep
	size               int // gateways over all steps
	failoverOnRejected bool
	resendUndelivered  bool
}

// routeStep is a compiled RouteStep: one gateway, or a share.
type routeStep struct {
	gateways []*routeGateway // a share's by weight, highest first, then by name
	cum      []int           // a share's running sums of those weights
}

// NewRouter checks cfg and the options, builds a gateway for each gateway
// a route names (the options apply to each, as to a Courier), and returns
// the Router. Problems are reported at once in a *ConfigError that wraps
// ErrInvalidConfig, with key paths under smscourier (courier.sms for the
// gateway named GatewayCourier). When every gateway is disabled, as for a
// Kratos config with enabled: false, the Router's methods return
// ErrDisabled.
func NewRouter(cfg RoutingConfig, opts ...Option) (*Router, error) {
	o := applyOptions(opts)
	ps := cfg.check()
	o.check(&ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	if o.isolation != nil {
		if err := checkIsolation(*o.isolation); err != nil {
			return nil, err
		}
	}
	r := &Router{retry: o.retry, logger: o.logger, observer: o.observer}
	if o.idemHeader != "" {
		r.idemHeader = http.CanonicalHeaderKey(o.idemHeader)
	}
	used := cfg.usedGateways()
	enabled := 0
	for _, name := range used {
		if cfg.Gateways[name].Enabled {
			enabled++
		}
	}
	if enabled == 0 {
		r.disabled = true
		return r, nil
	}
	failures, coolDown := cfg.Breaker.Failures, cfg.Breaker.CoolDown
	if failures == 0 {
		failures = DefaultBreakerFailures
	}
	if coolDown == 0 {
		coolDown = DefaultBreakerCoolDown
	}
	r.gateways = make(map[string]*routeGateway, len(used))
	var ce ConfigError
	for _, name := range used {
		prefix := "smscourier.gateways." + name
		if name == GatewayCourier {
			prefix = "courier.sms"
		}
		c, err := build(cfg.Gateways[name], &o, prefix, &ce)
		if err != nil {
			return nil, err
		}
		g := &routeGateway{name: name, courier: c}
		g.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        name,
			MaxRequests: 1,
			Timeout:     coolDown,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
			OnStateChange: func(_ string, _, to gobreaker.State) {
				g.mu.Lock()
				g.changes = append(g.changes, breakerState(to))
				g.changed.Store(true)
				g.mu.Unlock()
			},
			IsExcluded: func(err error) bool { return errors.Is(err, errBreakerIgnore) },
		})
		r.gateways[name] = g
		r.secrets = append(r.secrets, c.secrets...)
	}
	if len(ce.Problems) > 0 {
		return nil, &ce
	}
	r.byPrefix = make(map[string]*route)
	for _, rc := range cfg.Routes {
		rt := r.compileRoute(rc)
		for _, p := range rc.Prefixes {
			r.byPrefix[p] = rt
			if !slices.Contains(r.lengths, len(p)) {
				r.lengths = append(r.lengths, len(p))
			}
		}
	}
	slices.SortFunc(r.lengths, func(a, b int) int { return cmp.Compare(b, a) })
	r.def = r.compileRoute(cfg.Default)
	return r, nil
}

// usedGateways returns the names of the gateways the routes name, sorted.
func (c RoutingConfig) usedGateways() []string {
	seen := map[string]bool{}
	for _, rt := range append(slices.Clip(c.Routes), c.Default) {
		for _, st := range rt.Gateways {
			if st.Gateway != "" {
				seen[st.Gateway] = true
			}
			for name := range st.Share {
				seen[name] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// compileRoute compiles a checked Route.
func (r *Router) compileRoute(rc Route) *route {
	rt := &route{failoverOnRejected: rc.FailoverOnRejected, resendUndelivered: rc.ResendUndelivered}
	for _, st := range rc.Gateways {
		if st.Gateway != "" {
			rt.steps = append(rt.steps, routeStep{gateways: []*routeGateway{r.gateways[st.Gateway]}})
			rt.size++
			continue
		}
		names := make([]string, 0, len(st.Share))
		for name := range st.Share {
			names = append(names, name)
		}
		slices.SortFunc(names, func(a, b string) int {
			return cmp.Or(cmp.Compare(st.Share[b], st.Share[a]), cmp.Compare(a, b))
		})
		var step routeStep
		sum := 0
		for _, name := range names {
			sum += st.Share[name]
			step.gateways = append(step.gateways, r.gateways[name])
			step.cum = append(step.cum, sum)
		}
		rt.steps = append(rt.steps, step)
		rt.size += len(names)
	}
	return rt
}

// lookup returns the route of the recipient to: the route with the longest
// prefix of to, else the default route.
func (r *Router) lookup(to string) *route {
	for _, n := range r.lengths {
		if len(to) >= n {
			if rt := r.byPrefix[to[:n]]; rt != nil {
				return rt
			}
		}
	}
	return r.def
}

// chain appends the gateways of rt to buf in the order a send tries them.
// A share's first gateway is drawn by weight when draw is true, else it is
// the heaviest.
func (rt *route) chain(buf []*routeGateway, draw bool) []*routeGateway {
	for i := range rt.steps {
		st := &rt.steps[i]
		first := 0
		if draw && len(st.cum) > 1 {
			first = st.draw()
		}
		buf = append(buf, st.gateways[first])
		for j, g := range st.gateways {
			if j != first {
				buf = append(buf, g)
			}
		}
	}
	return buf
}

// first returns the gateway a send tries first: a share's drawn by weight
// when draw is true, else its heaviest.
func (rt *route) first(draw bool) *routeGateway {
	st := &rt.steps[0]
	if draw && len(st.cum) > 1 {
		return st.gateways[st.draw()]
	}
	return st.gateways[0]
}

// draw picks a gateway of a share at random in proportion to its weight.
func (st *routeStep) draw() int {
	n := rand.N(st.cum[len(st.cum)-1])
	for i, c := range st.cum {
		if n < c {
			return i
		}
	}
	return len(st.cum) - 1
}

// Route returns the names of the gateways a message to to would be tried
// at, in order, a share's heaviest first. It is empty for a disabled
// Router.
func (r *Router) Route(to string) []string {
	if r == nil || r.disabled || r.def == nil {
		return nil
	}
	rt := r.lookup(to)
	chain := rt.chain(make([]*routeGateway, 0, rt.size), false)
	names := make([]string, len(chain))
	for i, g := range chain {
		names[i] = g.name
	}
	return names
}

// ResendGateway returns the gateway at which to send again a message to
// to that gateway took and a delivery receipt then reported undelivered
// or failed: when the route of to has ResendUndelivered, the gateway that
// follows taken in the route's order (Route), else "". It is "" too when
// taken is the route's last gateway or not in the route.
func (r *Router) ResendGateway(to, taken string) string {
	if r == nil || r.disabled || r.def == nil || !r.lookup(to).resendUndelivered {
		return ""
	}
	names := r.Route(to)
	for i, name := range names {
		if name == taken && i+1 < len(names) {
			return names[i+1]
		}
	}
	return ""
}

// Gateway returns the Courier of the named gateway, for rendering or
// sending through it alone, or nil when the Router has no such gateway.
// Sending through it bypasses the route and its circuit breaker.
func (r *Router) Gateway(name string) *Courier {
	if r == nil {
		return nil
	}
	if g := r.gateways[name]; g != nil {
		return g.courier
	}
	return nil
}

// IdempotencyKeyHeader returns the header that carries the message's
// idempotency key to every gateway (WithIdempotencyKeyHeader), or "" when
// none is sent: then ErrOutcomeUnknown failures are never retried.
func (r *Router) IdempotencyKeyHeader() string { return r.idemHeader }

// String describes the Router by its gateways' names, for example
// "smscourier.Router(twilio, vonage)". A Router value and a *Router print
// alike, without credentials; a nil *Router prints as "<nil>".
func (r Router) String() string {
	if r.disabled {
		return "smscourier.Router(disabled)"
	}
	names := make([]string, 0, len(r.gateways))
	for name := range r.gateways {
		names = append(names, name)
	}
	sort.Strings(names)
	return "smscourier.Router(" + strings.Join(names, ", ") + ")"
}

// Format prints String for every verb, so that no verb (%+v, %#v, ...)
// shows the credentials the Router holds.
func (r Router) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// LogValue logs String.
func (r Router) LogValue() slog.Value { return slog.StringValue(r.String()) }

// errRouterNotBuilt is returned by the methods of a Router not made by
// NewRouter.
var errRouterNotBuilt = errors.New("smscourier: Router used without NewRouter")

// Send sends one SMS with the given recipient and text. It is SendMessage
// without the Result.
func (r *Router) Send(ctx context.Context, to, body string) error {
	_, err := r.SendMessage(ctx, Message{To: to, Body: body})
	return err
}

// Render returns the request SendMessage would send first for m: the one
// for the first gateway of m's route (a share's heaviest), built as
// Courier.Render builds it. Nothing is sent. Route and Gateway show the
// other gateways' requests.
func (r *Router) Render(ctx context.Context, m Message) (*http.Request, error) {
	switch {
	case r == nil || (r.gateways == nil && !r.disabled):
		return nil, errRouterNotBuilt
	case r.disabled:
		return nil, ErrDisabled
	}
	return r.lookup(m.To).first(false).courier.Render(ctx, m)
}

// SendMessage sends m through the gateways of its route, as the Router's
// documentation describes, and returns when a gateway accepts it, when a
// failure ends the send, or when ctx ends. Its errors are those of
// Courier.SendMessage, with the secrets of every gateway withheld; when
// every gateway still to try asked to wait with Retry-After, the error is
// the *GatewayError of the soonest, whose RetryAfter is the wait left.
// Result.Gateway names the gateway that answered, and Result.Tried each
// step.
func (r *Router) SendMessage(ctx context.Context, m Message) (Result, error) {
	switch {
	case r == nil || (r.gateways == nil && !r.disabled):
		return Result{}, errRouterNotBuilt
	case r.disabled:
		return Result{}, ErrDisabled
	}
	if m.IdempotencyKey == "" {
		m.IdempotencyKey = NewIdempotencyKey() // one key for every gateway
	}
	rt := r.lookup(m.To)
	// The send's state stays on the stack for routes of up to 4 gateways.
	var chainBuf [4]*routeGateway
	var hopsBuf [4]hop
	s := routedSend{r: r, rt: rt, m: m, pinned: -1, watched: r.logger != nil || r.observer != nil}
	s.chain = rt.chain(chainBuf[:0], true)
	s.hops = hopsBuf[:0]
	for range s.chain {
		s.hops = append(s.hops, hop{})
	}
	s.res.Tried = make([]Try, 0, len(s.chain))
	s.res.IdempotencyKey = m.IdempotencyKey
	s.res.Segments = Segments(m.Body)
	err := s.run(ctx)
	if err != nil && !isSentinel(err) {
		err = newScrubber(r.secrets, m.Body, m.To).withholdErr(err)
	}
	return s.res, err
}

// routedSend is the state of one SendMessage of a Router.
type routedSend struct {
	r       *Router
	rt      *route
	m       Message
	chain   []*routeGateway
	hops    []hop // by index in chain
	res     Result
	pinned  int // the index of a gateway whose outcome is unknown, else -1
	watched bool
	pending *Event // the last attempt's event, sent when what follows is known
	lastErr error
}

// hop is the state of one gateway of the chain in a send.
type hop struct {
	p       prepared      // the message rendered for it, once ready
	ready   bool          // p is set
	out     bool          // not to be tried again in this send
	refusal *GatewayError // its last refusal with Retry-After in this send
}

// errBreakerIgnore is an outcome a circuit breaker does not count.
var errBreakerIgnore = errors.New("not counted")

// errBreakerFailure is an outcome a circuit breaker counts as a failure.
var errBreakerFailure = errors.New("failed")

// run sends in passes over the chain until a gateway accepts the message
// or a failure ends the send.
func (s *routedSend) run(ctx context.Context) error {
	for pass := 1; ; pass++ {
		attempted, err, final := s.walk(ctx)
		if final {
			return s.finish(ctx, err)
		}
		wait, err, again := s.nextPass(ctx, pass, attempted, err)
		if !again {
			return s.finish(ctx, err)
		}
		s.flush(ctx, false, wait)
		if werr := sleep(ctx, wait); werr != nil {
			err = fmt.Errorf("%w (retry abandoned: %w)", err, werr)
			if s.watched && len(s.res.Tried) > 0 {
				ev := s.event(s.chain[0], 0)
				last := s.res.Tried[len(s.res.Tried)-1]
				ev.Gateway, ev.Attempt, ev.Class, ev.Final, ev.Abandoned = last.Gateway, s.res.Attempts, ClassOf(err), true, true
				s.r.emit(ctx, ev)
			}
			return err
		}
	}
}

// walk makes one pass over the chain. It returns whether a request was
// made, the error of the last failure, and whether the send is over (a
// gateway accepted the message, or a failure ends the send).
func (s *routedSend) walk(ctx context.Context) (attempted bool, err error, final bool) {
	var open []int // gateways skipped for their open breaker
	var now int64  // read when a gateway has a Retry-After to compare
	for i, g := range s.chain {
		if s.hops[i].out || (s.pinned >= 0 && i != s.pinned) {
			continue
		}
		var report func(error)
		if s.pinned < 0 {
			if until := g.retryUntil.Load(); until != 0 {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				if until > now {
					s.skip(g, SkipRetryAfter)
					continue
				}
			}
			done, berr := g.breaker.Allow()
			s.r.breakerEvents(ctx, g)
			if berr != nil {
				s.skip(g, SkipCircuitOpen)
				open = append(open, i)
				continue
			}
			report = done
		}
		attempted = true
		err, final = s.try(ctx, i, report)
		if final || s.pinned >= 0 {
			return attempted, err, final
		}
	}
	if !attempted && len(open) > 0 {
		// Every gateway left is skipped for its breaker: the one that
		// failed longest ago gets the message rather than none.
		i := slices.MinFunc(open, func(a, b int) int {
			return cmp.Compare(s.chain[a].lastFail.Load(), s.chain[b].lastFail.Load())
		})
		err, final = s.try(ctx, i, nil)
		return true, err, final
	}
	return attempted, s.lastErr, false
}

// skip records that g was passed over.
func (s *routedSend) skip(g *routeGateway, why string) {
	s.res.Tried = append(s.res.Tried, Try{Gateway: g.name, Skipped: why})
}

// try renders the message for the gateway at index i unless it has, and
// makes one attempt there, reporting the outcome to its breaker through
// report when there is one. It returns the attempt's error and whether the
// send is over.
func (s *routedSend) try(ctx context.Context, i int, report func(error)) (error, bool) {
	g, h := s.chain[i], &s.hops[i]
	if !h.ready {
		m := s.m // prepare keeps its message: copied, s can stay on the stack
		var err error
		if h.p, err = g.courier.prepare(ctx, &m); err != nil {
			if report != nil {
				report(errBreakerIgnore)
			}
			return s.notPrepared(ctx, g, h, err)
		}
		h.ready = true
	}
	s.flush(ctx, false, 0)
	s.res.Attempts++
	var started time.Time
	if s.watched {
		started = time.Now()
	}
	p := h.p // attempt keeps it: copied, s can stay on the stack
	reply, err := g.courier.attempt(ctx, &p)
	class := ClassOf(err)
	switch {
	case report == nil:
	case ctx.Err() != nil:
		report(errBreakerIgnore)
	case class == ClassNotSent || class == ClassRefused || class == ClassOutcomeUnknown:
		report(errBreakerFailure)
	default:
		report(nil) // the gateway answered
	}
	if class == ClassNotSent || class == ClassRefused || class == ClassOutcomeUnknown {
		g.lastFail.Store(time.Now().UnixNano())
	}
	s.r.breakerEvents(ctx, g)
	s.res.Gateway = g.name
	s.res.Tried = append(s.res.Tried, Try{Gateway: g.name, Class: class})
	if err == nil {
		if s.watched {
			ev := s.event(g, s.res.Attempts)
			ev.Class, ev.Status, ev.Duration = class, reply.status, time.Since(started)
			s.pending = &ev
		}
		s.res.StatusCode, s.res.Header, s.res.Body, s.res.MessageID = reply.status, reply.header, reply.body, reply.messageID
		return nil, true
	}
	return s.failed(ctx, i, err, class, started)
}

// failed records the failed attempt at the gateway at index i and decides
// what follows, as try returns it.
func (s *routedSend) failed(ctx context.Context, i int, err error, class Class, started time.Time) (error, bool) {
	g, h := s.chain[i], &s.hops[i]
	var ge *GatewayError
	hasGE := errors.As(err, &ge)
	if s.watched {
		ev := s.event(g, s.res.Attempts)
		ev.Class, ev.Duration = class, time.Since(started)
		if hasGE {
			ev.Status, ev.RetryAfter = ge.StatusCode, ge.RetryAfter
		}
		s.pending = &ev
	}
	s.lastErr = err
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return err, true
	case class == ClassOutcomeUnknown:
		s.pinned = i // never elsewhere: the message may have gone out here
		return err, false
	case class == ClassRejected:
		h.out = true
		return err, !s.rt.failoverOnRejected
	case class == ClassRefused && hasGE && ge.hasRetryAfter:
		h.refusal = ge
		until := time.Now().Add(ge.RetryAfter).UnixNano()
		for {
			old := g.retryUntil.Load()
			if old >= until || g.retryUntil.CompareAndSwap(old, until) {
				break
			}
		}
		return err, false
	case errors.Is(err, ErrEgressDenied):
		h.out = true // it would be denied again
		return err, false
	case class == ClassNotSent || class == ClassRefused:
		return err, false
	}
	return err, true // a response template's verdict, or another failure
}

// notPrepared handles a failure to render the message for gateway g. A
// template that failed or cancelled sent nothing there, and the send moves
// on; a message no gateway would take ends the send.
func (s *routedSend) notPrepared(ctx context.Context, g *routeGateway, h *hop, err error) (error, bool) {
	class := ClassOf(err)
	switch {
	case class == ClassTemplate || class == ClassCancelled:
		h.out = true
		s.res.Tried = append(s.res.Tried, Try{Gateway: g.name, Class: class})
		if s.lastErr == nil || s.res.Attempts == 0 {
			s.lastErr = err
		}
		return err, false
	case class == ClassExpired && s.res.Attempts > 0:
		return fmt.Errorf("%w (the message's NotAfter passed before the next gateway: %w)", s.lastErr, ErrExpired), true
	}
	return err, true
}

// nextPass decides, after a pass that ended without success, whether
// another pass follows and after what wait; when none does, err is the
// send's error.
func (s *routedSend) nextPass(ctx context.Context, pass int, attempted bool, err error) (time.Duration, error, bool) {
	retry := s.r.retry
	if s.pinned >= 0 {
		// The outcome is unknown: the same gateway again, only under an
		// idempotency key.
		if s.r.idemHeader == "" || pass >= retry.MaxAttempts {
			return 0, err, false
		}
		return s.timeFor(ctx, err, retry.backoff(pass))
	}
	now := time.Now()
	var soonest *hop
	var soonestUntil int64
	ready := false // a gateway that can be tried without waiting for its Retry-After
	for i, g := range s.chain {
		if s.hops[i].out {
			continue
		}
		until := g.retryUntil.Load()
		if until <= now.UnixNano() {
			ready = true
			continue
		}
		if soonest == nil || until < soonestUntil {
			soonest, soonestUntil = &s.hops[i], until
		}
	}
	if err == nil {
		err = s.lastErr
	}
	switch {
	case ready && attempted:
		if pass >= retry.MaxAttempts {
			return 0, err, false
		}
		return s.timeFor(ctx, err, retry.backoff(pass))
	case ready:
		// Skipped for a Retry-After that passed during the pass.
		return s.timeFor(ctx, err, 0)
	case soonest == nil:
		return 0, err, false // every gateway is out
	}
	// Every gateway left asked to wait: the error carries the soonest wait.
	wait := time.Duration(soonestUntil - now.UnixNano())
	err = s.waitError(soonest, wait)
	if pass >= retry.MaxAttempts || wait > retry.MaxRetryAfter {
		return 0, err, false
	}
	return s.timeFor(ctx, err, wait)
}

// waitError is the refusal of h with the wait left in its RetryAfter, or,
// for a gateway that refused in an earlier send, a refusal made up for
// the wait.
func (s *routedSend) waitError(h *hop, wait time.Duration) error {
	ge := &GatewayError{StatusCode: http.StatusServiceUnavailable, class: ErrRefused}
	if h.refusal != nil {
		copied := *h.refusal
		ge = &copied
	}
	ge.RetryAfter, ge.hasRetryAfter = wait, true
	return ge
}

// timeFor reports whether another pass can start after wait, before ctx's
// deadline and the message's NotAfter.
func (s *routedSend) timeFor(ctx context.Context, err error, wait time.Duration) (time.Duration, error, bool) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, fmt.Errorf("%w (no time left for a retry in %s: %w)", err, wait, context.DeadlineExceeded), false
	}
	if na := s.m.NotAfter; !na.IsZero() && time.Until(na) < wait {
		return 0, fmt.Errorf("%w (a retry in %s would pass the message's NotAfter: %w)", err, wait, ErrExpired), false
	}
	return wait, err, true
}

// finish sends the last attempt's event, final, and returns err.
func (s *routedSend) finish(ctx context.Context, err error) error {
	if s.pending != nil && err != nil {
		s.pending.Class = ClassOf(err)
	}
	s.flush(ctx, true, 0)
	if s.res.Attempts == 0 && err != nil && s.watched {
		// Refused before any request: invalid, expired, every template
		// failed, or every gateway asked to wait.
		ev := s.event(s.chain[0], 0)
		ev.Class, ev.Final = ClassOf(err), true
		ev.Tried = slices.Clone(s.res.Tried)
		s.r.emit(ctx, ev)
	}
	return err
}

// flush sends the pending attempt event, if any, with final and wait.
func (s *routedSend) flush(ctx context.Context, final bool, wait time.Duration) {
	if s.pending == nil {
		return
	}
	ev := *s.pending
	s.pending = nil
	ev.Final, ev.Wait = final, wait
	ev.Tried = slices.Clone(s.res.Tried)
	s.r.emit(ctx, ev)
}

// event starts an Event of the send at gateway g.
func (s *routedSend) event(g *routeGateway, attempt int) Event {
	return Event{
		Attempt:        attempt,
		Gateway:        g.name,
		To:             MaskNumber(s.m.To),
		IdempotencyKey: s.m.IdempotencyKey,
		Segments:       s.res.Segments.Segments,
	}
}

// emit hands ev to the Router's consumers.
func (r *Router) emit(ctx context.Context, ev Event) {
	if r.logger != nil {
		logEvent(ctx, r.logger, ev)
	}
	if r.observer != nil && (ev.Attempt > 0 || ev.Breaker != "") {
		r.observer(ev)
	}
}

// breakerEvents emits the state changes of g's breaker since the last
// call.
func (r *Router) breakerEvents(ctx context.Context, g *routeGateway) {
	if !g.changed.Load() {
		return
	}
	g.mu.Lock()
	g.changed.Store(false)
	changes := g.changes
	g.changes = nil
	g.mu.Unlock()
	for _, state := range changes {
		r.emit(ctx, Event{Gateway: g.name, Breaker: state})
	}
}

// breakerState names a gobreaker state as Event.Breaker does.
func breakerState(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}
