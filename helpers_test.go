package smscourier

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/smscourier/smscourier/smstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// received is one request as the fake gateway saw it.
type received struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   string
}

// gateway is a loopback fake SMS gateway that records every request and
// counts the TCP connections it accepts: package smstest's, or, for a test
// whose reply smstest cannot script, an httptest server running reply.
type gateway struct {
	URL  string
	sms  *smstest.Gateway // nil: srv
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []received
	nc   int
}

// newGateway starts a gateway that answers with reply, or, when reply is
// nil, an smstest gateway answering 201 with no body; either is closed when
// the test ends.
func newGateway(t *testing.T, reply http.HandlerFunc) *gateway {
	t.Helper()
	g := &gateway{}
	if reply == nil {
		g.sms = smstest.New(t)
		g.sms.Script(smstest.Reply{Status: http.StatusCreated})
		g.URL = g.sms.URL()
		return g
	}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, received{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: string(body),
		})
		g.mu.Unlock()
		reply(w, r)
	}))
	g.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			g.mu.Lock()
			g.nc++
			g.mu.Unlock()
		}
	}
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	g.URL = g.srv.URL
	return g
}

// got returns a copy of the requests received so far.
func (g *gateway) got() []received {
	if g.sms != nil {
		var out []received
		for _, r := range g.sms.Requests() {
			out = append(out, received{Method: r.Method, Path: r.Path, Query: r.RawQuery, Header: r.Header, Body: r.Body})
		}
		return out
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]received(nil), g.reqs...)
}

// addr returns the gateway's host:port.
func (g *gateway) addr() string { return strings.TrimPrefix(g.URL, "http://") }

// client returns an HTTP client for the gateway.
func (g *gateway) client() *http.Client {
	if g.sms != nil {
		return g.sms.Client()
	}
	return g.srv.Client()
}

// connections returns how many TCP connections the gateway accepted.
func (g *gateway) connections() int {
	if g.sms != nil {
		return g.sms.Connections()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nc
}

// b64 returns a base64:// body URI for a template source.
func b64(src string) string {
	return "base64://" + base64.StdEncoding.EncodeToString([]byte(src))
}

// writeFile writes content to a new file in a test directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// smsConfig returns an enabled config posting to url with the given body URI.
func smsConfig(url, body string) SMSConfig {
	return SMSConfig{
		Enabled: true,
		From:    "+13104661805",
		RequestConfig: RequestConfig{
			URL:    url,
			Method: http.MethodPost,
			Body:   body,
		},
	}
}
