package smstest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Reply is how the gateway answers one request. The zero Reply answers
// 201 Created with no body, at once.
type Reply struct {
	// Status is the HTTP status code, 200 to 999. Default (0)
	// http.StatusCreated.
	Status int
	// Header holds headers to send. Without a Content-Type, net/http
	// detects one from Body.
	Header http.Header
	// Body is sent verbatim. Default "": no body.
	Body string
	// RetryAfter, when not empty, is sent as the Retry-After header
	// (delta-seconds such as "0" or "120", or an HTTP date), replacing one
	// in Header.
	RetryAfter string
	// Delay is how long the gateway waits, after it has read and recorded
	// the request, before it replies, resets or closes. The wait ends early
	// when the client goes away (its request context is done) or the
	// gateway is closed; the connection is then closed without a reply.
	// Default 0: no wait.
	Delay time.Duration
	// Reset aborts the connection with a TCP reset (RST) instead of a
	// reply: the client sees "connection reset by peer" after its request
	// was delivered. Status, Header and Body are ignored.
	Reset bool
	// Close closes the connection cleanly, without a reply: the client sees
	// an unexpected EOF after its request was delivered. Status, Header and
	// Body are ignored; Reset takes precedence.
	Close bool

	after func() // run once the reply is written (PostReceipts)
}

// Script sets the replies to the requests that follow: the n-th request
// after the call (counting from 0) gets replies[min(n, len(replies)-1)], so
// the last reply repeats. With no replies the gateway goes back to its
// default reply: 201 Created, Content-Type application/json and the body
// {"id":"msg-N","status":"queued"}, N counting the requests received since
// the gateway started, from 1. Script replaces an earlier Script or Respond;
// the replies are copied. It panics when a Status is neither 0 nor in
// 200-999, as that is a mistake in the test.
func (g *Gateway) Script(replies ...Reply) {
	script := make([]Reply, len(replies))
	for i, r := range replies {
		if r.Status != 0 && (r.Status < 200 || r.Status > 999) {
			panic(fmt.Sprintf("smstest: Script: reply %d has status %d, not in 200-999", i, r.Status))
		}
		r.Header = r.Header.Clone()
		script[i] = r
	}
	if len(script) == 0 {
		script = nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.script, g.pos, g.respond = script, 0, nil
}

// Respond makes fn compute the reply to each request that follows. fn gets a
// copy of the request after it was recorded (Count includes it), and may be
// called from several goroutines at once; it should not block, as Close
// waits for it. A nil fn restores the default
// reply (see Script). Respond replaces an earlier Script or Respond. A
// reply whose Status is neither 0 nor in 200-999 makes net/http log a panic
// and close the connection without a reply.
func (g *Gateway) Respond(fn func(Request) Reply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.script, g.pos, g.respond = nil, 0, fn
}

// defaultReply is the reply to the seq-th request (from 1) without a script.
func defaultReply(seq int) Reply {
	return Reply{
		Status: http.StatusCreated,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   `{"id":"msg-` + strconv.Itoa(seq) + `","status":"queued"}`,
	}
}

// write answers r with rep. A wait cut short by the client going away or by
// closing (closed by Gateway.Close) closes the connection without a reply.
func (rep Reply) write(w http.ResponseWriter, r *http.Request, closing <-chan struct{}) {
	if rep.Delay > 0 {
		t := time.NewTimer(rep.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-closing:
			panic(http.ErrAbortHandler)
		}
	}
	if rep.Reset || rep.Close {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream
		}
		if rep.Reset {
			// Close the TCP connection itself, under any TLS layer, with
			// linger 0 so that the kernel sends a RST.
			if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
				conn = nc.NetConn()
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		}
		_ = conn.Close()
		return
	}
	h := w.Header()
	for k, vs := range rep.Header {
		h[k] = append([]string(nil), vs...)
	}
	if rep.RetryAfter != "" {
		h.Set("Retry-After", rep.RetryAfter)
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, rep.Body)
}
