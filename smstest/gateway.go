package smstest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Gateway is a fake HTTP SMS gateway listening on a loopback address. It
// records every request whose body it read in full, then answers by its
// script (see Script and Respond). It is safe for concurrent use by multiple
// goroutines. Make one with New or NewServer; the zero value is not usable.
type Gateway struct {
	srv       *httptest.Server
	closing   chan struct{} // closed by Close: ends delays at once
	closeOnce sync.Once

	mu       sync.Mutex
	requests []Request
	received int // requests received since start, never reset
	conns    int
	script   []Reply             // nil: default replies
	pos      int                 // requests answered by the current script
	respond  func(Request) Reply // non-nil: overrides script

	rcpt receiptState // PostReceipts' posts
}

// New starts a Gateway configured by opts and registers its Close with
// t.Cleanup, so the gateway lives as long as the test. It panics, as
// httptest does, when no loopback address can be listened on.
func New(t testing.TB, opts ...Option) *Gateway {
	t.Helper()
	g := NewServer(opts...)
	t.Cleanup(g.Close)
	return g
}

// NewServer starts a Gateway configured by opts, for use outside a test
// (examples, a local quick start). The caller must call Close. It panics, as
// httptest does, when no loopback address can be listened on.
func NewServer(opts ...Option) *Gateway {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	g := &Gateway{closing: make(chan struct{})}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	g.srv.Config.ConnState = g.connState
	if o.listener != nil {
		_ = g.srv.Listener.Close()
		g.srv.Listener = o.listener
	}
	if o.tls {
		g.srv.StartTLS()
	} else {
		g.srv.Start()
	}
	return g
}

// Close ends any reply still waiting out a Delay (its connection is closed
// without a reply), shuts the server down and waits for its handlers to
// return, then for the receipts that PostReceipts is posting: a post under
// way completes, one still waiting out its plan's Delay is not made (see
// ReceiptPosts). The records stay readable. Calling Close again does
// nothing.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		close(g.closing)
		g.srv.Close()
		g.rcpt.wait()
	})
}

// URL returns the gateway's base URL, "http://127.0.0.1:port" (https with
// WithTLS), without a trailing slash.
func (g *Gateway) URL() string { return g.srv.URL }

// Endpoint returns URL followed by path; a path without a leading "/" gets
// one. Endpoint("/v1/messages") is "http://127.0.0.1:port/v1/messages".
func (g *Gateway) Endpoint(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return g.srv.URL + path
}

// Client returns an *http.Client that trusts the gateway's certificate
// (needed with WithTLS, harmless without) and has no timeout. Each call
// returns the same client; Close closes its idle connections.
func (g *Gateway) Client() *http.Client { return g.srv.Client() }

// Connections returns how many TCP connections the gateway has accepted
// since it started. A client that reuses keep-alive connections sends many
// requests over one; a Reply with Reset or Close ends its connection.
func (g *Gateway) Connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns
}

func (g *Gateway) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		g.mu.Lock()
		g.conns++
		g.mu.Unlock()
	}
}

// Requests returns copies of the recorded requests in the order they were
// recorded: the caller may modify them. Nil when none were recorded.
func (g *Gateway) Requests() []Request {
	g.mu.Lock()
	recorded := g.requests[:len(g.requests):len(g.requests)]
	g.mu.Unlock()
	if len(recorded) == 0 {
		return nil
	}
	out := make([]Request, len(recorded))
	for i, r := range recorded {
		out[i] = r.clone()
	}
	return out
}

// Count returns how many requests have been recorded since the gateway
// started or since the last Reset.
func (g *Gateway) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.requests)
}

// Reset forgets the recorded requests: Count becomes 0 and the next request
// recorded has Index 0. The script, its position and Connections are kept.
func (g *Gateway) Reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = nil
}

// serve records the request, then answers it by the script.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The body did not arrive in full: the request is not recorded,
		// and the connection is closed without a reply.
		panic(http.ErrAbortHandler)
	}
	req := newRequest(r, body)

	g.mu.Lock()
	req.Index = len(g.requests)
	g.requests = append(g.requests, req)
	g.received++
	seq := g.received
	script, pos, respond := g.script, g.pos, g.respond
	g.pos++
	g.mu.Unlock()

	var rep Reply
	switch {
	case respond != nil:
		rep = respond(req.clone())
	case len(script) > 0:
		rep = script[min(pos, len(script)-1)]
	default:
		rep = defaultReply(seq)
	}
	rep.write(w, r, g.closing)
	if rep.after != nil {
		_ = http.NewResponseController(w).Flush() // the reply is on its way
		rep.after()
	}
}

// AssertCount reports an error through t, listing what was recorded, unless
// exactly want requests have been recorded. It returns whether the count
// matched.
func (g *Gateway) AssertCount(t testing.TB, want int) bool {
	t.Helper()
	got := g.Requests()
	if len(got) == want {
		return true
	}
	t.Errorf("smstest: gateway recorded %d request(s), want %d%s", len(got), want, summary(got))
	return false
}

// RequireRequest returns the recorded request at index i, counting from 0,
// or from the end when i is negative (-1 is the last one). When there is no
// such request it stops the test with t.Fatalf, listing what was recorded.
func (g *Gateway) RequireRequest(t testing.TB, i int) Request {
	t.Helper()
	got := g.Requests()
	j := i
	if j < 0 {
		j += len(got)
	}
	if j < 0 || j >= len(got) {
		t.Fatalf("smstest: no request %d: gateway recorded %d request(s)%s", i, len(got), summary(got))
		return Request{} // when t.Fatalf does not stop the goroutine
	}
	return got[j]
}

// summary lists requests one per line, for failure messages. Bodies are left
// out: they may hold message text.
func summary(reqs []Request) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "\n\t%d: %s %s (%d bytes)", r.Index, r.Method, r.Path, len(r.Body))
	}
	return b.String()
}
