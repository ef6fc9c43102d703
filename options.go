package smscourier

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Option configures a Courier. Options are applied in New, in order; a later
// option of the same kind replaces an earlier one.
type Option interface {
	apply(*options)
}

type options struct {
	client      *http.Client
	logger      *slog.Logger
	retry       RetryPolicy
	idemHeader  string
	maxBodySize int
	egress      *egressPolicy
	isolation   *IsolationConfig
	sms         smsChecks
	observer    func(Event)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithHTTPClient makes the Courier send (and fetch http(s):// templates)
// through c. The client is never modified: the Courier uses a shallow copy
// whose redirect policy also strips credentials on a redirect to another
// origin. Its Timeout, Transport and Jar apply. Without this option, or with
// a nil c, the Courier uses its own client with a 10 s timeout that does not
// follow redirects. http.DefaultClient is never used.
func WithHTTPClient(c *http.Client) Option {
	return optionFunc(func(o *options) { o.client = c })
}

// WithLogger makes the Courier log each attempt, retry and outcome to l as
// structured records (attempt, status, class, wait, gateway host, the
// recipient with all but its last digits masked, the idempotency key). The
// message text and credentials are never logged. Without it nothing is
// logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithIdempotencyKeyHeader sends each message's idempotency key in the
// header name on every attempt. Only with it are ErrOutcomeUnknown failures
// retried: a gateway that deduplicates on that header turns a repeat into a
// no-op. An empty name turns the header off.
func WithIdempotencyKeyHeader(name string) Option {
	return optionFunc(func(o *options) { o.idemHeader = name })
}

// WithMaxBodySize caps the rendered request body at n bytes; a larger body is
// an ErrTemplate error and nothing is sent. Default DefaultMaxBodySize
// (256 KiB). n must be positive.
func WithMaxBodySize(n int) Option {
	return optionFunc(func(o *options) { o.maxBodySize = n })
}

// check validates the options and fills in defaults.
func (o *options) check(ps *problems) {
	o.retry = o.retry.normalize(ps)
	switch {
	case o.maxBodySize == 0:
		o.maxBodySize = DefaultMaxBodySize
	case o.maxBodySize < 0:
		ps.add("WithMaxBodySize", "must be positive")
	}
	if o.idemHeader != "" && !isToken(o.idemHeader) {
		ps.add("WithIdempotencyKeyHeader", "%q is not a valid header name", o.idemHeader)
	}
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

// defaultClientTimeout is the Timeout of the default client.
const defaultClientTimeout = 10 * time.Second

// errTooManyRedirects mirrors net/http's limit for a client without a policy.
var errTooManyRedirects = errors.New("stopped after 10 redirects")

// guardRedirects returns a shallow copy of c whose redirect policy removes
// credentials (Authorization, Cookie and the api_key header) from a redirect
// to another origin (scheme, host and port), then applies c's own policy.
// net/http alone forwards a custom api-key header anywhere, and Authorization
// to subdomains.
func guardRedirects(c *http.Client, apiKeyHeader string) *http.Client {
	guarded := *c
	next := c.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
			req.Header.Del("Cookie")
			if apiKeyHeader != "" {
				req.Header.Del(apiKeyHeader)
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errTooManyRedirects
		}
		return nil
	}
	return &guarded
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Hostname() == b.Hostname() && portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}
