package smscourier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTemplateErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		uri     string
		wantNew string // substring of the New error; "" when New succeeds
		wantRun string // substring of the Send error
	}{
		{
			name:    "syntax error names the file with line and column",
			uri:     "file://" + writeFile(t, "broken.jsonnet", "function(ctx) {\n  to: ,\n}"),
			wantNew: "template broken.jsonnet:2:7",
		},
		{
			name:    "syntax error in base64 never shows the data",
			uri:     b64("function(ctx) { SECRETBLOB: }"),
			wantNew: "template base64 template:1:",
		},
		{name: "import refused", uri: b64("local x = import 'x.libsonnet'; function(ctx) x"), wantNew: "import is not allowed"},
		{name: "importstr refused", uri: b64("function(ctx) {a: importstr '/etc/passwd'}"), wantNew: "importstr is not allowed"},
		{name: "importbin refused", uri: b64("function(ctx) {a: importbin '/etc/passwd'}"), wantNew: "importbin is not allowed"},
		{
			name:    "runtime error names the file with line and column",
			uri:     "file://" + writeFile(t, "runtime.jsonnet", "function(ctx) {\n  a: ctx.missing,\n}"),
			wantRun: "runtime.jsonnet:2:6",
		},
		{name: "error with another message", uri: b64("function(ctx) error 'no route for ' + ctx.to"), wantRun: "base64 template:1:15: no route for"},
		{
			name:    "an error inside a std function points at the template's own line",
			uri:     "file://" + writeFile(t, "inner.jsonnet", "function(ctx) {\n  a: std.map(function(x) x.y, [1]),\n}"),
			wantRun: "inner.jsonnet:2:26: Value non indexable",
		},
		{
			name:    "an error inside a local function points at it, not at its call",
			uri:     "file://" + writeFile(t, "local.jsonnet", "function(ctx)\n  local f(x) = x.y;\n  {a: f(1)}"),
			wantRun: "local.jsonnet:2:16: Value non indexable",
		},
		{name: "native functions are not registered", uri: b64("function(ctx) std.native('f')()"), wantRun: "base64 template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, nil)
			c, err := New(smsConfig(gw.URL+"/send", tc.uri))
			if tc.wantNew != "" {
				require.ErrorIs(t, err, ErrInvalidConfig)
				assert.Contains(t, err.Error(), tc.wantNew)
				assert.NotContains(t, err.Error(), "SECRETBLOB")
				assert.NotContains(t, err.Error(), strings.TrimPrefix(tc.uri, "base64://"))
				return
			}
			require.NoError(t, err)
			err = c.Send(context.Background(), "+1555", "x")
			require.ErrorIs(t, err, ErrTemplate)
			assert.Contains(t, err.Error(), tc.wantRun)
			assert.Empty(t, gw.got())
		})
	}

	t.Run("a template that is not a function is evaluated as it is", func(t *testing.T) {
		gw := newGateway(t, nil)
		c, err := New(smsConfig(gw.URL+"/send", b64("{fixed: true}")))
		require.NoError(t, err)
		require.NoError(t, c.Send(context.Background(), "+1555", "x"))
		assert.Equal(t, "{\n   \"fixed\": true\n}\n", gw.got()[0].Body)
	})
}

func TestTraceOutputDiscarded(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stderr := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = stderr }()

	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", b64("function(ctx) {to: std.trace('TRACED ' + ctx.to, ctx.to)}")))
	require.NoError(t, err)
	require.NoError(t, c.Send(context.Background(), "+1555", "x"))
	os.Stderr = stderr
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "TRACED")
	assert.Equal(t, "{\n   \"to\": \"+1555\"\n}\n", gw.got()[0].Body)
}

func TestInvalidMessages(t *testing.T) {
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/context.jsonnet"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		msg  Message
	}{
		{"empty to", Message{Body: "x"}},
		{"newline in to", Message{To: "+1555\n", Body: "x"}},
		{"NUL in to", Message{To: "+15\x0055", Body: "x"}},
		{"CR in from", Message{To: "+1555", From: "ACME\r", Body: "x"}},
		{"invalid UTF-8 in to", Message{To: "+1555\xff"}},
		{"invalid UTF-8 in body", Message{To: "+1555", Body: "code \xc3\x28"}},
		{"template data that is not JSON", Message{To: "+1555", TemplateData: map[string]any{"f": func() {}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.SendMessage(context.Background(), tc.msg)
			require.ErrorIs(t, err, ErrInvalidMessage)
			assert.Equal(t, 0, res.Attempts)
			_, err = c.Render(context.Background(), tc.msg)
			require.ErrorIs(t, err, ErrInvalidMessage)
		})
	}
	assert.Empty(t, gw.got(), "no invalid message may reach the gateway")
}

func TestGatewayErrors(t *testing.T) {
	for _, status := range []int{400, 401, 404, 422, 429, 500, 502, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", "req-1")
				w.WriteHeader(status)
				_, _ = io.WriteString(w, `{"message":"echoed +1555 Your code is 123456"}`)
			})
			c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"), WithoutRetries())
			require.NoError(t, err)
			res, err := c.SendMessage(context.Background(), Message{To: "+1555", Body: "Your code is 123456"})
			var ge *GatewayError
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, status, ge.StatusCode)
			assert.Equal(t, "req-1", ge.Header.Get("X-Request-Id"))
			assert.Equal(t, `{"message":"echoed +1555 Your code is 123456"}`, string(ge.Body))
			assert.Equal(t, 1, res.Attempts)
			assert.Contains(t, err.Error(), fmt.Sprint(status))
			assert.NotContains(t, err.Error(), "123456", "the reply body stays out of the error text")
			assert.Len(t, gw.got(), 1)
		})
	}

	t.Run("2xx codes are success", func(t *testing.T) {
		for _, status := range []int{200, 201, 202, 204} {
			gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				if status != 204 {
					_, _ = io.WriteString(w, `{"sid":"SM1"}`)
				}
			})
			c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"))
			require.NoError(t, err)
			res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
			require.NoError(t, err, "status %d", status)
			assert.Equal(t, status, res.StatusCode)
			if status != 204 {
				assert.Equal(t, `{"sid":"SM1"}`, string(res.Body))
			}
		}
	})

	t.Run("redirect is not followed", func(t *testing.T) {
		target := newGateway(t, nil)
		gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
		})
		cfg := smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet")
		cfg.RequestConfig.Auth = AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "header", Name: "X-Key", Value: "k"}}
		c, err := New(cfg)
		require.NoError(t, err)
		var ge *GatewayError
		require.ErrorAs(t, c.Send(context.Background(), "+1555", "x"), &ge)
		assert.Equal(t, http.StatusTemporaryRedirect, ge.StatusCode)
		assert.Empty(t, target.got(), "credentials must not follow a redirect")
	})
}

func TestUnreachableGateway(t *testing.T) {
	cfg := smsConfig("http://acct:pa55word@"+closedAddr(t)+"/send?token=qs-secret", "file://./testdata/sms.jsonnet")
	cfg.RequestConfig.Auth = AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "header", Name: "X-Key", Value: "key-secret"}}
	c, err := New(cfg)
	require.NoError(t, err)
	res, err := c.SendMessage(context.Background(), Message{To: "+1555", Body: "Your code is 123456"})
	require.ErrorIs(t, err, ErrNotSent)
	var ge *GatewayError
	assert.False(t, errors.As(err, &ge), "no reply is not a gateway error")
	assert.Equal(t, DefaultMaxAttempts, res.Attempts, "a request never written is retried")
	for _, secret := range []string{"pa55word", "acct", "qs-secret", "key-secret", "123456"} {
		assert.NotContains(t, err.Error(), secret)
	}
	assert.Contains(t, err.Error(), "/send")
}

func TestContextDeadline(t *testing.T) {
	release := make(chan struct{})
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = c.Send(ctx, "+1555", "x")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestEndlessReply(t *testing.T) {
	endless := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			chunk := bytes.Repeat([]byte("z"), 32<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return // the client hung up
				}
			}
		}
	}
	t.Run("success", func(t *testing.T) {
		gw := newGateway(t, endless(http.StatusOK))
		c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"))
		require.NoError(t, err)
		res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
		require.NoError(t, err)
		assert.Len(t, res.Body, maxReplyPrefix)
	})
	t.Run("error", func(t *testing.T) {
		gw := newGateway(t, endless(http.StatusInternalServerError))
		c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"))
		require.NoError(t, err)
		var ge *GatewayError
		require.ErrorAs(t, c.Send(context.Background(), "+1555", "x"), &ge)
		assert.Len(t, ge.Body, maxReplyPrefix)
	})
}

func TestConnectionReuse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"201 with a body", http.StatusCreated, `{"sid":"SM123"}`},
		{"204 without a body", http.StatusNoContent, ""},
		{"400 with an error body", http.StatusBadRequest, `{"code":21211,"message":"invalid To"}`},
		{"reply larger than the kept prefix", http.StatusOK, strings.Repeat("a", maxReplyPrefix+1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := smstest.New(t)
			gw.Script(smstest.Reply{Status: tc.status, Body: tc.body})
			c, err := New(smsConfig(gw.Endpoint("/send"), "file://./testdata/sms.jsonnet"))
			require.NoError(t, err)
			for range 100 {
				_ = c.Send(context.Background(), "+1555", "x")
			}
			gw.AssertCount(t, 100)
			assert.LessOrEqual(t, gw.Connections(), 2)
		})
	}
}

func TestConcurrentSends(t *testing.T) {
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"))
	require.NoError(t, err)
	const workers, each = 16, 10
	var wg sync.WaitGroup
	var failures atomic.Int32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if c.Send(context.Background(), fmt.Sprintf("+1%03d%03d", w, i), "x") != nil {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, failures.Load())
	got := gw.got()
	require.Len(t, got, workers*each)
	seen := make(map[string]bool)
	for _, r := range got {
		seen[r.Body] = true
	}
	assert.Len(t, seen, workers*each, "every message rendered with its own ctx")
}

func TestRender(t *testing.T) {
	gw := newGateway(t, nil)
	cfg := smsConfig(gw.URL+"/send?x=1", "file://./testdata/sms.jsonnet")
	cfg.RequestConfig.Headers = map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Tenant": "t1"}
	cfg.RequestConfig.Auth = AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "me", Password: "12345"}}
	c, err := New(cfg)
	require.NoError(t, err)

	req, err := c.Render(context.Background(), Message{To: "+14134242223", Body: "test-sms-body"})
	require.NoError(t, err)
	assert.Equal(t, "POST", req.Method)
	assert.Equal(t, gw.URL+"/send?x=1", req.URL.String())
	assert.Equal(t, "Basic bWU6MTIzNDU=", req.Header.Get("Authorization"))
	assert.Equal(t, "t1", req.Header.Get("X-Tenant"))
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	const want = "body=test-sms-body&from=%2B13104661805&to=%2B14134242223"
	assert.Equal(t, want, string(body))
	assert.Equal(t, int64(len(want)), req.ContentLength)
	again, err := req.GetBody()
	require.NoError(t, err)
	body, err = io.ReadAll(again)
	require.NoError(t, err)
	assert.Equal(t, want, string(body))
	assert.Empty(t, gw.got(), "Render sends nothing")

	// Mutating the rendered request leaves the courier untouched.
	req.Header.Set("X-Tenant", "changed")
	req2, err := c.Render(context.Background(), Message{To: "+1555"})
	require.NoError(t, err)
	assert.Equal(t, "t1", req2.Header.Get("X-Tenant"))
}

// countingTransport counts round trips and forwards them to a real transport.
type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct.n.Add(1)
	return ct.next.RoundTrip(r)
}

func TestWithHTTPClient(t *testing.T) {
	gw := newGateway(t, nil)
	ct := &countingTransport{next: gw.client().Transport}
	client := &http.Client{Transport: ct}
	c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"), WithHTTPClient(client))
	require.NoError(t, err)
	require.NoError(t, c.Send(context.Background(), "+1555", "x"))
	assert.Equal(t, int32(1), ct.n.Load())
	assert.Nil(t, client.CheckRedirect, "the caller's client is not modified")
	assert.Zero(t, client.Timeout, "the caller's client is not modified")

	t.Run("nil selects the default client", func(t *testing.T) {
		c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet"), WithHTTPClient(nil))
		require.NoError(t, err)
		require.NoError(t, c.Send(context.Background(), "+1555", "x"))
		assert.NotSame(t, http.DefaultClient, c.client)
		assert.Equal(t, defaultClientTimeout, c.client.Timeout)
	})
}

func TestHostHeader(t *testing.T) {
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Host", r.Host)
		w.WriteHeader(http.StatusCreated)
	})
	cfg := smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet")
	cfg.RequestConfig.Headers = map[string]string{"Host": "sms.internal.example"}
	c, err := New(cfg)
	require.NoError(t, err)
	res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
	require.NoError(t, err)
	assert.Equal(t, "sms.internal.example", res.Header.Get("X-Seen-Host"))
}

func TestCourierWithoutNew(t *testing.T) {
	var zero Courier
	_, err := zero.SendMessage(context.Background(), Message{To: "+1555"})
	require.ErrorIs(t, err, errNotBuilt)
	var nilCourier *Courier
	require.ErrorIs(t, nilCourier.Send(context.Background(), "+1555", "x"), errNotBuilt)
}
