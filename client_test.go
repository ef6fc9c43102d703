package smscourier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"code.dny.dev/ssrf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loopbackAllowlist allows the test servers, which listen on loopback.
var loopbackAllowlist = WithSSRFAllowlist(
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
)

// withHost returns rawURL with its host name replaced by host, port kept.
func withHost(t *testing.T, rawURL, host string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	u.Host = net.JoinHostPort(host, u.Port())
	return u.String()
}

// egressCourier starts a loopback gateway and builds a courier without
// retries for it with opts, reaching it as host ("" keeps 127.0.0.1).
func egressCourier(t *testing.T, host string, opts []Option) (*gateway, *Courier) {
	t.Helper()
	g := newGateway(t, nil)
	gwURL := g.URL + "/send"
	if host != "" {
		gwURL = withHost(t, gwURL, host)
	}
	c, err := New(smsConfig(gwURL, b64("function(ctx) {to: ctx.to}")), append(opts, WithoutRetries())...)
	require.NoError(t, err)
	return g, c
}

func TestSSRFProtectionRefusesLoopbackGateway(t *testing.T) {
	for _, tc := range []struct {
		name string
		host string // "" keeps the server's 127.0.0.1
		opts []Option
	}{
		{name: "IP literal, default client", opts: []Option{WithSSRFProtection()}},
		{name: "IP literal, injected client", opts: []Option{WithSSRFProtection(), WithHTTPClient(&http.Client{})}},
		{name: "localhost resolves to loopback", host: "localhost", opts: []Option{WithSSRFProtection()}},
		{name: "allowlist not covering loopback", opts: []Option{WithSSRFAllowlist(netip.MustParsePrefix("10.0.0.0/8"))}},
		{name: "IPv4-mapped IPv6 allowlist not covering loopback", opts: []Option{WithSSRFAllowlist(netip.MustParsePrefix("::ffff:10.0.0.0/104"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, c := egressCourier(t, tc.host, tc.opts)

			res, err := c.SendMessage(context.Background(), Message{To: "+15005550006", Body: "code 123456"})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrEgressDenied)
			assert.ErrorIs(t, err, ErrNotSent)
			assert.ErrorIs(t, err, ssrf.ErrProhibitedIP)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			assert.Contains(t, err.Error(), "refused by SSRF protection")
			assert.NotContains(t, err.Error(), "123456")
			assert.Equal(t, 1, res.Attempts)
			assert.Empty(t, g.got())
			assert.Zero(t, g.connections())
		})
	}
}

// TestSSRFProtectionIsNotRetried shows that a refused gateway, whose
// failure is ErrNotSent, is not retried: the address would be refused again.
func TestSSRFProtectionIsNotRetried(t *testing.T) {
	g := newGateway(t, nil)
	c, err := New(smsConfig(g.URL+"/send", ""), WithSSRFProtection(),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Nanosecond}))
	require.NoError(t, err)

	res, err := c.SendMessage(context.Background(), Message{To: "+15005550006", Body: "hi"})
	require.ErrorIs(t, err, ErrEgressDenied)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.Equal(t, 1, res.Attempts)
	assert.Zero(t, g.connections())
}

func TestSSRFProtectionRefusesRedirectTarget(t *testing.T) {
	// 127.0.0.2 is loopback but outside the allowlist: the dial is refused
	// before any connect, so nothing needs to listen there.
	var target string
	g := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	})
	target = withHost(t, g.URL+"/elsewhere", "127.0.0.2")
	c, err := New(smsConfig(g.URL+"/send", b64("function(ctx) {to: ctx.to}")),
		WithHTTPClient(&http.Client{}), // follows redirects
		WithSSRFAllowlist(netip.MustParsePrefix("127.0.0.1/32")),
		WithoutRetries())
	require.NoError(t, err)

	err = c.Send(context.Background(), "+15005550006", "hi")
	require.ErrorIs(t, err, ErrEgressDenied)
	assert.ErrorIs(t, err, ErrOutcomeUnknown) // the first request was written
	assert.Contains(t, err.Error(), "127.0.0.2")
	assert.Len(t, g.got(), 1)
}

func TestSSRFProtectionTemplateFetch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []Option
		wantErr bool
	}{
		{name: "refused under protection", opts: []Option{WithSSRFProtection()}, wantErr: true},
		{name: "refused with an injected client", opts: []Option{WithSSRFProtection(), WithHTTPClient(&http.Client{})}, wantErr: true},
		{name: "accepted without protection"},
		{name: "accepted with the allowlist", opts: []Option{loopbackAllowlist}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := newGateway(t, func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("function(ctx) {to: ctx.to}"))
			})
			c, err := New(smsConfig("https://sms.example.com/send", tmpl.URL+"/t.jsonnet"), tc.opts...)
			if !tc.wantErr {
				require.NoError(t, err)
				assert.NotNil(t, c)
				assert.Len(t, tmpl.got(), 1)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Problems, 1)
			assert.Equal(t, "courier.sms.request_config.body", ce.Problems[0].Path)
			assert.Contains(t, ce.Problems[0].Message, "refused by SSRF protection")
			assert.ErrorIs(t, err, ErrEgressDenied, "the cause stays in the chain")
			assert.Empty(t, tmpl.got())
			assert.Zero(t, tmpl.connections())
		})
	}
}

func TestSSRFAllowlist(t *testing.T) {
	for _, tc := range []struct {
		name string
		host string // "" keeps the server's 127.0.0.1
		opts []Option
	}{
		{name: "allowlist alone", opts: []Option{loopbackAllowlist}},
		{name: "protection then allowlist", opts: []Option{WithSSRFProtection(), loopbackAllowlist}},
		{name: "allowlist then protection", opts: []Option{loopbackAllowlist, WithSSRFProtection()}},
		{name: "later allowlist replaces earlier", opts: []Option{
			WithSSRFAllowlist(netip.MustParsePrefix("10.0.0.0/8")), loopbackAllowlist,
		}},
		{name: "IPv4-mapped IPv6 prefix", opts: []Option{WithSSRFAllowlist(netip.MustParsePrefix("::ffff:127.0.0.0/104"))}},
		{name: "single address", opts: []Option{WithSSRFAllowlist(netip.MustParsePrefix("127.0.0.1/32"))}},
		{name: "localhost", host: "localhost", opts: []Option{loopbackAllowlist}},
		{name: "injected client", opts: []Option{loopbackAllowlist, WithHTTPClient(&http.Client{Timeout: 5 * time.Second})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, c := egressCourier(t, tc.host, tc.opts)

			res, err := c.SendMessage(context.Background(), Message{To: "+15005550006", Body: "hi"})
			require.NoError(t, err)
			assert.Equal(t, http.StatusCreated, res.StatusCode)
			got := g.got()
			require.Len(t, got, 1)
			assert.Equal(t, "/send", got[0].Path)
			assert.JSONEq(t, `{"to": "+15005550006"}`, got[0].Body)
		})
	}
}

func TestSSRFAllowlistInvalidPrefix(t *testing.T) {
	_, err := New(smsConfig("https://sms.example.com/send", ""),
		WithSSRFAllowlist(netip.MustParsePrefix("10.0.0.0/8"), netip.Prefix{}))
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Problems, 1)
	assert.Equal(t, "WithSSRFProtection", ce.Problems[0].Path)
	assert.Contains(t, ce.Problems[0].Message, "WithSSRFAllowlist: prefix 2")
}

func TestSSRFProtectionIgnoresProxy(t *testing.T) {
	for _, tc := range []struct {
		name         string
		injected     bool // a client whose transport has Proxy set
		protect      bool
		wantViaProxy bool
	}{
		{name: "injected proxy removed", injected: true, protect: true},
		{name: "environment proxy ignored with the default client", protect: true},
		// Without protection the injected proxy is used: the setup is sound.
		{name: "injected proxy used without protection", injected: true, wantViaProxy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, nil)
			proxy := newGateway(t, nil) // answers 201 to whatever it is sent
			proxyURL, err := url.Parse(proxy.URL)
			require.NoError(t, err)
			t.Setenv("HTTP_PROXY", proxy.URL)
			t.Setenv("HTTPS_PROXY", proxy.URL)
			t.Setenv("NO_PROXY", "")

			opts := []Option{WithoutRetries()}
			if tc.injected {
				opts = append(opts, WithHTTPClient(&http.Client{
					Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)},
				}))
			}
			if tc.protect {
				opts = append(opts, loopbackAllowlist)
			}
			c, err := New(smsConfig(g.URL+"/send", ""), opts...)
			require.NoError(t, err)

			require.NoError(t, c.Send(context.Background(), "+15005550006", "hi"))
			if tc.wantViaProxy {
				assert.Len(t, proxy.got(), 1)
				assert.Empty(t, g.got())
				return
			}
			assert.Len(t, g.got(), 1)
			assert.Empty(t, proxy.got())
			assert.Zero(t, proxy.connections())
		})
	}
}

// funcPtr identifies a func value, for comparing before and after.
func funcPtr(f any) uintptr {
	v := reflect.ValueOf(f)
	if v.IsNil() {
		return 0
	}
	return v.Pointer()
}

// transportState is the caller-visible state of an *http.Transport.
type transportState struct {
	Proxy, DialContext, DialTLSContext uintptr
	TLSClientConfig                    *tls.Config
	ServerName                         string
	NextProtos                         []string
	TLSNextProto                       int
	ForceAttemptHTTP2                  bool
	MaxIdleConnsPerHost                int
	ResponseHeaderTimeout              time.Duration
}

func stateOf(tr *http.Transport) transportState {
	return transportState{
		Proxy:                 funcPtr(tr.Proxy),
		DialContext:           funcPtr(tr.DialContext),
		DialTLSContext:        funcPtr(tr.DialTLSContext),
		TLSClientConfig:       tr.TLSClientConfig,
		ServerName:            tr.TLSClientConfig.ServerName,
		NextProtos:            slices.Clone(tr.TLSClientConfig.NextProtos),
		TLSNextProto:          len(tr.TLSNextProto),
		ForceAttemptHTTP2:     tr.ForceAttemptHTTP2,
		MaxIdleConnsPerHost:   tr.MaxIdleConnsPerHost,
		ResponseHeaderTimeout: tr.ResponseHeaderTimeout,
	}
}

func TestSSRFProtectDoesNotModifyClient(t *testing.T) {
	g := newGateway(t, nil)
	proxyURL, err := url.Parse("http://" + closedAddr(t))
	require.NoError(t, err)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	var dialer net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyURL(proxyURL),
		DialContext:           dial,
		DialTLSContext:        dial,
		TLSClientConfig:       &tls.Config{ServerName: "gateway.internal", MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost:   7,
		ResponseHeaderTimeout: 3 * time.Second,
	}
	checkRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client := &http.Client{Transport: tr, Timeout: 4 * time.Second, CheckRedirect: checkRedirect, Jar: jar}
	clientBefore := *client
	trBefore := stateOf(tr)

	got, err := (&egressPolicy{}).protect(client)
	require.NoError(t, err)

	// The caller's client and transport are as they were.
	assert.Equal(t, clientBefore.Transport, client.Transport)
	assert.Equal(t, clientBefore.Timeout, client.Timeout)
	assert.Equal(t, clientBefore.Jar, client.Jar)
	assert.Equal(t, funcPtr(clientBefore.CheckRedirect), funcPtr(client.CheckRedirect))
	assert.Equal(t, trBefore, stateOf(tr))

	// The copy keeps the client's settings and the transport's, with its
	// own dialer and no proxy.
	require.NotSame(t, client, got)
	gotTr, ok := got.Transport.(*http.Transport)
	require.True(t, ok)
	assert.NotSame(t, tr, gotTr)
	assert.Equal(t, client.Timeout, got.Timeout)
	assert.Same(t, jar, got.Jar)
	assert.Equal(t, funcPtr(checkRedirect), funcPtr(got.CheckRedirect))
	assert.Nil(t, gotTr.Proxy)
	assert.Nil(t, gotTr.DialTLSContext)
	require.NotNil(t, gotTr.DialContext)
	assert.NotEqual(t, funcPtr(tr.DialContext), funcPtr(gotTr.DialContext))
	assert.NotSame(t, tr.TLSClientConfig, gotTr.TLSClientConfig)
	assert.Equal(t, "gateway.internal", gotTr.TLSClientConfig.ServerName)
	assert.Equal(t, 7, gotTr.MaxIdleConnsPerHost)
	assert.Equal(t, 3*time.Second, gotTr.ResponseHeaderTimeout)

	// Through New as well; afterwards the caller's own client, unprotected
	// and without a proxy, still reaches the loopback gateway.
	plain := &http.Client{Transport: &http.Transport{}}
	plainBefore := *plain
	_, err = New(smsConfig(g.URL+"/send", ""), WithHTTPClient(plain), WithSSRFProtection())
	require.NoError(t, err)
	assert.Equal(t, plainBefore, *plain)
	resp, err := plain.Get(g.URL + "/direct")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	plain.CloseIdleConnections()
	assert.Len(t, g.got(), 1)
}

func TestSSRFProtectNilTransport(t *testing.T) {
	client := &http.Client{Timeout: time.Second}
	got, err := (&egressPolicy{}).protect(client)
	require.NoError(t, err)
	assert.Nil(t, client.Transport)
	tr, ok := got.Transport.(*http.Transport)
	require.True(t, ok)
	assert.NotSame(t, http.DefaultTransport, tr)
	assert.Nil(t, tr.Proxy)
	assert.Equal(t, time.Second, got.Timeout)
}

// roundTripperFunc is an http.RoundTripper that is not an *http.Transport.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSSRFProtectionCustomRoundTripper(t *testing.T) {
	rt := roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("custom round tripper called")
	})
	client := &http.Client{Transport: rt}

	_, err := New(smsConfig("https://sms.example.com/send", ""), WithHTTPClient(client), WithSSRFProtection())
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Problems, 1)
	assert.Equal(t, "WithSSRFProtection", ce.Problems[0].Path)
	assert.Contains(t, ce.Problems[0].Message, "*http.Transport")
	assert.Contains(t, ce.Problems[0].Message, "roundTripperFunc")
	assert.Contains(t, ce.Problems[0].Message, "SSRFDialContext", "the error names the way out")

	// Without protection the same client is accepted.
	_, err = New(smsConfig("https://sms.example.com/send", ""), WithHTTPClient(client))
	require.NoError(t, err)
}

// newTLSGateway starts an HTTPS loopback gateway offering HTTP/2 that
// records the protocol of each request, and closes it when the test ends.
func newTLSGateway(t *testing.T) (*httptest.Server, *atomic.Int32, *x509.CertPool) {
	t.Helper()
	var proto atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		w.WriteHeader(http.StatusCreated)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, &proto, roots
}

func TestSSRFProtectionHTTPS(t *testing.T) {
	var upgraded, customDialed atomic.Bool
	for _, tc := range []struct {
		name      string
		transport func(srv *httptest.Server, roots *x509.CertPool) *http.Transport
		wantProto int32
	}{
		{
			name: "HTTP/2 forced",
			transport: func(srv *httptest.Server, _ *x509.CertPool) *http.Transport {
				return srv.Client().Transport.(*http.Transport)
			},
			wantProto: 2,
		},
		{
			name: "HTTP/1 with a custom TLS config",
			transport: func(_ *httptest.Server, roots *x509.CertPool) *http.Transport {
				return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
			},
			wantProto: 1,
		},
		{
			name: "HTTP/2 disabled by an empty TLSNextProto",
			transport: func(_ *httptest.Server, roots *x509.CertPool) *http.Transport {
				return &http.Transport{
					TLSClientConfig:   &tls.Config{RootCAs: roots},
					ForceAttemptHTTP2: true,
					TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
				}
			},
			wantProto: 1,
		},
		{
			name: "HTTP/2 through Protocols",
			transport: func(_ *httptest.Server, roots *x509.CertPool) *http.Transport {
				var p http.Protocols
				p.SetHTTP1(true)
				p.SetHTTP2(true)
				return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, Protocols: &p}
			},
			wantProto: 2,
		},
		{
			// As golang.org/x/net/http2.ConfigureTransport leaves it: an
			// upgrade function bound to the original transport's pool.
			name: "foreign HTTP/2 upgrade replaced",
			transport: func(_ *httptest.Server, roots *x509.CertPool) *http.Transport {
				return &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}},
					TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{
						"h2": func(string, *tls.Conn) http.RoundTripper {
							upgraded.Store(true)
							return roundTripperFunc(func(*http.Request) (*http.Response, error) {
								return nil, errors.New("foreign HTTP/2 pool used")
							})
						},
					},
				}
			},
			wantProto: 2,
		},
		{
			name: "custom TLS dialer replaced",
			transport: func(_ *httptest.Server, roots *x509.CertPool) *http.Transport {
				return &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: roots},
					DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
						customDialed.Store(true)
						return nil, errors.New("custom TLS dialer used")
					},
				}
			},
			wantProto: 1,
		},
		{
			name: "deprecated TLS dialer replaced",
			transport: func(_ *httptest.Server, roots *x509.CertPool) *http.Transport {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
				//lint:ignore SA1019 a caller may still set it; protection must not use it
				tr.DialTLS = func(string, string) (net.Conn, error) {
					customDialed.Store(true)
					return nil, errors.New("custom TLS dialer used")
				}
				return tr
			},
			wantProto: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upgraded.Store(false)
			customDialed.Store(false)
			srv, proto, roots := newTLSGateway(t)
			client := &http.Client{Transport: tc.transport(srv, roots)}

			refused, err := New(smsConfig(srv.URL+"/send", ""), WithHTTPClient(client), WithSSRFProtection(), WithoutRetries())
			require.NoError(t, err)
			err = refused.Send(context.Background(), "+15005550006", "hi")
			require.ErrorIs(t, err, ErrEgressDenied)
			assert.Zero(t, proto.Load())

			c, err := New(smsConfig(srv.URL+"/send", ""), WithHTTPClient(client), loopbackAllowlist, WithoutRetries())
			require.NoError(t, err)
			require.NoError(t, c.Send(context.Background(), "+15005550006", "hi"))
			assert.Equal(t, tc.wantProto, proto.Load())
			assert.False(t, upgraded.Load(), "the original transport's HTTP/2 upgrade was used")
			assert.False(t, customDialed.Load(), "the original transport's TLS dialer was used")
		})
	}
}

// TestEgressControl checks the dial-time check on addresses directly; no
// connection is made.
func TestEgressControl(t *testing.T) {
	defaultCheck, err := (&egressPolicy{}).control()
	require.NoError(t, err)
	allowCheck, err := (&egressPolicy{allow: []netip.Prefix{
		netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("fd00:1234::/32"),
		netip.MustParsePrefix("::ffff:192.168.7.0/120"),
	}}).control()
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		network string // "" means tcp4 or tcp6 by the address
		address string
		allow   bool // checked with the allowlist
		want    error
	}{
		{name: "private 10/8", address: "10.0.0.1:443", want: ErrEgressDenied},
		{name: "private 172.16/12", address: "172.16.0.1:443", want: ErrEgressDenied},
		{name: "private 192.168/16", address: "192.168.1.1:8080", want: ErrEgressDenied},
		{name: "CGNAT", address: "100.64.0.1:443", want: ErrEgressDenied},
		{name: "cloud metadata", address: "169.254.169.254:80", want: ErrEgressDenied},
		{name: "multicast", address: "224.0.0.1:443", want: ErrEgressDenied},
		{name: "unspecified", address: "0.0.0.0:443", want: ErrEgressDenied},
		{name: "loopback", address: "127.0.0.1:443", want: ErrEgressDenied},
		{name: "documentation", address: "192.0.2.1:443", want: ErrEgressDenied},
		{name: "broadcast", address: "255.255.255.255:443", want: ErrEgressDenied},
		{name: "IPv6 loopback", address: "[::1]:443", want: ErrEgressDenied},
		{name: "IPv6 unspecified", address: "[::]:443", want: ErrEgressDenied},
		{name: "IPv6 link-local", address: "[fe80::1]:443", want: ErrEgressDenied},
		{name: "IPv6 link-local with zone", address: "[fe80::1%eth0]:443", want: ErrEgressDenied},
		{name: "IPv6 unique local", address: "[fc00::1]:443", want: ErrEgressDenied},
		{name: "IPv6 multicast", address: "[ff02::1]:443", want: ErrEgressDenied},
		{name: "IPv6 documentation", address: "[2001:db8::1]:443", want: ErrEgressDenied},
		{name: "NAT64 of loopback", address: "[64:ff9b::7f00:1]:443", want: ErrEgressDenied},
		{name: "IPv4-mapped loopback", address: "[::ffff:127.0.0.1]:443", want: ErrEgressDenied},
		{name: "IPv4-mapped private", address: "[::ffff:10.0.0.1]:443", want: ErrEgressDenied},
		{name: "UDP", network: "udp4", address: "8.8.8.8:53", want: ErrEgressDenied},
		{name: "not an address", address: "example.com:443", want: ErrEgressDenied},

		{name: "public IPv4", address: "8.8.8.8:443"},
		{name: "public IPv4, any port", address: "8.8.8.8:8443"},
		{name: "public IPv6", address: "[2606:4700::1111]:443"},
		{name: "public IPv4-mapped", address: "[::ffff:8.8.8.8]:443"},

		{name: "allowlisted IPv4", address: "10.20.3.4:9000", allow: true},
		{name: "allowlisted IPv6", address: "[fd00:1234::5]:9000", allow: true},
		{name: "allowlisted IPv4-mapped prefix", address: "192.168.7.9:443", allow: true},
		{name: "allowlisted IPv4 as IPv4-mapped", address: "[::ffff:10.20.3.4]:443", allow: true},
		{name: "outside the allowlist", address: "10.21.0.1:443", allow: true, want: ErrEgressDenied},
		{name: "loopback outside the allowlist", address: "127.0.0.1:443", allow: true, want: ErrEgressDenied},
		{name: "UDP to an allowlisted address", network: "udp4", address: "10.20.3.4:53", allow: true, want: ErrEgressDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			network := tc.network
			if network == "" {
				network = "tcp4"
				if strings.HasPrefix(tc.address, "[") {
					network = "tcp6"
				}
			}
			check := defaultCheck
			if tc.allow {
				check = allowCheck
			}
			err := check(network, tc.address, nil)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), "refused by SSRF protection")
		})
	}
}

// TestSSRFDialContextUnderAnotherRoundTripper protects a client whose
// Transport is a wrapper (as otelhttp's is) with the exported dialer.
func TestSSRFDialContextUnderAnotherRoundTripper(t *testing.T) {
	wrapped := func(t *testing.T, allow ...netip.Prefix) (*http.Client, *atomic.Int32) {
		dial, err := SSRFDialContext(allow...)
		require.NoError(t, err)
		tr := &http.Transport{DialContext: dial}
		t.Cleanup(tr.CloseIdleConnections)
		var calls atomic.Int32
		return &http.Client{Timeout: 5 * time.Second, Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			calls.Add(1)
			return tr.RoundTrip(r)
		})}, &calls
	}
	send := func(t *testing.T, client *http.Client) (*gateway, error) {
		g := newGateway(t, nil)
		c, err := New(smsConfig(g.URL+"/send", b64("function(ctx) {to: ctx.to}")), WithHTTPClient(client), WithoutRetries())
		require.NoError(t, err)
		return g, c.Send(context.Background(), "+15005550006", "code 123456")
	}

	t.Run("refused", func(t *testing.T) {
		client, calls := wrapped(t)
		g, err := send(t, client)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrEgressDenied)
		assert.ErrorIs(t, err, ErrNotSent)
		assert.Contains(t, err.Error(), "refused by SSRF protection")
		assert.Equal(t, int32(1), calls.Load(), "the wrapper saw the request")
		assert.Empty(t, g.got())
		assert.Zero(t, g.connections())
	})
	t.Run("allowlisted", func(t *testing.T) {
		client, calls := wrapped(t, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
		g, err := send(t, client)
		require.NoError(t, err)
		assert.Equal(t, int32(1), calls.Load())
		assert.Len(t, g.got(), 1)
	})
	t.Run("invalid prefix", func(t *testing.T) {
		_, err := SSRFDialContext(netip.Prefix{})
		assert.ErrorIs(t, err, ErrInvalidConfig)
	})
}
