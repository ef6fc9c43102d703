// Package smscourier sends SMS through any HTTP SMS gateway, configured the
// way Ory Kratos configures its SMS courier.
//
// A Courier is built once from an SMSConfig (parsed from a Kratos config file
// with ParseConfig or LoadConfig, or written in Go). New validates the whole
// config, loads and parses the Jsonnet body template once, and precomputes
// headers and credentials. Each Send renders the body from the template with
// the message bound to ctx, applies api_key or basic_auth, and sends it
// through the courier's *http.Client, retrying only what is safe to retry. A
// 2xx reply is success; any other reply is a *GatewayError.
package smscourier

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smscourier/smscourier/internal/jsonnetfast"
	"github.com/smscourier/smscourier/internal/jsontext"
)

// Limits on reading a gateway's reply.
const (
	// maxReplyPrefix is how much of a reply body is kept in Result.Body and
	// GatewayError.Body.
	maxReplyPrefix = 16 << 10
	// maxReplyDrain is how much more is read and discarded so that the
	// connection can be reused; a longer reply closes the connection instead.
	maxReplyDrain = 64 << 10
	// maxIdempotencyKey is the longest Message.IdempotencyKey accepted.
	maxIdempotencyKey = 255
	// maxRequester is the longest Message.Requester accepted, in bytes.
	maxRequester = 255
)

// replyReadTimeout bounds reading the reply body once the status line has
// arrived, so a dribbling gateway cannot hold Send. A variable for tests.
var replyReadTimeout = 5 * time.Second

// Courier sends SMS messages through one configured HTTP gateway. It is
// immutable after New and safe for concurrent use by multiple goroutines.
type Courier struct {
	disabled   bool
	client     *http.Client
	logger     *slog.Logger // nil: no logging
	retry      RetryPolicy
	idemHeader string // canonical; "" when not sent
	maxBody    int
	from       string
	method     string
	url        string
	host       string      // a configured Host header, else "" (the URL's host)
	gateway    string      // the URL's host, for logs
	shownURL   string      // the URL without userinfo or query, for errors
	header     http.Header // static headers, canonical keys, without auth
	auth       authenticator
	secrets    []string // what no error may show: credentials(), made in New
	sms        smsChecks
	observer   func(Event)           // nil: none
	eval       evaluator             // nil: no body
	response   evaluator             // nil: any 2xx is success
	fast       *jsonnetfast.Template // non-nil: render without go-jsonnet
	encoding   bodyEncoding
}

// Sender sends and renders messages. A Courier is one; code that sends
// SMS (a queue worker, a command, a service) should take a Sender, so that
// anything that sends the same way can stand in for a Courier.
type Sender interface {
	// SendMessage sends m and reports what happened, as
	// Courier.SendMessage does.
	SendMessage(ctx context.Context, m Message) (Result, error)
	// Render returns the request the first attempt at m would make, and
	// sends nothing, as Courier.Render does.
	Render(ctx context.Context, m Message) (*http.Request, error)
}

var _ Sender = (*Courier)(nil)

// New validates cfg and the options, loads and parses the body template, and
// returns a Courier. Every problem is reported at once in a *ConfigError that
// wraps ErrInvalidConfig; config key paths are given under courier.sms. An
// http(s):// template is fetched here, once, through the courier's client.
// A config with enabled: false yields a Courier whose methods return
// ErrDisabled; its template is not loaded.
func New(cfg SMSConfig, opts ...Option) (*Courier, error) {
	o := applyOptions(opts)
	const prefix = "courier.sms"
	ps := cfg.check(prefix)
	o.check(&ps)
	if err := ps.err(); err != nil {
		if cfg.Enabled {
			localTemplateProblems(cfg.RequestConfig, prefix, &ps, err.(*ConfigError), o.trusted)
		}
		return nil, err
	}
	if !cfg.Enabled {
		return &Courier{disabled: true}, nil
	}
	if o.isolation != nil {
		if err := checkIsolation(*o.isolation); err != nil {
			return nil, err
		}
	}
	var ce ConfigError
	c, err := build(cfg, &o, prefix, &ce)
	if err != nil {
		return nil, err
	}
	if len(ce.Problems) > 0 {
		return nil, &ce
	}
	return c, nil
}

// applyOptions applies opts in order.
func applyOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	return o
}

// build makes the Courier of cfg and o, both already checked, and loads
// its templates. A template's problem is added to ce at its key path below
// prefix; an error is one that ends the building (the client cannot be
// made).
func build(cfg SMSConfig, o *options, prefix string, ce *ConfigError) (*Courier, error) {
	rc := cfg.RequestConfig
	u, _ := url.Parse(rc.URL) // validated by check
	c := &Courier{
		logger:   o.logger,
		sms:      o.sms,
		observer: o.observer,
		retry:    o.retry,
		maxBody:  o.maxBodySize,
		from:     cfg.From,
		method:   rc.Method,
		url:      rc.URL,
		gateway:  u.Host,
		shownURL: safeURL(u),
		header:   make(http.Header, len(rc.Headers)+1),
		auth:     newAuthenticator(rc.Auth),
	}
	if c.from == "" {
		c.from = DefaultFrom
	}
	if o.idemHeader != "" {
		c.idemHeader = http.CanonicalHeaderKey(o.idemHeader)
	}
	if err := c.setClient(o, rc.Auth); err != nil {
		return nil, err
	}
	for name, value := range rc.Headers {
		c.header.Set(name, value)
	}
	// net/http sends req.Host, not a Host header.
	c.host = c.header.Get("Host")
	c.header.Del("Host")
	c.secrets = c.credentials()
	// Both templates are loaded, so that a problem with each is reported.
	if rc.Body != "" && rc.Method != http.MethodTrace {
		if c.header.Get("Content-Type") == "" {
			c.header.Set("Content-Type", "application/json")
		}
		c.encoding = encodingFor(c.header.Get("Content-Type"))
		if err := c.loadTemplate(rc.Body, o); err != nil {
			ce.add(prefix+".request_config.body", err)
		}
	}
	if rc.Response != "" {
		var err error
		if c.response, _, err = c.compile(rc.Response, o, false); err != nil {
			ce.add(prefix+".request_config.response", err)
		}
	}
	return c, nil
}

// localTemplateProblems adds to ce the problems of the file:// and
// base64:// templates of a config that has other problems, so that New
// reports everything at once. http(s) templates are fetched only for a
// valid config. The check parses in-process: unless trusted, only sources
// small enough for the fast path are checked, and a problem of the
// in-process limits is reported only as the template's first.
func localTemplateProblems(rc RequestConfig, prefix string, ps *problems, ce *ConfigError, trusted bool) {
	for _, t := range []struct{ key, uri string }{{"body", rc.Body}, {"response", rc.Response}} {
		path := prefix + ".request_config." + t.key
		if t.uri == "" || ps.has(path) || t.key == "body" && rc.Method == http.MethodTrace {
			continue
		}
		tu, err := parseTemplateURI(t.uri)
		if err != nil || tu.scheme == "http" || tu.scheme == "https" {
			continue
		}
		src, name, err := loadTemplate(context.Background(), tu, nil)
		if err == nil && !trusted && len(src) > maxFastPathSource {
			continue
		}
		if err == nil {
			_, err = compileTemplate(name, src)
		}
		if err != nil {
			ce.add(path, err)
		}
	}
}

// setClient picks the HTTP client: the caller's (guarded against leaking
// credentials on redirects) or a default one, with egress protection when
// asked for.
func (c *Courier) setClient(o *options, auth AuthConfig) error {
	if o.client == nil {
		c.client = newDefaultClient()
	} else {
		apiKeyHeader := ""
		if auth.Type == AuthAPIKey && auth.Config.In == APIKeyInHeader {
			apiKeyHeader = auth.Config.Name
		}
		c.client = guardRedirects(o.client, apiKeyHeader)
	}
	if o.egress == nil {
		return nil
	}
	protected, err := o.egress.protect(c.client)
	if err != nil {
		return &ConfigError{Problems: []Problem{{Path: "WithSSRFProtection", Message: err.Error()}}}
	}
	c.client = protected
	return nil
}

// loadTemplate reads and compiles the body template: for the fast path
// when it covers the template, else for go-jsonnet in-process or in worker
// processes.
func (c *Courier) loadTemplate(uri string, o *options) error {
	t, fast, err := c.compile(uri, o, true)
	if err != nil {
		return err
	}
	c.eval, c.fast = t, fast
	return nil
}

// maxFastPathSource is the largest source parsed in-process to look for
// the fast path outside trusted mode. The fast path's templates are a few
// hundred bytes; go-jsonnet's static analysis of larger, hostile sources
// can take seconds.
const maxFastPathSource = 8 << 10

// compile reads the template at uri, once, and prepares it for evaluation:
// in-process when o trusts templates, or, for a body template
// (fastPath), when the fast path covers it; in worker processes
// otherwise.
func (c *Courier) compile(uri string, o *options, fastPath bool) (evaluator, *jsonnetfast.Template, error) {
	tu, _ := parseTemplateURI(uri) // validated by check
	src, name, err := loadTemplate(context.Background(), tu, c.client)
	if err != nil {
		return nil, nil, err
	}
	if o.trusted || fastPath && len(src) <= maxFastPathSource {
		t, err := compileTemplate(name, src)
		var fast *jsonnetfast.Template
		if err == nil && fastPath {
			fast = jsonnetfast.Compile(t.node, c.encoding)
		}
		if o.trusted {
			if err != nil {
				return nil, nil, err
			}
			return t, fast, nil
		}
		if fast != nil {
			return t, fast, nil
		}
	}
	var cfg IsolationConfig
	if o.isolation != nil {
		cfg = *o.isolation
	}
	w, err := newIsolatedTemplate(name, src, cfg)
	if err != nil {
		return nil, nil, err
	}
	return w, nil, nil
}

// IdempotencyKeyHeader returns the header name set by
// WithIdempotencyKeyHeader, canonicalised, or "" when none is sent: then
// ErrOutcomeUnknown failures are never retried, by this courier or by a
// queue that sends with it.
func (c *Courier) IdempotencyKeyHeader() string { return c.idemHeader }

// errNotBuilt is returned by the methods of a Courier not made by New.
var errNotBuilt = errors.New("smscourier: Courier used without New")

// Send sends one SMS with the given recipient and text. It is SendMessage
// without the Result.
func (c *Courier) Send(ctx context.Context, to, body string) error {
	_, err := c.SendMessage(ctx, Message{To: to, Body: body})
	return err
}

// SendMessage renders m once and sends it to the gateway, retrying by the
// courier's RetryPolicy with the identical body. It returns when a 2xx reply
// arrives, when a failure is not retried, or when ctx ends (the error then
// wraps ctx.Err()).
//
// Before sending it fails with ErrDisabled, or an error wrapping
// ErrInvalidMessage, ErrCancel or ErrTemplate. After trying, the error wraps
// one failure class: ErrNotSent, ErrRefused, ErrOutcomeUnknown or
// ErrRejected; a reply outside 2xx is a *GatewayError. Errors never contain
// the message text, the recipient, credentials or URL userinfo, not even
// where a gateway echoed them into a reply that net/http quotes: they are
// "[REDACTED]".
func (c *Courier) SendMessage(ctx context.Context, m Message) (Result, error) {
	res, err := c.sendMessage(ctx, m)
	if err != nil {
		err = c.withholdSecrets(err, &m)
	}
	return res, err
}

// sendMessage is SendMessage with errors that may still show secrets.
func (c *Courier) sendMessage(ctx context.Context, m Message) (Result, error) {
	p, err := c.prepare(ctx, &m)
	res := Result{IdempotencyKey: p.key}
	if err != nil {
		if !errors.Is(err, ErrDisabled) && !errors.Is(err, errNotBuilt) {
			res.Segments = Segments(m.Body) // e.g. why WithMaxSegments refused it
		}
		if c != nil && c.logger != nil {
			ev := c.event(&p, 0)
			ev.Class, ev.Final = ClassOf(err), true
			c.emit(ctx, ev)
		}
		return res, err
	}
	res.Segments = Segments(m.Body)
	res.Gateway = c.gateway
	for {
		res.Attempts++
		watched := c.watched()
		var started time.Time
		if watched {
			started = time.Now()
		}
		var r gatewayReply
		r, err = c.attempt(ctx, &p)
		var wait time.Duration
		retry := false
		if err == nil {
			res.StatusCode, res.Header, res.Body, res.MessageID = r.status, r.header, r.body, r.messageID
		} else {
			wait, retry = c.retryWait(ctx, err, res.Attempts)
			if retry {
				retry, err = c.timeForRetry(ctx, &p, err, wait)
			}
		}
		if watched {
			ev := c.event(&p, res.Attempts)
			ev.Class, ev.Status, ev.Duration, ev.Final = ClassOf(err), r.status, time.Since(started), !retry
			ev.Segments = res.Segments.Segments
			var ge *GatewayError
			if errors.As(err, &ge) {
				ev.Status, ev.RetryAfter = ge.StatusCode, ge.RetryAfter
			}
			if retry {
				ev.Wait = wait
			}
			c.emit(ctx, ev)
		}
		if !retry {
			return res, err
		}
		if werr := sleep(ctx, wait); werr != nil {
			err = fmt.Errorf("%w (retry abandoned: %w)", err, werr)
			if watched {
				ev := c.event(&p, res.Attempts)
				ev.Class, ev.Final, ev.Abandoned = ClassOf(err), true, true
				ev.Segments = res.Segments.Segments
				var ge *GatewayError
				if errors.As(err, &ge) {
					ev.Status, ev.RetryAfter = ge.StatusCode, ge.RetryAfter
				}
				c.emit(ctx, ev)
			}
			return res, err
		}
	}
}

// timeForRetry reports whether a retry in wait can happen, and returns err,
// which says why not when ctx's deadline or the message's NotAfter comes
// first.
func (c *Courier) timeForRetry(ctx context.Context, p *prepared, err error, wait time.Duration) (bool, error) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return false, fmt.Errorf("%w (no time left for a retry in %s: %w)", err, wait, context.DeadlineExceeded)
	}
	if !p.notAfter.IsZero() && time.Until(p.notAfter) < wait {
		return false, fmt.Errorf("%w (a retry in %s would pass the message's NotAfter: %w)", err, wait, ErrExpired)
	}
	return true, err
}

// retryWait decides whether the failure of attempt n is retried, and after
// how long.
// The caller's ctx ending stops the retries; an error that wraps
// context.DeadlineExceeded while ctx lives is the client's own Timeout for
// one attempt, and its class decides, like any other failure's.
func (c *Courier) retryWait(ctx context.Context, err error, n int) (time.Duration, bool) {
	if n >= c.retry.MaxAttempts {
		return 0, false
	}
	var ge *GatewayError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled),
		errors.Is(err, ErrEgressDenied): // the address will be refused again
		return 0, false
	case errors.Is(err, ErrRefused) && errors.As(err, &ge):
		if ge.hasRetryAfter {
			return ge.RetryAfter, ge.RetryAfter <= c.retry.MaxRetryAfter
		}
	case errors.Is(err, ErrNotSent):
	case errors.Is(err, ErrOutcomeUnknown):
		if c.idemHeader == "" {
			return 0, false
		}
	default:
		return 0, false
	}
	return c.retry.backoff(n), true
}

// sleep waits d or until ctx ends, returning ctx.Err() in that case.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Render returns the exact request SendMessage would send first for m, with
// credentials and the idempotency key header applied and a body that can be
// read (and re-read through GetBody). Nothing is sent. It fails as
// SendMessage does before sending. With an empty m.IdempotencyKey each call
// makes a new random key. Its errors withhold secrets as SendMessage's do.
func (c *Courier) Render(ctx context.Context, m Message) (*http.Request, error) {
	req, err := c.render(ctx, m)
	if err != nil {
		return nil, c.withholdSecrets(err, &m)
	}
	return req, nil
}

// render is Render with errors that may still show secrets.
func (c *Courier) render(ctx context.Context, m Message) (*http.Request, error) {
	p, err := c.prepare(ctx, &m)
	if err != nil {
		return nil, err
	}
	return c.newRequest(ctx, &p)
}

// prepared is a message rendered once, sent as is on every attempt.
type prepared struct {
	key      string
	to       string
	text     string // the message text, only to keep it out of errors
	notAfter time.Time
	body     []byte // nil: no body
}

// prepare validates m, settles its idempotency key and renders its body.
func (c *Courier) prepare(ctx context.Context, m *Message) (prepared, error) {
	if c == nil || (c.client == nil && !c.disabled) {
		return prepared{}, errNotBuilt
	}
	if c.disabled {
		return prepared{}, ErrDisabled
	}
	if err := m.validate(); err != nil {
		return prepared{}, err
	}
	if !m.NotAfter.IsZero() && !time.Now().Before(m.NotAfter) {
		return prepared{}, ErrExpired
	}
	if err := c.sms.check(m); err != nil {
		return prepared{}, err
	}
	p := prepared{key: m.IdempotencyKey, to: m.To, notAfter: m.NotAfter}
	if p.key == "" {
		p.key = NewIdempotencyKey()
	}
	if c.eval != nil {
		var err error
		p.text = m.Body
		if p.body, err = c.renderBody(ctx, m, p.key); err != nil {
			return p, err
		}
	}
	return p, nil
}

// renderBody evaluates the template for m and encodes the result.
func (c *Courier) renderBody(ctx context.Context, m *Message, key string) ([]byte, error) {
	if c.fast != nil {
		return c.renderFast(m, key)
	}
	tc := templateContext{
		From:           m.From,
		To:             m.To,
		Body:           m.Body,
		Recipient:      m.To,
		MessageType:    "sms",
		TemplateType:   m.TemplateType,
		TemplateData:   m.TemplateData,
		RequestHeaders: m.RequestHeaders,
		IdempotencyKey: key,
	}
	if tc.From == "" {
		tc.From = c.from
	}
	if tc.TemplateData == nil {
		tc.TemplateData = struct{}{}
	}
	if tc.RequestHeaders == nil {
		tc.RequestHeaders = http.Header{}
	}
	out, err := c.eval.evaluate(ctx, &tc)
	if err != nil {
		return nil, withhold(err, m.Body, m.To)
	}
	body, err := encodeBody(c.encoding, out)
	if err != nil {
		return nil, err
	}
	// The limit applies to the body, as on the fast path, not to
	// go-jsonnet's output (a form body can be much shorter than its JSON).
	if len(body) > c.maxBody {
		return nil, bodyTooLarge(len(body), c.maxBody)
	}
	return body, nil
}

// renderFast renders m with the compiled fast path. Its result is the one
// go-jsonnet would give.
func (c *Courier) renderFast(m *Message, key string) ([]byte, error) {
	fc := jsonnetfast.Ctx{
		jsonnetfast.From:           m.From,
		jsonnetfast.To:             m.To,
		jsonnetfast.Body:           m.Body,
		jsonnetfast.Recipient:      m.To,
		jsonnetfast.MessageType:    "sms",
		jsonnetfast.TemplateType:   m.TemplateType,
		jsonnetfast.IdempotencyKey: key,
	}
	if fc[jsonnetfast.From] == "" {
		fc[jsonnetfast.From] = c.from
	}
	buf := bodyBuffers.Get().(*[]byte)
	out := c.fast.Render(&fc, (*buf)[:0])
	var body []byte
	if len(out) <= c.maxBody {
		body = append([]byte(nil), out...)
	}
	if cap(out) <= 64<<10 { // keep big buffers out of the pool
		*buf = out
		bodyBuffers.Put(buf)
	}
	if body == nil {
		return nil, bodyTooLarge(len(out), c.maxBody)
	}
	return body, nil
}

// bodyTooLarge is the error of a rendered body over the WithMaxBodySize
// limit.
func bodyTooLarge(n, limit int) error {
	return fmt.Errorf("%w: rendered body is %d bytes, over the limit of %d", ErrTemplate, n, limit)
}

// bodyBuffers holds scratch buffers for fast-path rendering.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// newRequest builds one attempt's request for p.
func (c *Courier) newRequest(ctx context.Context, p *prepared) (*http.Request, error) {
	var body io.Reader
	if p.body != nil {
		body = bytes.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return nil, fmt.Errorf("smscourier: build request for %s: %w", c.shownURL, unwrapURLError(err))
	}
	req.Header = c.header.Clone()
	req.Host = c.host
	if c.auth != nil {
		c.auth.apply(req.Header)
	}
	if c.idemHeader != "" {
		req.Header[c.idemHeader] = []string{p.key}
	}
	return req, nil
}

// attempt makes one HTTP request and reads the reply, bounded in size and
// time. It classifies a failure to get a reply by whether the request was
// written.
// gatewayReply is a successful reply.
type gatewayReply struct {
	status    int
	header    http.Header
	body      []byte
	messageID string
}

func (c *Courier) attempt(ctx context.Context, p *prepared) (gatewayReply, error) {
	// Once the status is known, a slow body must not hold Send. The
	// client's Timeout or ctx's deadline bounds the read when there is one;
	// otherwise cancelling the request's context after replyReadTimeout does.
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); !ok && c.client.Timeout == 0 {
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	tr := &writeTrace{}
	tr.trace.WroteRequest = tr.wroteRequest
	ctx = httptrace.WithClientTrace(ctx, &tr.trace)
	req, err := c.newRequest(ctx, p)
	if err != nil {
		return gatewayReply{}, &sendError{class: ErrNotSent, msg: err.Error(), cause: err}
	}
	// Without GetBody net/http cannot replay the request on its own after a
	// reused connection fails: every resend is one of ours, and counted.
	req.GetBody = nil
	resp, err := c.client.Do(req)
	if err != nil {
		cause := unwrapURLError(err)
		se := &sendError{class: ErrNotSent, cause: cause}
		what := "not sent"
		if tr.wrote.Load() {
			se.class, what = ErrOutcomeUnknown, "outcome unknown"
		}
		se.msg = fmt.Sprintf("smscourier: %s %s: %s: %v", req.Method, c.shownURL, what, cause)
		return gatewayReply{}, se
	}
	if cancel != nil {
		stop := time.AfterFunc(replyReadTimeout, cancel)
		defer stop.Stop()
	}
	body := readReply(resp)
	r := gatewayReply{status: resp.StatusCode, header: resp.Header, body: body}
	if c.response != nil {
		r.messageID, err = c.interpret(ctx, p, req, resp, body)
		return r, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return gatewayReply{}, newGatewayError(resp, body)
	}
	return r, nil
}

// writeTrace records whether a request was written, in one allocation.
type writeTrace struct {
	trace httptrace.ClientTrace
	wrote atomic.Bool
}

func (t *writeTrace) wroteRequest(httptrace.WroteRequestInfo) { t.wrote.Store(true) }

// readReply returns up to maxReplyPrefix bytes of the body, reads and
// discards up to maxReplyDrain more so that the connection can be reused,
// and closes it. Read errors end the read: the status already decided the
// outcome.
func readReply(resp *http.Response) []byte {
	defer resp.Body.Close()
	if resp.ContentLength == 0 {
		return nil
	}
	buf := replyBuffers.Get().(*[maxReplyPrefix]byte)
	defer replyBuffers.Put(buf)
	n, err := io.ReadFull(resp.Body, buf[:])
	if err == nil { // the prefix is full: drain a bounded rest
		_, _ = io.CopyN(io.Discard, resp.Body, maxReplyDrain)
	}
	if n == 0 {
		return nil
	}
	return append([]byte(nil), buf[:n]...)
}

// replyBuffers holds the buffers replies are read into.
var replyBuffers = sync.Pool{New: func() any { return new([maxReplyPrefix]byte) }}

// safeURL shows u without userinfo, query or fragment.
func safeURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// unwrapURLError drops the *url.Error layer, whose text repeats the URL
// (with its user name and query), keeping the cause.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// watched reports whether any consumer wants events, so that the send
// loop can skip their cost.
func (c *Courier) watched() bool { return c.logger != nil || c.observer != nil }

// event starts the Event of attempt n of the send p.
func (c *Courier) event(p *prepared, n int) Event {
	return Event{Attempt: n, Gateway: c.gateway, To: MaskNumber(p.to), IdempotencyKey: p.key}
}

// emit hands ev to the consumers: the logger and, for attempts, the
// observer.
func (c *Courier) emit(ctx context.Context, ev Event) {
	if c.logger != nil {
		logEvent(ctx, c.logger, ev)
	}
	if c.observer != nil && ev.Attempt > 0 {
		c.observer(ev)
	}
}

// String describes the courier without credentials, for example
// "smscourier.Courier(POST https://api.example.com/v1/send)": the URL
// without user information or query. A Courier value and a *Courier
// print alike; a nil *Courier prints as fmt prints nil pointers, "<nil>".
func (c Courier) String() string {
	if c.disabled {
		return "smscourier.Courier(disabled)"
	}
	return "smscourier.Courier(" + c.method + " " + c.shownURL + ")"
}

// Format prints String for every verb, so that no verb (%+v, %#v, ...)
// shows the credentials the courier holds.
func (c Courier) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue logs String.
func (c Courier) LogValue() slog.Value { return slog.StringValue(c.String()) }

// interpret applies the response template to a reply. It returns the
// message id on success, or the failure the template found: a
// *GatewayError whose class follows the template's retryable flag. When
// the template itself fails, the status decides, except that a 2xx reply
// then has an unknown outcome: the gateway may have accepted the message.
func (c *Courier) interpret(ctx context.Context, p *prepared, req *http.Request, resp *http.Response, body []byte) (string, error) {
	status := resp.StatusCode
	success := status >= 200 && status <= 299
	out, err := c.response.evaluate(ctx, newResponseContext(status, resp.Header, body))
	var v verdict
	if err == nil {
		v, err = parseVerdict(out)
	}
	if err != nil {
		err = withhold(err, p.text, p.to)
		if success {
			return "", &sendError{
				class: ErrOutcomeUnknown,
				msg:   fmt.Sprintf("smscourier: %s %s: outcome unknown: status %d, but the response template failed: %v", req.Method, c.shownURL, status, err),
				cause: err,
			}
		}
		return "", newGatewayError(resp, body)
	}
	ok := success
	if v.OK != nil {
		ok = *v.OK
	}
	if ok {
		return jsontext.Scalar(v.MessageID), nil
	}
	ge := newGatewayError(resp, body)
	ge.ErrorCode = jsontext.Scalar(v.ErrorCode)
	if v.ErrorMessage != nil {
		ge.ErrorMessage = *v.ErrorMessage
	}
	if v.RetryAfterSeconds != nil {
		ge.RetryAfter = time.Duration(*v.RetryAfterSeconds * float64(time.Second))
		ge.hasRetryAfter = true
	}
	switch {
	case v.OutcomeUnknown != nil && *v.OutcomeUnknown:
		// The gateway may have taken the message: never resent without an
		// idempotency key, whatever retryable says.
		ge.class = ErrOutcomeUnknown
	case v.Retryable != nil && *v.Retryable:
		ge.class = ErrRefused
	case v.Retryable != nil || success:
		ge.class = ErrRejected
	}
	return "", ge
}

// withholdSecrets returns err, an error of sending m, with the secrets of
// c and m taken out of it.
func (c *Courier) withholdSecrets(err error, m *Message) error {
	if err == nil || isSentinel(err) {
		return err
	}
	var secrets []string
	if c != nil {
		secrets = c.secrets
	}
	return newScrubber(secrets, m.Body, m.To).withholdErr(err)
}

// credentials returns the secrets that c sends: the api key; the basic
// auth password, user:password and the token made of them; the URL's
// userinfo and the values of its credential-like query parameters (see
// sensitiveName), as written and decoded; and the values of configured
// credential-like headers, with the token after an auth scheme and each
// cookie value.
func (c *Courier) credentials() []string {
	var out []string
	switch a := c.auth.(type) {
	case basicAuth:
		token := strings.TrimPrefix(a.header, "Basic ")
		out = append(out, token)
		if pair, err := base64.StdEncoding.DecodeString(token); err == nil {
			_, password, _ := strings.Cut(string(pair), ":")
			out = append(out, string(pair), password)
		}
	case apiKeyHeader:
		out = append(out, a.value)
	case apiKeyCookie:
		_, value, _ := strings.Cut(a.pair, "=")
		out = append(out, value)
	}
	if u, err := url.Parse(c.url); err == nil {
		out = append(out, urlCredentials(u)...)
	}
	for name, values := range c.header {
		if !sensitiveName(name) {
			continue
		}
		for _, v := range values {
			out = append(out, v)
			if _, token, ok := strings.Cut(v, " "); ok {
				out = append(out, strings.TrimSpace(token))
			}
			for pair := range strings.SplitSeq(v, ";") {
				if _, value, ok := strings.Cut(pair, "="); ok {
					out = append(out, strings.TrimSpace(value))
				}
			}
		}
	}
	return out
}
