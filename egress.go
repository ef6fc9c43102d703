package smscourier

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
