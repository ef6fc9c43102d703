package smscourier

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"
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
// counts the TCP connections it accepts.
type gateway struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
	conns    int
}

// newGateway starts a gateway that answers with reply (201 with no body when
// reply is nil) and closes it when the test ends.
func newGateway(t *testing.T, reply http.HandlerFunc) *gateway {
	t.Helper()
	g := &gateway{}
	g.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.requests = append(g.requests, received{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: string(body),
		})
		g.mu.Unlock()
		if reply == nil {
			w.WriteHeader(http.StatusCreated)
			return
		}
		reply(w, r)
	}))
	g.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			g.mu.Lock()
			g.conns++
			g.mu.Unlock()
		}
	}
	g.Start()
	t.Cleanup(g.Close)
	return g
}

// got returns a copy of the requests received so far.
func (g *gateway) got() []received {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]received(nil), g.requests...)
}

// connections returns how many TCP connections the gateway accepted.
func (g *gateway) connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns
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
