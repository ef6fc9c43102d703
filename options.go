package smscourier

import (
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
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
	isolation   *IsolationConfig // nil: the default limits
	trusted     bool             // templates outside the fast path run in-process
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
// an ErrTemplate error and nothing is sent. Default 256 KiB. n must be
// positive.
func WithMaxBodySize(n int) Option {
	return optionFunc(func(o *options) { o.maxBodySize = n })
}

// check validates the options and fills in defaults.
func (o *options) check(ps *problems) {
	o.retry = o.retry.normalize(ps)
	switch {
	case o.maxBodySize == 0:
		o.maxBodySize = defaultMaxBodySize
	case o.maxBodySize < 0:
		ps.add("WithMaxBodySize", "must be positive")
	}
	if o.idemHeader != "" && !isToken(o.idemHeader) {
		ps.add("WithIdempotencyKeyHeader", "%q is not a valid header name", o.idemHeader)
	}
}

// WithSSRFProtection makes the Courier connect only to public addresses. It
// refuses loopback, private (RFC 1918, IPv6 unique local), link-local
// (including the cloud metadata address 169.254.169.254), shared CGNAT
// (100.64.0.0/10), multicast, unspecified, documentation, benchmarking and
// the other special-purpose ranges of the IANA IPv4 and IPv6 registries, and
// every IPv6 address outside global unicast (2000::/3), NAT64's 64:ff9b::/96
// included. An IPv4-mapped IPv6 address is judged as the IPv4 address.
// Ranges come from code.dny.dev/ssrf. Any port is allowed; only TCP.
//
// The check runs on the resolved IP address as each connection is made, not
// on the host name in a URL, so a name that resolves, or later re-resolves
// (DNS rebinding), to a refused address is refused too. It covers every
// connection of the Courier: to the gateway, to each redirect target the
// client follows, and the http(s):// body template fetched by New, which goes
// through the same client.
//
// While protection is on, requests go directly to their destination: the
// transport's Proxy is removed, so HTTP_PROXY, HTTPS_PROXY and NO_PROXY are
// ignored. A proxy would connect on the Courier's behalf, out of the check's
// sight.
//
// Protection is applied to a copy of the Courier's HTTP client (the one given
// to WithHTTPClient or the default one); the caller's client and transport
// are not modified. The transport must be an *http.Transport, or nil for a
// copy of http.DefaultTransport. The copy keeps the client's Timeout,
// CheckRedirect and Jar and the transport's TLS config, timeouts and
// connection limits; its dial functions (DialContext, Dial, DialTLSContext,
// DialTLS) are replaced by a checked dialer with a 30 s connect timeout
// (TLS is then done by the transport with its TLSClientConfig), and HTTP/2
// is used when the original transport would use it, through an HTTP/2
// transport of the copy's own. Any other http.RoundTripper makes New fail
// with an error wrapping ErrInvalidConfig at WithSSRFProtection, since it
// could connect anywhere: protect such a client with SSRFDialContext, the
// same checked dialer, instead.
//
// A refused connection fails the send with an error wrapping ErrEgressDenied;
// a refused template fetch makes New fail with ErrInvalidConfig. Combine it
// with WithSSRFAllowlist, in any order, for a gateway deliberately on a
// private network.
func WithSSRFProtection() Option {
	return optionFunc(func(o *options) {
		if o.egress == nil {
			o.egress = &egressPolicy{}
		}
	})
}

// WithSSRFAllowlist turns on SSRF protection, as WithSSRFProtection does,
// and allows connections to resolved addresses within prefixes although the
// protection would refuse them: netip.MustParsePrefix("10.20.0.0/16") for a
// gateway on a private network, say. IPv4 and IPv6 prefixes may be mixed; an
// IPv4-mapped IPv6 prefix (::ffff:10.20.0.0/112) means its IPv4 form, and
// addresses match regardless of their IPv6 zone. The allowlist applies to
// every connection the Courier makes, template fetches and redirects
// included; ports and TCP-only are unchanged.
//
// A later WithSSRFAllowlist replaces the allowlist of an earlier one;
// WithSSRFProtection keeps it. With no prefixes it is WithSSRFProtection. An
// invalid prefix (the zero netip.Prefix) makes New fail with an error
// wrapping ErrInvalidConfig.
func WithSSRFAllowlist(prefixes ...netip.Prefix) Option {
	allow := slices.Clone(prefixes)
	return optionFunc(func(o *options) { o.egress = &egressPolicy{allow: allow} })
}

// WithObserver calls fn with every Event of an attempt (Attempt 1 and up),
// on the sending goroutine: what a metrics or tracing system needs. A send
// given up while waiting for a retry (its context ended) ends with one more
// Final event for its last attempt, with no Duration. A Router also calls
// fn with each change of a gateway's circuit breaker (Event.Breaker). fn
// must be fast and safe for concurrent use.
func WithObserver(fn func(Event)) Option {
	return optionFunc(func(o *options) { o.observer = fn })
}

// WithIsolatedTemplates sets the limits of the worker processes that
// evaluate, by default, every template outside the fast path: body
// templates the fast path does not cover and response templates. Without
// it the zero IsolationConfig's defaults apply. See IsolationConfig, and
// docs/templates.md for the modes. WithIsolatedTemplates and
// WithTrustedTemplates are options of one kind: the later one given wins.
func WithIsolatedTemplates(cfg IsolationConfig) Option {
	return optionFunc(func(o *options) { o.isolation, o.trusted = &cfg, false })
}

// WithTrustedTemplates makes the Courier evaluate templates outside the
// fast path with go-jsonnet in the host process instead of in worker
// processes: tens of microseconds less per message, for operators who
// write every template themselves. A hostile template can then crash the
// host (go-jsonnet recurses in Go code that no limit counts, and the Go
// runtime's stack overflow is fatal) or take its memory; the in-process
// guards (a nesting limit on the source, no tailstrict, a call depth
// limit, a deadline after which the evaluation is abandoned) narrow that
// but cannot close it. WithIsolatedTemplates and WithTrustedTemplates are
// options of one kind: the later one given wins.
func WithTrustedTemplates() Option {
	return optionFunc(func(o *options) { o.isolation, o.trusted = nil, true })
}

// WithRetryPolicy sets how SendMessage retries. Without it, DefaultMaxAttempts
// attempts with the default delays.
func WithRetryPolicy(p RetryPolicy) Option {
	return optionFunc(func(o *options) { o.retry = p })
}

// WithoutRetries makes every SendMessage a single attempt: the same as
// WithRetryPolicy(RetryPolicy{MaxAttempts: 1}).
func WithoutRetries() Option {
	return WithRetryPolicy(RetryPolicy{MaxAttempts: 1})
}

// WithMaxSegments makes the Courier refuse a message whose Body needs more
// than n SMS segments, as Segments counts them: Send, SendMessage and Render
// return an error wrapping ErrInvalidMessage that names the count and the
// limit (never the text), and nothing is sent. An empty Body needs one
// segment. n <= 0 means no limit, the default. A later WithMaxSegments
// replaces an earlier one.
func WithMaxSegments(n int) Option {
	return optionFunc(func(o *options) { o.sms.maxSegments = max(n, 0) })
}

// WithStrictE164 makes the Courier refuse a message whose To is not a strict
// E.164 number: "+" followed by 1 to 15 ASCII digits, the first of them not
// 0, with no spaces, dashes or other characters. Send, SendMessage and Render
// then return an error wrapping ErrInvalidMessage that does not contain the
// number, and nothing is sent. Without it, To is passed to the template as
// given.
func WithStrictE164() Option {
	return optionFunc(func(o *options) { o.sms.strictE164 = true })
}
