package smscourier

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// ErrEgressDenied is wrapped by the error of a connection that SSRF
// protection (WithSSRFProtection, WithSSRFAllowlist) refused: the resolved
// destination address is not public and not allowlisted, or the network is
// not TCP. The connection was never opened, so a send refused on its first
// connection also wraps ErrNotSent; a refusal while following a redirect
// wraps ErrOutcomeUnknown, as the first request was written. The error text
// says "refused by SSRF protection" and names the address and the range that
// refused it.
var ErrEgressDenied = errors.New("smscourier: destination refused by SSRF protection")

// SSRFDialContext returns a dial function that connects only where
// WithSSRFAllowlist(allow...) lets a Courier connect (WithSSRFProtection
// when allow is empty): the one mechanism behind both options, exported for
// transports the Courier cannot protect itself. WithSSRFProtection needs to
// reach the *http.Transport of the Courier's client; a client whose
// Transport is another http.RoundTripper (otelhttp's, a retrying or
// logging wrapper) can be protected by building its underlying
// *http.Transport with this function as DialContext, no Proxy, and no other
// dial function, then passing the client with WithHTTPClient alone:
//
//	dial, err := smscourier.SSRFDialContext()
//	tr := &http.Transport{DialContext: dial, ForceAttemptHTTP2: true}
//	client := &http.Client{Timeout: 15 * time.Second, Transport: otelhttp.NewTransport(tr)}
//	courier, err := smscourier.New(cfg, smscourier.WithHTTPClient(client))
//
// The check runs on the resolved address of every connection, with a 30 s
// connect timeout; a refused one fails with an error wrapping
// ErrEgressDenied, so a send refused on its first connection also wraps
// ErrNotSent. It fails, wrapping ErrInvalidConfig, when a prefix is invalid.
func SSRFDialContext(allow ...netip.Prefix) (func(ctx context.Context, network, address string) (net.Conn, error), error) {
	p := egressPolicy{allow: slices.Clone(allow)}
	dial, err := p.dialContext()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return dial, nil
}

// egressPolicy is the SSRF protection asked for by the options. The zero
// value refuses every non-public address.
type egressPolicy struct {
	allow []netip.Prefix // allowed despite the deny list; nil: none
}

// egressDialTimeout is the connect timeout of a protected client's dialer,
// as in http.DefaultTransport.
const egressDialTimeout = 30 * time.Second

// protect returns a copy of c that connects only where p allows, directly,
// never through a proxy. c and its transport are not modified, except that
// cloning the transport completes its lazy HTTP/2 set-up as its first use
// would. It fails when p's allowlist holds an invalid prefix or c's
// transport is not an *http.Transport or nil.
func (p *egressPolicy) protect(c *http.Client) (*http.Client, error) {
	dial, err := p.dialContext()
	if err != nil {
		return nil, err
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	base, ok := rt.(*http.Transport)
	if !ok {
		if c.Transport == nil {
			return nil, fmt.Errorf("SSRF protection needs an *http.Transport, and http.DefaultTransport is a %T", rt)
		}
		return nil, fmt.Errorf("SSRF protection needs the HTTP client's Transport to be an *http.Transport or nil, not %T; "+
			"protect another RoundTripper by building its transport with SSRFDialContext", rt)
	}
	tr := base.Clone()
	// Clone has settled base's HTTP/2 set-up: "h2" is there when base
	// speaks HTTP/2.
	h2 := base.TLSNextProto["h2"] != nil

	tr.Proxy = nil
	tr.DialContext = dial
	// A TLS dialer would connect without the check; the deprecated ones
	// too, when set alone.
	tr.DialTLSContext = nil
	//lint:ignore SA1019 a deprecated dialer set by the caller must not be used either
	tr.Dial = nil
	//lint:ignore SA1019 a deprecated dialer set by the caller must not be used either
	tr.DialTLS = nil
	// Upgrade functions copied from base (x/net/http2's, or anyone's)
	// hand connections to a pool shared with base, whose connections were
	// not checked. Without them, net/http gives the copy an HTTP/2
	// transport of its own when asked to; HTTP/2 stays off when base had
	// it off. ForceAttemptHTTP2 is needed because the copy has a custom
	// dialer, which alone turns HTTP/2 off.
	tr.TLSNextProto = nil
	if h2 {
		tr.ForceAttemptHTTP2 = true
	} else {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}

	protected := *c
	protected.Transport = tr
	return &protected, nil
}

// dialContext returns the checked dial function of a protected client.
func (p *egressPolicy) dialContext() (func(ctx context.Context, network, address string) (net.Conn, error), error) {
	check, err := p.control()
	if err != nil {
		return nil, err
	}
	return (&net.Dialer{
		Timeout:   egressDialTimeout,
		KeepAlive: 30 * time.Second,
		Control:   check,
	}).DialContext, nil
}

// control returns the net.Dialer Control function that enforces p: it
// refuses with an error wrapping ErrEgressDenied and the ssrf package's
// reason. It fails when p's allowlist holds an invalid prefix.
func (p *egressPolicy) control() (func(network, address string, c syscall.RawConn) error, error) {
	var v4, v6 []netip.Prefix
	for i, pfx := range p.allow {
		if !pfx.IsValid() {
			return nil, fmt.Errorf("WithSSRFAllowlist: prefix %d (%q) is not a valid prefix", i+1, pfx.String())
		}
		pfx = pfx.Masked()
		if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
		}
		if pfx.Addr().Is4() {
			v4 = append(v4, pfx)
		} else {
			v6 = append(v6, pfx)
		}
	}
	g := ssrf.New(
		ssrf.WithAnyPort(),
		ssrf.WithNetworks("tcp4", "tcp6"),
		ssrf.WithAllowedV4Prefixes(v4...),
		ssrf.WithAllowedV6Prefixes(v6...),
	)
	return func(network, address string, c syscall.RawConn) error {
		// Judge an IPv4-mapped address as IPv4 and ignore zones, so that
		// the allowlist matches them; the deny list is unaffected.
		if ap, err := netip.ParseAddrPort(address); err == nil {
			address = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()).String()
		}
		if err := g.Safe(network, address, c); err != nil {
			return &egressError{reason: err}
		}
		return nil
	}, nil
}

// egressError is a connection refused by SSRF protection.
type egressError struct {
	reason error // from the ssrf package; names the address
}

func (e *egressError) Error() string { return "refused by SSRF protection: " + e.reason.Error() }

// Unwrap returns ErrEgressDenied and the ssrf package's error.
func (e *egressError) Unwrap() []error { return []error{ErrEgressDenied, e.reason} }

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
