// Package smscourier sends SMS through any HTTP SMS gateway, configured the
// way Ory Kratos configures its SMS courier.
//
// A Courier is built once from an SMSConfig (parsed from a Kratos config file
// with ParseConfig or LoadConfig, or written in Go). New validates the whole
// config, loads and parses the Jsonnet body template once, and precomputes
// headers and credentials. Each Send renders the body from the template with
// the message bound to ctx, applies api_key or basic_auth, and makes one HTTP
// request through the courier's *http.Client. A 2xx reply is success; any
// other reply is a *GatewayError.
package smscourier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"
)

// Limits on reading a gateway's reply.
const (
	// maxReplyPrefix is how much of a reply body is kept in Result.Body and
	// GatewayError.Body.
	maxReplyPrefix = 16 << 10
	// maxReplyDrain is how much more is read and discarded so that the
	// connection can be reused; a longer reply closes the connection instead.
	maxReplyDrain = 64 << 10
	// replyReadTimeout bounds reading the reply body once the status line
	// has arrived, so a dribbling gateway cannot hold Send.
	replyReadTimeout = 5 * time.Second
	// defaultClientTimeout is the Timeout of the default client.
	defaultClientTimeout = 10 * time.Second
)

// Option configures a Courier. Options are applied in New, in order.
type Option interface {
	apply(*options)
}

type options struct {
	client *http.Client
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithHTTPClient makes the Courier send (and fetch http(s):// templates)
// through c. The client is used as it is and never modified; its Timeout,
// Transport and CheckRedirect apply. Without this option, or with a nil c,
// the Courier uses its own client with a 10 s timeout that does not follow
// redirects. http.DefaultClient is never used.
func WithHTTPClient(c *http.Client) Option {
	return optionFunc(func(o *options) { o.client = c })
}

// newDefaultClient returns the client used without WithHTTPClient: a 10 s
// overall timeout, no redirects (a 3xx reply is a *GatewayError, so
// credentials never follow a redirect), and a transport of its own.
func newDefaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport: tr,
		Timeout:   defaultClientTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Courier sends SMS messages through one configured HTTP gateway. It is
// immutable after New and safe for concurrent use by multiple goroutines.
type Courier struct {
	disabled bool
	client   *http.Client
	from     string
	method   string
	url      string
	shownURL string        // url without userinfo or query, for errors
	header   http.Header   // static headers, canonical keys, without auth
	host     string        // a configured Host header, else "" (the URL's host)
	auth     authenticator // nil: none
	tmpl     *template     // nil: no body
	encoding bodyEncoding
}

// Message is one SMS to send.
type Message struct {
	// To is the recipient, passed to the template as ctx.to and
	// ctx.recipient. Required; must not contain control characters.
	To string
	// Body is the message text, passed as ctx.body. It must be valid UTF-8.
	Body string
	// From overrides the config's from when not empty.
	From string
	// TemplateType is passed as ctx.template_type (Kratos' name for the kind
	// of message, such as "verification_code"). Default "".
	TemplateType string
	// TemplateData is passed as ctx.template_data after JSON encoding.
	// Default (nil) is an empty object.
	TemplateData any
	// RequestHeaders is passed as ctx.request_headers. Default (nil) is an
	// empty object.
	RequestHeaders http.Header
}

// Result describes a gateway's successful reply.
type Result struct {
	// StatusCode is the HTTP status of the reply (2xx on success).
	StatusCode int
	// Attempts is the number of HTTP requests made: 0 when nothing was sent.
	Attempts int
	// Header is the reply's header.
	Header http.Header
	// Body is a prefix of the reply body, at most 16 KiB.
	Body []byte
}

// New validates cfg, loads and parses its body template, and returns a
// Courier. Every problem in cfg is reported at once in a *ConfigError that
// wraps ErrInvalidConfig; key paths are given under courier.sms. An
// http(s):// template is fetched here, once, through the courier's client.
// A config with enabled: false yields a Courier whose methods return
// ErrDisabled; its template is not loaded.
func New(cfg SMSConfig, opts ...Option) (*Courier, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.client == nil {
		o.client = newDefaultClient()
	}
	const prefix = "courier.sms"
	if err := cfg.check(prefix).err(); err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return &Courier{disabled: true}, nil
	}
	rc := cfg.RequestConfig
	u, _ := url.Parse(rc.URL) // validated by check
	c := &Courier{
		client:   o.client,
		from:     cfg.From,
		method:   rc.Method,
		url:      rc.URL,
		shownURL: safeURL(u),
		header:   make(http.Header, len(rc.Headers)+1),
		auth:     newAuthenticator(rc.Auth),
	}
	if c.from == "" {
		c.from = DefaultFrom
	}
	for name, value := range rc.Headers {
		c.header.Set(name, value)
	}
	// net/http sends req.Host, not a Host header.
	c.host = c.header.Get("Host")
	c.header.Del("Host")
	if rc.Body != "" && rc.Method != http.MethodTrace {
		tu, _ := parseTemplateURI(rc.Body) // validated by check
		src, name, err := loadTemplate(context.Background(), tu, c.client)
		if err == nil {
			c.tmpl, err = compileTemplate(name, src)
		}
		if err != nil {
			return nil, &ConfigError{Problems: []Problem{{Path: prefix + ".request_config.body", Message: err.Error()}}}
		}
		if c.header.Get("Content-Type") == "" {
			c.header.Set("Content-Type", "application/json")
		}
		c.encoding = encodingFor(c.header.Get("Content-Type"))
	}
	return c, nil
}

// errNotBuilt is returned by the methods of a Courier not made by New.
var errNotBuilt = errors.New("smscourier: Courier used without New")

// Send sends one SMS with the given recipient and text. It is SendMessage
// without the Result.
func (c *Courier) Send(ctx context.Context, to, body string) error {
	_, err := c.SendMessage(ctx, Message{To: to, Body: body})
	return err
}

// SendMessage renders m and sends it to the gateway in one HTTP request.
// It returns the reply's status on success (any 2xx). It fails with
// ErrDisabled, an error wrapping ErrInvalidMessage, ErrCancel or ErrTemplate
// before anything is sent; with a *GatewayError for a non-2xx reply; or with
// the transport's error (wrapped, so errors.Is finds context.Canceled or
// context.DeadlineExceeded) when no reply arrived. Errors never contain the
// message text, credentials or URL userinfo.
func (c *Courier) SendMessage(ctx context.Context, m Message) (Result, error) {
	req, err := c.Render(ctx, m)
	if err != nil {
		return Result{}, err
	}
	return c.do(req)
}

// Render returns the exact request SendMessage would send for m, with
// credentials applied and a body that can be read (and re-read through
// GetBody). Nothing is sent. It fails as SendMessage does before sending.
func (c *Courier) Render(ctx context.Context, m Message) (*http.Request, error) {
	if c == nil || (c.client == nil && !c.disabled) {
		return nil, errNotBuilt
	}
	if c.disabled {
		return nil, ErrDisabled
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	var body io.Reader
	if c.tmpl != nil {
		b, err := c.renderBody(&m)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
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
	return req, nil
}

// renderBody evaluates the template for m and encodes the result.
func (c *Courier) renderBody(m *Message) ([]byte, error) {
	tc := templateContext{
		From:           m.From,
		To:             m.To,
		Body:           m.Body,
		Recipient:      m.To,
		MessageType:    "sms",
		TemplateType:   m.TemplateType,
		TemplateData:   m.TemplateData,
		RequestHeaders: m.RequestHeaders,
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
	ctxJSON, err := marshalContext(&tc)
	if err != nil {
		return nil, err
	}
	out, err := c.tmpl.evaluate(ctxJSON)
	if err != nil {
		return nil, err
	}
	return encodeBody(c.encoding, out)
}

// do sends req and reads the reply, bounded in size and time.
func (c *Courier) do(req *http.Request) (Result, error) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	resp, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		return Result{Attempts: 1}, fmt.Errorf("smscourier: %s %s: %w", req.Method, c.shownURL, unwrapURLError(err))
	}
	// Once the status is known, a slow body must not hold Send: cancelling
	// the request's context aborts the read.
	stop := time.AfterFunc(replyReadTimeout, cancel)
	body := readReply(resp.Body)
	stop.Stop()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{Attempts: 1}, &GatewayError{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
	}
	return Result{StatusCode: resp.StatusCode, Attempts: 1, Header: resp.Header, Body: body}, nil
}

// readReply returns up to maxReplyPrefix bytes of the body, reads and
// discards up to maxReplyDrain more so that the connection can be reused,
// and closes it. Read errors end the read: the status already decided the
// outcome.
func readReply(rc io.ReadCloser) []byte {
	defer rc.Close()
	prefix, err := io.ReadAll(io.LimitReader(rc, maxReplyPrefix))
	if err == nil && len(prefix) == maxReplyPrefix {
		_, _ = io.Copy(io.Discard, io.LimitReader(rc, maxReplyDrain))
	}
	if len(prefix) == 0 {
		return nil
	}
	return prefix
}

// validate checks m before anything is rendered or sent.
func (m *Message) validate() error {
	switch {
	case m.To == "":
		return fmt.Errorf("%w: to is empty", ErrInvalidMessage)
	case hasControl(m.To) || !utf8.ValidString(m.To):
		return fmt.Errorf("%w: to contains control characters or invalid UTF-8", ErrInvalidMessage)
	case hasControl(m.From) || !utf8.ValidString(m.From):
		return fmt.Errorf("%w: from contains control characters or invalid UTF-8", ErrInvalidMessage)
	case !utf8.ValidString(m.Body):
		return fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidMessage)
	case !utf8.ValidString(m.TemplateType):
		return fmt.Errorf("%w: template_type is not valid UTF-8", ErrInvalidMessage)
	}
	return nil
}

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
