package smscourier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const kratosJSONBody = "{\n   \"Body\": \"test-sms-body\",\n   \"From\": \"+13104661805\",\n   \"To\": \"+14134242223\"\n}\n"

// TestKratosRequestBuilderCases replays the request-builder cases of Kratos
// against a loopback gateway and asserts exactly what the gateway received.
func TestKratosRequestBuilderCases(t *testing.T) {
	testBody := "function(ctx) {\n  Body: ctx.body,\n  From: ctx.from,\n  To: ctx.to,\n}\n"
	for _, tc := range []struct {
		name       string
		method     string
		body       string
		headers    map[string]string
		auth       AuthConfig
		wantBody   string
		wantHeader http.Header
	}{
		{
			name:       "POST without auth",
			method:     "POST",
			body:       "file://./testdata/test_body.jsonnet",
			wantBody:   kratosJSONBody,
			wantHeader: http.Header{"Content-Type": {"application/json"}},
		},
		{
			name:     "POST with legacy template path",
			method:   "POST",
			body:     "./testdata/test_body.jsonnet",
			wantBody: kratosJSONBody,
		},
		{
			name:     "POST with base64 template",
			method:   "POST",
			body:     b64(testBody),
			wantBody: kratosJSONBody,
		},
		{
			name:       "POST with custom header",
			method:     "POST",
			body:       "file://./testdata/test_body.jsonnet",
			headers:    map[string]string{"Custom-Header": "test"},
			wantBody:   kratosJSONBody,
			wantHeader: http.Header{"Custom-Header": {"test"}},
		},
		{
			name:       "GET with body and basic auth",
			method:     "GET",
			body:       "file://./testdata/test_body.jsonnet",
			auth:       AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "test-api-user", Password: "secret"}},
			wantBody:   kratosJSONBody,
			wantHeader: http.Header{"Authorization": {"Basic dGVzdC1hcGktdXNlcjpzZWNyZXQ="}},
		},
		{
			name:       "GET without body",
			method:     "GET",
			auth:       AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "test-api-user", Password: "secret"}},
			wantBody:   "",
			wantHeader: http.Header{"Authorization": {"Basic dGVzdC1hcGktdXNlcjpzZWNyZXQ="}},
		},
		{
			name:       "DELETE with body and api_key header",
			method:     "DELETE",
			body:       "file://./testdata/test_body.jsonnet",
			auth:       AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "header", Name: "my-api-key", Value: "secret"}},
			wantBody:   kratosJSONBody,
			wantHeader: http.Header{"My-Api-Key": {"secret"}},
		},
		{
			name:       "POST urlencoded with api_key cookie",
			method:     "POST",
			body:       "file://./testdata/test_body.jsonnet",
			headers:    map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			auth:       AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "cookie", Name: "my-api-key", Value: "secret"}},
			wantBody:   "Body=test-sms-body&From=%2B13104661805&To=%2B14134242223",
			wantHeader: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {"my-api-key=secret"}},
		},
		{
			name:       "POST form with lower-case fields and basic auth me/12345",
			method:     "POST",
			body:       "file://./testdata/sms.jsonnet",
			headers:    map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			auth:       AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "me", Password: "12345"}},
			wantBody:   "body=test-sms-body&from=%2B13104661805&to=%2B14134242223",
			wantHeader: http.Header{"Authorization": {"Basic bWU6MTIzNDU="}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, nil)
			cfg := smsConfig(gw.URL+"/my_endpoint?account=a1", tc.body)
			cfg.RequestConfig.Method = tc.method
			cfg.RequestConfig.Headers = tc.headers
			cfg.RequestConfig.Auth = tc.auth
			c, err := New(cfg)
			require.NoError(t, err)

			res, err := c.SendMessage(context.Background(), Message{To: "+14134242223", Body: "test-sms-body"})
			require.NoError(t, err)
			assert.Equal(t, http.StatusCreated, res.StatusCode)
			assert.Equal(t, 1, res.Attempts)
			assert.Equal(t, strings.TrimPrefix(gw.URL, "http://"), res.Gateway)

			got := gw.got()
			require.Len(t, got, 1)
			assert.Equal(t, tc.method, got[0].Method)
			assert.Equal(t, "/my_endpoint", got[0].Path)
			assert.Equal(t, "account=a1", got[0].Query)
			assert.Equal(t, tc.wantBody, got[0].Body)
			for name, want := range tc.wantHeader {
				assert.Equal(t, want, got[0].Header[name], "header %s", name)
			}
			if tc.auth.Type != AuthBasicAuth {
				assert.Empty(t, got[0].Header.Get("Authorization"))
			}
			if tc.body == "" {
				assert.Empty(t, got[0].Header.Get("Content-Type"), "no body, no Content-Type")
			}
		})
	}
}

func TestAuth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		auth    AuthConfig
		want    http.Header
		absent  []string
	}{
		{
			name:   "none",
			want:   http.Header{},
			absent: []string{"Authorization", "Cookie"},
		},
		{
			name: "basic_auth",
			auth: AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "me", Password: "12345"}},
			want: http.Header{"Authorization": {"Basic bWU6MTIzNDU="}},
		},
		{
			name:    "basic_auth replaces a configured Authorization header",
			headers: map[string]string{"Authorization": "Bearer stale"},
			auth:    AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "me", Password: "12345"}},
			want:    http.Header{"Authorization": {"Basic bWU6MTIzNDU="}},
		},
		{
			name: "api_key in header",
			auth: AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "header", Name: "X-API-Key", Value: "k-123"}},
			want: http.Header{"X-Api-Key": {"k-123"}},
		},
		{
			name:    "api_key header replaces a configured header of the same name",
			headers: map[string]string{"x-api-key": "placeholder"},
			auth:    AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "header", Name: "X-API-Key", Value: "k-123"}},
			want:    http.Header{"X-Api-Key": {"k-123"}},
		},
		{
			name:   "api_key in cookie",
			auth:   AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "cookie", Name: "session", Value: "k-123"}},
			want:   http.Header{"Cookie": {"session=k-123"}},
			absent: []string{"Authorization"},
		},
		{
			name:    "api_key cookie joins a configured Cookie header",
			headers: map[string]string{"Cookie": "lang=en"},
			auth:    AuthConfig{Type: AuthAPIKey, Config: AuthParams{In: "cookie", Name: "session", Value: "k-123"}},
			want:    http.Header{"Cookie": {"lang=en; session=k-123"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, nil)
			cfg := smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet")
			cfg.RequestConfig.Headers = tc.headers
			cfg.RequestConfig.Auth = tc.auth
			var headersBefore map[string]string
			if tc.headers != nil {
				headersBefore = make(map[string]string)
				for k, v := range tc.headers {
					headersBefore[k] = v
				}
			}
			c, err := New(cfg)
			require.NoError(t, err)
			for range 2 {
				require.NoError(t, c.Send(context.Background(), "+14134242223", "hi"))
			}
			got := gw.got()
			require.Len(t, got, 2)
			for _, r := range got {
				for name, want := range tc.want {
					assert.Equal(t, want, r.Header[name], "header %s", name)
				}
				for _, name := range tc.absent {
					assert.Empty(t, r.Header.Values(name), "header %s", name)
				}
			}
			assert.Equal(t, headersBefore, cfg.RequestConfig.Headers, "config must not be mutated")
		})
	}
}

func TestTemplateSources(t *testing.T) {
	const src = "function(ctx) { to: ctx.to }"
	const want = "{\n   \"to\": \"+1555\"\n}\n"
	abs := writeFile(t, "abs.jsonnet", src)
	raw := strings.TrimRight(strings.TrimPrefix(b64(src), "base64://"), "=")
	// A comment whose standard base64 has both + and /, so that the
	// URL-safe form differs from it.
	withComment := strings.TrimPrefix(b64(src+" // ~~~???"), "base64://")
	require.True(t, strings.Contains(withComment, "+") && strings.Contains(withComment, "/"), withComment)
	urlSafe := "base64://" + strings.NewReplacer("+", "-", "/", "_").Replace(withComment)

	var fetches int
	var mu sync.Mutex
	tmplServer := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetches++
		mu.Unlock()
		switch r.URL.Path {
		case "/ok.jsonnet":
			_, _ = io.WriteString(w, src)
		case "/huge.jsonnet":
			_, _ = io.WriteString(w, "{a: '"+strings.Repeat("x", maxTemplateSize)+"'}")
		default:
			http.NotFound(w, r)
		}
	})

	for _, tc := range []struct {
		name string
		uri  string
	}{
		{"file relative", "file://./testdata/sms-to.jsonnet"},
		{"file absolute", "file://" + abs},
		{"legacy path", abs},
		{"base64 standard", b64(src)},
		{"base64 unpadded", "base64://" + raw},
		{"base64 url-safe", urlSafe},
		{"base64 with line breaks", "base64://" + raw[:8] + "\n" + raw[8:]},
		{"http", tmplServer.URL + "/ok.jsonnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, nil)
			c, err := New(smsConfig(gw.URL+"/send", tc.uri))
			require.NoError(t, err)
			require.NoError(t, c.Send(context.Background(), "+1555", "x"))
			got := gw.got()
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Body)
		})
	}

	t.Run("http template fetched once", func(t *testing.T) {
		gw := newGateway(t, nil)
		mu.Lock()
		before := fetches
		mu.Unlock()
		c, err := New(smsConfig(gw.URL+"/send", tmplServer.URL+"/ok.jsonnet"))
		require.NoError(t, err)
		for range 3 {
			require.NoError(t, c.Send(context.Background(), "+1555", "x"))
		}
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, 1, fetches-before)
	})

	t.Run("file read once", func(t *testing.T) {
		gw := newGateway(t, nil)
		path := writeFile(t, "t.jsonnet", src)
		c, err := New(smsConfig(gw.URL+"/send", "file://"+path))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, []byte("function(ctx) {changed: true}"), 0o600))
		require.NoError(t, c.Send(context.Background(), "+1555", "x"))
		assert.Equal(t, want, gw.got()[0].Body)
	})

	for _, tc := range []struct {
		name string
		uri  string
		msg  string
	}{
		{"missing file", "file://./testdata/does-not-exist.jsonnet", "does-not-exist.jsonnet"},
		{"http 404", tmplServer.URL + "/missing.jsonnet", "status 404"},
		{"http too large", tmplServer.URL + "/huge.jsonnet", "larger than"},
		{"http unreachable", "http://" + closedAddr(t) + "/t.jsonnet", "fetch template"},
	} {
		t.Run("fails: "+tc.name, func(t *testing.T) {
			_, err := New(smsConfig("http://127.0.0.1:1/send", tc.uri))
			require.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Problems, 1)
			assert.Equal(t, "courier.sms.request_config.body", ce.Problems[0].Path)
			assert.Contains(t, ce.Problems[0].Message, tc.msg)
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestBodyEncoding(t *testing.T) {
	for _, tc := range []struct {
		name        string
		contentType string
		template    string
		wantBody    string
		wantErr     string
	}{
		{
			name:     "default is JSON",
			template: "function(ctx) {a: ctx.body}",
			wantBody: "{\n   \"a\": \"x\"\n}\n",
		},
		{
			name:        "JSON with charset",
			contentType: "application/json; charset=utf-8",
			template:    "function(ctx) {a: ctx.body}",
			wantBody:    "{\n   \"a\": \"x\"\n}\n",
		},
		{
			name:        "+json suffix",
			contentType: "application/vnd.api+json",
			template:    "function(ctx) {a: 1}",
			wantBody:    "{\n   \"a\": 1\n}\n",
		},
		{
			name:        "form with every scalar kind",
			contentType: "application/x-www-form-urlencoded",
			template:    "function(ctx) {s: 'a b&c', n: 42, f: 1.5, t: true, no: false, z: null, list: ['x', 2, null, true]}",
			wantBody:    "f=1.5&list=x&list=2&list=true&n=42&no=false&s=a+b%26c&t=true",
		},
		{
			name:        "form with charset parameter",
			contentType: "application/x-www-form-urlencoded; charset=UTF-8",
			template:    "function(ctx) {to: ctx.to}",
			wantBody:    "to=%2B1555",
		},
		{
			name:        "form rejects a nested object",
			contentType: "application/x-www-form-urlencoded",
			template:    "function(ctx) {outer: {inner: 1}}",
			wantErr:     "form field outer",
		},
		{
			name:        "form rejects an array of objects",
			contentType: "application/x-www-form-urlencoded",
			template:    "function(ctx) {list: [{a: 1}]}",
			wantErr:     "form field list[0]",
		},
		{
			name:        "form needs an object",
			contentType: "application/x-www-form-urlencoded",
			template:    "function(ctx) 'to=1'",
			wantErr:     "yield an object",
		},
		{
			name:        "text/plain sends the string verbatim",
			contentType: "text/plain; charset=utf-8",
			template:    "function(ctx) 'Hello ' + ctx.to + '\\n\"quoted\"'",
			wantBody:    "Hello +1555\n\"quoted\"",
		},
		{
			name:        "application/xml sends the string verbatim",
			contentType: "application/xml",
			template:    "function(ctx) std.format('<sms to=\"%s\">%s</sms>', [ctx.to, ctx.body])",
			wantBody:    "<sms to=\"+1555\">x</sms>",
		},
		{
			name:        "text/plain needs a string",
			contentType: "text/plain",
			template:    "function(ctx) {a: 1}",
			wantErr:     "must yield a string",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, nil)
			cfg := smsConfig(gw.URL+"/send", b64(tc.template))
			if tc.contentType != "" {
				cfg.RequestConfig.Headers = map[string]string{"Content-Type": tc.contentType}
			}
			c, err := New(cfg)
			require.NoError(t, err)
			err = c.Send(context.Background(), "+1555", "x")
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrTemplate)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Empty(t, gw.got(), "nothing may be sent")
				return
			}
			require.NoError(t, err)
			got := gw.got()
			require.Len(t, got, 1)
			assert.Equal(t, tc.wantBody, got[0].Body)
			wantCT := tc.contentType
			if wantCT == "" {
				wantCT = "application/json"
			}
			assert.Equal(t, wantCT, got[0].Header.Get("Content-Type"))
		})
	}
}

func TestMethods(t *testing.T) {
	for _, tc := range []struct {
		method   string
		wantBody bool
	}{
		{"POST", true}, {"PUT", true}, {"PATCH", true}, {"GET", true}, {"DELETE", true}, {"TRACE", false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			gw := newGateway(t, nil)
			cfg := smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet")
			cfg.RequestConfig.Method = tc.method
			c, err := New(cfg)
			require.NoError(t, err)
			require.NoError(t, c.Send(context.Background(), "+1555", "x"))
			got := gw.got()
			require.Len(t, got, 1)
			assert.Equal(t, tc.method, got[0].Method)
			if tc.wantBody {
				assert.JSONEq(t, `{"from":"+13104661805","to":"+1555","body":"x"}`, got[0].Body)
			} else {
				assert.Empty(t, got[0].Body)
				assert.Empty(t, got[0].Header.Get("Content-Type"))
			}
		})
	}
}

func TestCancel(t *testing.T) {
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "text/plain"} {
		t.Run("content type "+ct, func(t *testing.T) {
			gw := newGateway(t, nil)
			cfg := smsConfig(gw.URL+"/send", "file://./testdata/cancel.jsonnet")
			if ct != "" {
				cfg.RequestConfig.Headers = map[string]string{"Content-Type": ct}
			}
			c, err := New(cfg)
			require.NoError(t, err)
			res, err := c.SendMessage(context.Background(), Message{To: "+1555", Body: "x"})
			require.ErrorIs(t, err, ErrCancel)
			assert.NotErrorIs(t, err, ErrTemplate)
			assert.Equal(t, 0, res.Attempts)
			_, err = c.Render(context.Background(), Message{To: "+1555"})
			require.ErrorIs(t, err, ErrCancel)
			assert.Empty(t, gw.got())
		})
	}
	t.Run("conditional cancel", func(t *testing.T) {
		gw := newGateway(t, nil)
		c, err := New(smsConfig(gw.URL+"/send", b64(`function(ctx) if std.startsWith(ctx.to, "+999") then error "cancel" else {to: ctx.to}`)))
		require.NoError(t, err)
		require.ErrorIs(t, c.Send(context.Background(), "+999123", "x"), ErrCancel)
		require.NoError(t, c.Send(context.Background(), "+1555", "x"))
		assert.Len(t, gw.got(), 1)
	})
	for _, msg := range []string{"cancelled", "Cancel", "do not cancel"} {
		t.Run("other message "+msg, func(t *testing.T) {
			gw := newGateway(t, nil)
			c, err := New(smsConfig(gw.URL+"/send", b64(fmt.Sprintf("function(ctx) error %q", msg))))
			require.NoError(t, err)
			err = c.Send(context.Background(), "+1555", "x")
			require.ErrorIs(t, err, ErrTemplate)
			assert.NotErrorIs(t, err, ErrCancel)
			assert.Empty(t, gw.got())
		})
	}
}

func TestTemplateContext(t *testing.T) {
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", "file://./testdata/context.jsonnet"))
	require.NoError(t, err)
	noFrom := smsConfig(gw.URL+"/send", "file://./testdata/context.jsonnet")
	noFrom.From = ""
	cDefault, err := New(noFrom)
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		courier *Courier
		msg     Message
		want    string
	}{
		{
			name:    "defaults",
			courier: c,
			msg:     Message{To: "+14134242223", Body: "Your code is 123456", IdempotencyKey: "k-1"},
			want: `{"from":"+13104661805","to":"+14134242223","body":"Your code is 123456","recipient":"+14134242223",
				"message_type":"sms","subject":"","template_type":"","template_data":{},"request_headers":{},
				"idempotency_key":"k-1"}`,
		},
		{
			name:    "DefaultFrom when config has no from",
			courier: cDefault,
			msg:     Message{To: "+1555", IdempotencyKey: "k-2"},
			want: `{"from":"` + DefaultFrom + `","to":"+1555","body":"","recipient":"+1555",
				"message_type":"sms","subject":"","template_type":"","template_data":{},"request_headers":{},
				"idempotency_key":"k-2"}`,
		},
		{
			name:    "message fields",
			courier: c,
			msg: Message{
				To: "+1555", Body: "héllo <b>&\"", From: "ACME",
				TemplateType:   "verification_code",
				IdempotencyKey: "order-42/otp",
				TemplateData:   map[string]any{"code": "123456", "n": 3},
				RequestHeaders: http.Header{"Accept-Language": {"de"}},
			},
			want: `{"from":"ACME","to":"+1555","body":"héllo <b>&\"","recipient":"+1555",
				"message_type":"sms","subject":"","template_type":"verification_code",
				"template_data":{"code":"123456","n":3},"request_headers":{"Accept-Language":["de"]},
				"idempotency_key":"order-42/otp"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(gw.got())
			res, err := tc.courier.SendMessage(context.Background(), tc.msg)
			require.NoError(t, err)
			assert.Equal(t, tc.msg.IdempotencyKey, res.IdempotencyKey)
			got := gw.got()
			require.Len(t, got, before+1)
			assert.JSONEq(t, tc.want, got[before].Body)
		})
	}

	t.Run("a random key when none is given", func(t *testing.T) {
		keys := make(map[string]bool)
		for range 3 {
			before := len(gw.got())
			res, err := c.SendMessage(context.Background(), Message{To: "+1555"})
			require.NoError(t, err)
			var ctx struct {
				Key string `json:"idempotency_key"`
			}
			require.NoError(t, json.Unmarshal([]byte(gw.got()[before].Body), &ctx))
			assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, ctx.Key)
			assert.Equal(t, res.IdempotencyKey, ctx.Key)
			keys[ctx.Key] = true
		}
		assert.Len(t, keys, 3, "each message gets its own key")
	})
}

// TestNewReportsEveryProblem checks that New lists template problems beside
// each other and beside the config's own.
func TestNewReportsEveryProblem(t *testing.T) {
	missing := "file://" + filepath.Join(t.TempDir(), "missing.jsonnet")
	paths := func(err error) []string {
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		var out []string
		for _, p := range ce.Problems {
			out = append(out, p.Path)
		}
		return out
	}

	t.Run("both templates", func(t *testing.T) {
		cfg := smsConfig("http://127.0.0.1:1/send", missing)
		cfg.RequestConfig.Response = b64("function(ctx) {ok: }")
		_, err := New(cfg)
		assert.Equal(t, []string{"courier.sms.request_config.body", "courier.sms.request_config.response"}, paths(err))
		assert.ErrorIs(t, err, os.ErrNotExist, "the causes stay in the chain")
		assert.ErrorIs(t, err, ErrInvalidConfig)
	})
	t.Run("a config problem and a template problem", func(t *testing.T) {
		cfg := smsConfig("https://sms.example.com", missing) // no path
		_, err := New(cfg)
		assert.Equal(t, []string{"courier.sms.request_config.url", "courier.sms.request_config.body"}, paths(err))
	})
	t.Run("a template problem found by the check is not repeated", func(t *testing.T) {
		cfg := smsConfig("https://sms.example.com", "s3://bucket/t.jsonnet")
		_, err := New(cfg)
		assert.Equal(t, []string{"courier.sms.request_config.url", "courier.sms.request_config.body"}, paths(err))
	})
	t.Run("http templates are not fetched for an invalid config", func(t *testing.T) {
		tmpl := newGateway(t, nil)
		cfg := smsConfig("https://sms.example.com", tmpl.URL+"/t.jsonnet")
		_, err := New(cfg)
		assert.Equal(t, []string{"courier.sms.request_config.url"}, paths(err))
		assert.Empty(t, tmpl.got())
	})
	t.Run("a disabled config loads no template", func(t *testing.T) {
		cfg := smsConfig("http://127.0.0.1:1/send", missing)
		cfg.Enabled = false
		c, err := New(cfg)
		require.NoError(t, err)
		assert.ErrorIs(t, c.Send(context.Background(), "+1555", "x"), ErrDisabled)
	})
}

func TestMessageValidate(t *testing.T) {
	deep := any("leaf")
	for range 65 {
		deep = []any{deep}
	}
	data := map[string]any{"code": "123456"}
	cases := []struct {
		name  string
		m     Message
		valid bool
	}{
		{"minimal", Message{To: "+14134242223"}, true},
		{"with key and data", Message{To: "+1", Body: "hi", IdempotencyKey: "otp-1", TemplateData: data}, true},
		{"blank to", Message{To: " \t", Body: "hi"}, false},
		{"control in from", Message{To: "+1", From: "a\nb"}, false},
		{"body not UTF-8", Message{To: "+1", Body: "\xff"}, false},
		{"key with a space", Message{To: "+1", IdempotencyKey: "a b"}, false},
		{"key too long", Message{To: "+1", IdempotencyKey: strings.Repeat("k", 256)}, false},
		{"data too deep", Message{To: "+1", TemplateData: deep}, false},
		{"data not JSON", Message{To: "+1", TemplateData: func() {}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Validate()
			if tc.valid {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrInvalidMessage)
		})
	}
	m := Message{To: "+1", TemplateData: data}
	require.NoError(t, m.Validate())
	assert.Equal(t, data, m.TemplateData, "Validate leaves the message as it was")
}

// TestCourierIsASender: code written against Sender takes a Courier.
func TestCourierIsASender(t *testing.T) {
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", b64("function(ctx) {to: ctx.to}")))
	require.NoError(t, err)
	var s Sender = c
	req, err := s.Render(context.Background(), Message{To: "+14134242223"})
	require.NoError(t, err)
	assert.Equal(t, "/send", req.URL.Path)
	res, err := s.SendMessage(context.Background(), Message{To: "+14134242223"})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Attempts)
	assert.Len(t, gw.got(), 1)
}
