package smscourier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigRedacted covers the secrets a config can hold outside Auth: a
// URL password, a credential in the URL's query and credential headers.
func TestConfigRedacted(t *testing.T) {
	secrets := []string{"url-pw-1", "query-key-2", "bearer-tok-3", "hdr-key-4", "tmpl-pw-5", "cookie-6", "basic-pw-7"}
	cfg := SMSConfig{Enabled: true, From: "+15550001", RequestConfig: RequestConfig{
		URL:      "https://user:url-pw-1@sms.example.com/v1/send?api_key=query-key-2&region=eu",
		Method:   "POST",
		Body:     "https://t:tmpl-pw-5@templates.example.com/sms.jsonnet",
		Response: "base64://ZnVuY3Rpb24oY3R4KSB7fQ==",
		Headers: map[string]string{
			"Authorization": "Bearer bearer-tok-3",
			"X-Api-Key":     "hdr-key-4",
			"Cookie":        "sid=cookie-6",
			"Content-Type":  "application/json",
			"X-Region":      "eu-west",
		},
		Auth: AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "u", Password: "basic-pw-7"}},
	}}
	notShown := func(t *testing.T, s string) {
		t.Helper()
		for _, secret := range secrets {
			assert.NotContains(t, s, secret)
			assert.NotContains(t, s, hex.EncodeToString([]byte(secret)))
		}
	}
	kept := func(t *testing.T, s string) {
		t.Helper()
		for _, v := range []string{"sms.example.com", "/v1/send", "region=eu", "templates.example.com", "application/json", "eu-west"} {
			assert.Contains(t, s, v)
		}
	}

	t.Run("fmt", func(t *testing.T) {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			for _, v := range []any{cfg, &cfg, cfg.RequestConfig, &cfg.RequestConfig} {
				s := fmt.Sprintf(verb, v)
				notShown(t, s)
				if verb == "%v" || verb == "%+v" || verb == "%#v" {
					kept(t, s)
					if _, ok := v.(RequestConfig); !ok {
						if _, ok := v.(*RequestConfig); !ok {
							assert.Contains(t, s, "+15550001")
						}
					}
				}
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		data, err := json.Marshal(cfg)
		require.NoError(t, err)
		notShown(t, string(data))
		kept(t, string(data))
		var back map[string]any
		require.NoError(t, json.Unmarshal(data, &back), "still a JSON object with the usual keys")
		assert.Contains(t, back["request_config"], "url")
	})
	t.Run("slog", func(t *testing.T) {
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(h(&buf)).Info("config", "cfg", cfg, "rc", cfg.RequestConfig)
			notShown(t, buf.String())
			kept(t, buf.String())
		}
	})
	t.Run("the original is untouched", func(t *testing.T) {
		r := cfg.RequestConfig.Redacted()
		assert.Equal(t, "https://[REDACTED]@sms.example.com/v1/send?api_key=[REDACTED]&region=eu", r.URL)
		assert.Equal(t, "Bearer bearer-tok-3", cfg.RequestConfig.Headers["Authorization"])
		assert.Equal(t, "[REDACTED]", r.Headers["Authorization"])
		assert.Equal(t, "base64://ZnVuY3Rpb24oY3R4KSB7fQ==", r.Response)
	})
	t.Run("URLs", func(t *testing.T) {
		for raw, want := range map[string]string{
			"https://sk_live_TOKEN@api.example.com/v1/send":     "https://[REDACTED]@api.example.com/v1/send",
			"https://KEY:@api.example.com/v1/send":              "https://[REDACTED]@api.example.com/v1/send",
			"HTTPS://u:PW@api.example.com/v1/send?sig=S&x=1":    "https://[REDACTED]@api.example.com/v1/send?sig=[REDACTED]&x=1",
			"http:user:PW@api.example.com/v1":                   "[REDACTED]",
			" https://u:PW@api.example.com/v1":                  "[REDACTED]",
			"https://api.example.com/v1/send?region=eu":         "https://api.example.com/v1/send?region=eu",
			"file://./templates/sms@v2.jsonnet":                 "file://./templates/sms@v2.jsonnet",
			"base64://ZnVuY3Rpb24oY3R4KSB7fQ==":                 "base64://ZnVuY3Rpb24oY3R4KSB7fQ==",
			"./legacy/path.jsonnet":                             "./legacy/path.jsonnet",
			"https://api.example.com/v1/send?passphrase=P&a=b":  "https://api.example.com/v1/send?a=b&passphrase=[REDACTED]",
			"https://api.example.com/v1/send?X-Amz-Signature=S": "https://api.example.com/v1/send?X-Amz-Signature=[REDACTED]",
		} {
			assert.Equal(t, want, RequestConfig{URL: raw}.Redacted().URL, raw)
		}
	})
	t.Run("header names", func(t *testing.T) {
		for name, hidden := range map[string]bool{
			"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "X-Api-Key": true,
			"X-Auth-Token": true, "X-Pass": true, "X-Sig": true, "X-Bearer": true, "X-Client-Secret": true,
			"Content-Type": false, "Accept": false, "X-Region": false, "User-Agent": false,
		} {
			r := RequestConfig{Headers: map[string]string{name: "v"}}.Redacted()
			assert.Equal(t, hidden, r.Headers[name] == "[REDACTED]", name)
		}
	})
	t.Run("the courier", func(t *testing.T) {
		gw := newGateway(t, nil)
		c, err := New(SMSConfig{Enabled: true, RequestConfig: RequestConfig{
			URL: "http://user:url-pw-1@" + gw.addr() + "/send", Method: "POST",
			Headers: map[string]string{"X-Api-Key": "hdr-key-4"},
			Auth:    AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Token", Value: "bearer-tok-3", In: APIKeyInHeader}},
		}})
		require.NoError(t, err)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(verb, c)
			notShown(t, s)
			assert.Equal(t, "smscourier.Courier(POST http://"+gw.addr()+"/send)", s)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("courier", "c", c)
		notShown(t, buf.String())
		require.NoError(t, c.Send(context.Background(), "+15550001", "hi"))
		assert.Equal(t, "bearer-tok-3", gw.got()[0].Header.Get("X-Token"), "redaction is for display only")
	})
}

// newRawGateway starts a loopback gateway that speaks HTTP by hand: on each
// connection it reads one request and writes the bytes answer returns, as
// they are, then closes the connection. It returns the gateway's address.
func newRawGateway(t *testing.T, answer func(r *http.Request, body []byte) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				body, err := io.ReadAll(req.Body)
				if err != nil {
					return
				}
				_, _ = io.WriteString(conn, answer(req, body))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoPlacements are the places in a reply where net/http quotes bytes the
// gateway sent back into its error text.
var echoPlacements = []struct {
	name  string
	reply func(echo string) string
}{
	{"malformed status line", func(e string) string {
		return "HTTP/1.1 " + e + " OK\r\nContent-Length: 0\r\n\r\n"
	}},
	{"malformed header", func(e string) string {
		return "HTTP/1.1 200 OK\r\nX-Echo: " + e + "\x00\r\nContent-Length: 0\r\n\r\n"
	}},
	{"bad Content-Length", func(e string) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: " + e + "\r\n\r\n"
	}},
	{"broken chunked encoding", func(e string) string {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: " + e + "\r\n\r\n0\r\n\r\n"
	}},
	{"header block starting with a space", func(e string) string {
		return "HTTP/1.1 200 OK\r\n " + e + "\r\nContent-Length: 0\r\n\r\n"
	}},
}

// errorForms returns every way err is commonly shown: its text, fmt verbs,
// slog's handlers, and the text of every error in its chain.
func errorForms(err error) []string {
	forms := []string{err.Error()}
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x"} {
		forms = append(forms, fmt.Sprintf(verb, err))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Error("send", "err", err)
		forms = append(forms, b.String())
	}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		forms = append(forms, e.Error(), fmt.Sprintf("%#v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		}
	}
	walk(err)
	return forms
}

// assertWithheld asserts that no form of err shows a secret, as it is or as
// net/http, JSON or a URL would quote it.
func assertWithheld(t *testing.T, err error, secrets ...string) {
	t.Helper()
	var shown []string
	for _, s := range secrets {
		goQuoted := strconv.Quote(s)
		jsonQuoted, jerr := json.Marshal(s)
		require.NoError(t, jerr)
		shown = append(shown, s, goQuoted[1:len(goQuoted)-1], url.QueryEscape(s),
			strconv.Quote(string(jsonQuoted[1:len(jsonQuoted)-1])), fmt.Sprintf("%x", s))
	}
	for _, form := range errorForms(err) {
		for _, s := range shown {
			if !assert.NotContains(t, form, s) {
				return
			}
		}
	}
}

func basicToken(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// TestErrorsWithholdSecretsEchoedByTheGateway: a gateway that echoes what it
// was sent into a malformed reply must not get a credential, the message
// text or the recipient into the error, whatever net/http quotes; the error
// keeps its failure class and the courier's own words.
func TestErrorsWithholdSecretsEchoedByTheGateway(t *testing.T) {
	const (
		apiKey               = `ak_"live"+7Hq/Zr9=`
		cookieKey            = "ck_9Fz2Lq7Wm4"
		user, password       = "AC77user", "pw-5Ux!8z:q"
		urlUser, urlPassword = "urluser", "urlPa55w0rd"
		urlToken             = "tok_3Jd8Kq2"
		queryKey             = "qk+7Zp=9/x"
		text                 = "Your PIN: 918273\n\"quoted\" é"
		to                   = "+14134242223"
	)
	const spacedKey = "ak_live_9Zr2Wm7 Tq4Xp" // net/http cuts a status line at the space
	authToken := func(r *http.Request) string {
		return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
	}
	decodedAuth := func(r *http.Request, _ []byte) string {
		u, p, _ := r.BasicAuth()
		return u + ":" + p
	}
	wholeBody := func(_ *http.Request, body []byte) string {
		return strings.ReplaceAll(string(body), "\n", "") // a header line holds no newline
	}
	messageSecrets := []string{text, "918273", to, "14134242223"}
	for _, tc := range []struct {
		name        string
		target      string // the request target, after the gateway's address
		userinfo    string // the gateway URL's, with the @
		auth        AuthConfig
		contentType string
		echo        func(r *http.Request, body []byte) string
		secrets     []string
	}{
		{
			name: "api key in a header",
			auth: AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Api-Key", Value: apiKey, In: APIKeyInHeader}},
			echo: func(r *http.Request, _ []byte) string { return r.Header.Get("X-Api-Key") }, secrets: []string{apiKey},
		},
		{
			name: "api key with a space",
			auth: AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Api-Key", Value: spacedKey, In: APIKeyInHeader}},
			echo: func(r *http.Request, _ []byte) string { return r.Header.Get("X-Api-Key") }, secrets: []string{spacedKey, "ak_live_9Zr2Wm7", "Tq4Xp"},
		},
		{
			name: "api key in a cookie",
			auth: AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "session_key", Value: cookieKey, In: APIKeyInCookie}},
			echo: func(r *http.Request, _ []byte) string { return r.Header.Get("Cookie") }, secrets: []string{cookieKey},
		},
		{
			name:    "basic auth, the Authorization token",
			auth:    AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: user, Password: password}},
			echo:    func(r *http.Request, _ []byte) string { return authToken(r) },
			secrets: []string{password, user + ":" + password, basicToken(user, password)},
		},
		{
			name: "basic auth, user:password",
			auth: AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: user, Password: password}},
			echo: decodedAuth, secrets: []string{password, user + ":" + password, basicToken(user, password)},
		},
		{
			name: "URL userinfo", userinfo: urlUser + ":" + urlPassword + "@",
			echo:    func(r *http.Request, _ []byte) string { return authToken(r) },
			secrets: []string{urlPassword, urlUser + ":" + urlPassword, basicToken(urlUser, urlPassword)},
		},
		{
			name: "URL user name as a token", userinfo: urlToken + "@",
			echo: decodedAuth, secrets: []string{urlToken, basicToken(urlToken, "")},
		},
		{
			name: "URL query api_key", target: "/send?api_key=" + url.QueryEscape(queryKey) + "&region=eu",
			echo:    func(r *http.Request, _ []byte) string { return r.RequestURI },
			secrets: []string{queryKey, url.QueryEscape(queryKey)},
		},
		{
			name: "message text and recipient, JSON body", contentType: "application/json",
			echo: wholeBody, secrets: messageSecrets,
		},
		{
			name: "message text and recipient, form body", contentType: "application/x-www-form-urlencoded",
			echo: wholeBody, secrets: messageSecrets,
		},
	} {
		for _, pl := range echoPlacements {
			t.Run(tc.name+"/"+pl.name, func(t *testing.T) {
				addr := newRawGateway(t, func(r *http.Request, body []byte) string {
					return pl.reply(tc.echo(r, body))
				})
				target := cmpOr(tc.target, "/send")
				cfg := smsConfig("http://"+tc.userinfo+addr+target, b64(`function(ctx) {body: ctx.body, to: ctx.to}`))
				cfg.RequestConfig.Auth = tc.auth
				cfg.RequestConfig.Headers = map[string]string{"Content-Type": cmpOr(tc.contentType, "application/json")}
				c, err := New(cfg, WithoutRetries())
				require.NoError(t, err)
				t.Cleanup(c.client.CloseIdleConnections)

				_, err = c.SendMessage(context.Background(), Message{To: to, Body: text})
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.True(t, strings.HasPrefix(err.Error(), "smscourier: POST http://"+addr+"/send: outcome unknown: net/http: "), err.Error())
				assertWithheld(t, err, tc.secrets...)
			})
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestErrorsWithholdShortSecrets: a credential of any length is taken out
// of what the transport quotes, without touching the courier's own words;
// a message text too short to tell apart from other text is left.
func TestErrorsWithholdShortSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, key, text, echo string
		wantQuoted            string // what net/http quotes, as the error shows it
	}{
		{name: "one-byte api key", key: "s", text: "hello there", echo: "key", wantQuoted: `"[REDACTED]"`},
		{name: "one-byte api key between other bytes", key: "s", text: "hello there", echo: "key in", wantQuoted: `"=[REDACTED];"`},
		{name: "two-byte message text", key: "k3y-long-enough", text: "ok", echo: "body", wantQuoted: `"ok"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := newRawGateway(t, func(r *http.Request, body []byte) string {
				echo := r.Header.Get("X-Key")
				switch tc.echo {
				case "key in":
					echo = "=" + echo + ";"
				case "body":
					var v struct{ Body string }
					_ = json.Unmarshal(body, &v)
					echo = v.Body
				}
				return "HTTP/1.1 " + echo + " OK\r\n\r\n"
			})
			cfg := smsConfig("http://"+addr+"/send", b64(`function(ctx) {body: ctx.body}`))
			cfg.RequestConfig.Auth = AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Key", Value: Secret(tc.key), In: APIKeyInHeader}}
			c, err := New(cfg, WithoutRetries())
			require.NoError(t, err)
			t.Cleanup(c.client.CloseIdleConnections)

			err = c.Send(context.Background(), "+14134242223", tc.text)
			require.ErrorIs(t, err, ErrOutcomeUnknown)
			want := "smscourier: POST http://" + addr + "/send: outcome unknown: net/http: HTTP/1.x transport connection broken: malformed HTTP status code " + tc.wantQuoted
			assert.Equal(t, want, err.Error())
		})
	}
}

// TestErrorsWithholdSecretsInGatewayReplies: what a response template takes
// from a reply (an error code, its own error message) can echo a secret.
func TestErrorsWithholdSecretsInGatewayReplies(t *testing.T) {
	const apiKey = "ak_live_5Tq9Zr2Wm"
	for _, tc := range []struct {
		name, response string
		status         int
		wantClass      error
		wantGateway    bool
	}{
		{name: "error code", response: `function(ctx) {ok: false, error_code: ctx.headers['X-Echo']}`,
			status: http.StatusBadRequest, wantClass: ErrRejected, wantGateway: true},
		{name: "response template failing on the echo", response: `function(ctx) {ok: std.parseInt(ctx.headers['X-Echo'])}`,
			status: http.StatusOK, wantClass: ErrOutcomeUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Echo", "key "+r.Header.Get("X-Api-Key")+" and "+r.URL.Query().Get("token"))
				w.WriteHeader(tc.status)
			})
			cfg := smsConfig(gw.URL+"/send?token=tq_7Hd2Kx9", b64(`function(ctx) {body: ctx.body}`))
			cfg.RequestConfig.Response = b64(tc.response)
			cfg.RequestConfig.Auth = AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Api-Key", Value: apiKey, In: APIKeyInHeader}}
			c, err := New(cfg, WithoutRetries())
			require.NoError(t, err)

			_, err = c.SendMessage(context.Background(), Message{To: "+14134242223", Body: "PIN 918273"})
			require.ErrorIs(t, err, tc.wantClass)
			var ge *GatewayError
			assert.Equal(t, tc.wantGateway, errors.As(err, &ge))
			if ge != nil {
				assert.Equal(t, "key "+apiKey+" and tq_7Hd2Kx9", ge.ErrorCode, "the field keeps what the template took")
			}
			assertWithheld(t, err, apiKey, "tq_7Hd2Kx9")
			assert.Contains(t, err.Error(), "[REDACTED]")
		})
	}
}

// TestErrorsKeepTheirChain: the errors that SendMessage returns after
// taking secrets out still match the sentinels and types they wrapped.
func TestErrorsKeepTheirChain(t *testing.T) {
	t.Run("gateway error", func(t *testing.T) {
		gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		cfg := smsConfig(gw.URL+"/send", "")
		cfg.RequestConfig.Auth = AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Api-Key", Value: "ak_live_5Tq9Zr2Wm", In: APIKeyInHeader}}
		c, err := New(cfg, WithoutRetries())
		require.NoError(t, err)
		_, err = c.SendMessage(context.Background(), Message{To: "+14134242223", Body: "PIN 918273"})
		require.ErrorIs(t, err, ErrRefused)
		var ge *GatewayError
		require.ErrorAs(t, err, &ge)
		assert.Equal(t, http.StatusServiceUnavailable, ge.StatusCode)
		assert.Equal(t, "smscourier: gateway replied with status 503 Service Unavailable", fmt.Sprintf("%#v", err))
	})
	t.Run("no time left for a retry", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "90")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		c, err := New(smsConfig(gw.URL+"/send", ""), WithRetryPolicy(RetryPolicy{MaxAttempts: 3, MaxRetryAfter: 2 * time.Minute}))
		require.NoError(t, err)
		err = c.Send(ctx, "+14134242223", "PIN 918273")
		require.ErrorIs(t, err, ErrRefused)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var ge *GatewayError
		require.ErrorAs(t, err, &ge)
		assert.Equal(t, 90*time.Second, ge.RetryAfter)
		assert.Contains(t, err.Error(), "(no time left for a retry in 1m30s: context deadline exceeded)")
	})
	t.Run("transport error", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		c, err := New(smsConfig("http://u:pw_4Kq8Zt@"+addr+"/send", ""), WithoutRetries())
		require.NoError(t, err)
		err = c.Send(context.Background(), "+14134242223", "PIN 918273")
		require.ErrorIs(t, err, ErrNotSent)
		var opErr *net.OpError
		require.ErrorAs(t, err, &opErr)
		assert.Equal(t, "dial", opErr.Op)
		var netErr net.Error
		assert.ErrorAs(t, err, &netErr)
	})
}

// TestCourierValueRedacted: a Courier value prints, with every verb and in
// slog, as its pointer does: without the credentials it holds.
func TestCourierValueRedacted(t *testing.T) {
	secrets := []string{"url-pw-1", "query-key-2", "hdr-key-4", "api-key-5"}
	gw := newGateway(t, nil)
	addr := gw.addr()
	c, err := New(SMSConfig{Enabled: true, RequestConfig: RequestConfig{
		URL: "http://user:url-pw-1@" + addr + "/send?api_key=query-key-2", Method: "POST",
		Headers: map[string]string{"X-Api-Key": "hdr-key-4"},
		Auth:    AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Token", Value: "api-key-5", In: APIKeyInHeader}},
	}})
	require.NoError(t, err)
	want := "smscourier.Courier(POST http://" + addr + "/send)"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		assert.Equal(t, fmt.Sprintf(verb, c), fmt.Sprintf(verb, *c), verb)
		assert.Equal(t, want, fmt.Sprintf(verb, *c), verb)
	}
	assert.Equal(t, want, (*c).String())
	for _, v := range []any{*c, []Courier{*c}, struct{ C Courier }{*c}, map[string]Courier{"c": *c}} {
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			assert.Contains(t, fmt.Sprintf(verb, v), want, verb)
		}
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("courier", "c", *c)
		assert.Contains(t, buf.String(), want)
		for _, s := range secrets {
			assert.NotContains(t, buf.String(), s)
		}
	}
	assert.Equal(t, "<nil>", fmt.Sprint((*Courier)(nil)), "fmt's rule for a nil pointer")
	disabled, err := New(SMSConfig{})
	require.NoError(t, err)
	assert.Equal(t, "smscourier.Courier(disabled)", fmt.Sprintf("%v", *disabled))
}

// TestScrubberRules pins the rules for text from outside the courier.
func TestScrubberRules(t *testing.T) {
	const key = `k"ey+ é/1`
	for _, tc := range []struct {
		name        string
		credentials []string
		message     []string
		text, want  string
	}{
		{name: "as is", credentials: []string{key}, text: `x ` + key + ` y`, want: `x [REDACTED] y`},
		{name: "Go-quoted", credentials: []string{key}, text: strconv.Quote(key), want: `"[REDACTED]"`},
		{name: "Go-quoted ASCII", credentials: []string{key}, text: strconv.QuoteToASCII(key), want: `"[REDACTED]"`},
		{name: "JSON", credentials: []string{key}, text: `{"k":"k\"ey+ é/1"}`, want: `{"k":"[REDACTED]"}`},
		{name: "JSON, Go-quoted", credentials: []string{key}, text: strconv.Quote(`{"k":"k\"ey+ é/1"}`), want: `"{\"k\":\"[REDACTED]\"}"`},
		{name: "form", credentials: []string{key}, text: "k=" + url.QueryEscape(key) + "&a=b", want: "k=[REDACTED]&a=b"},
		{name: "path", credentials: []string{key}, text: "/v1/" + url.PathEscape(key) + "/send", want: "/v1/[REDACTED]/send"},
		{name: "longest first", credentials: []string{"pw-5Ux8zq", "user:pw-5Ux8zq"}, text: "user:pw-5Ux8zq", want: "[REDACTED]"},
		{name: "empty credential", credentials: []string{""}, text: `status "" code`, want: `status "" code`},
		{name: "one-byte credential alone", credentials: []string{"s"}, text: `status "s" s=1;s`, want: `status "[REDACTED]" [REDACTED]=1;[REDACTED]`},
		{name: "a mark is never eaten", credentials: []string{"held", "k3y-with-held"}, text: `"k3y-with-held" held`, want: `"[REDACTED]" [REDACTED]`},
		{name: "cut before a quote", credentials: []string{"ak_live_9Zr2Wm7 Tq4Xp"}, text: `code "ak_live_9Zr" next`, want: `code "[REDACTED]" next`},
		{name: "cut at the end", credentials: []string{"ak_live_9Zr2Wm7 Tq4Xp"}, text: `got ak_live_9Zr2`, want: `got [REDACTED]`},
		{name: "a short cut is left", credentials: []string{"ak_live_9Zr2Wm7 Tq4Xp"}, text: `code "ak_live" next`, want: `code "ak_live" next`},
		{name: "two-byte message text is left", message: []string{"ok"}, text: `"ok" is not ok`, want: `"ok" is not ok`},
		{name: "three-byte message text alone", message: []string{"abc"}, text: `abcd "abc"`, want: `abcd "[REDACTED]"`},
		{name: "message words", message: []string{"Your PIN: 918273", "+14134242223"}, text: `"Your PIN" ... "918273" to 14134242223`, want: `"[REDACTED] PIN" ... "[REDACTED]" to [REDACTED]`},
		{name: "recipient, form-encoded", message: []string{"hi", "+14134242223"}, text: "to=%2B14134242223", want: "to=[REDACTED]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, newScrubber(tc.credentials, tc.message...).foreignText(tc.text))
		})
	}
}

// TestRenderWithholdsSecrets: Render's errors follow the same rules, here
// for a template error quoting the recipient's digits without the +.
func TestRenderWithholdsSecrets(t *testing.T) {
	c, err := New(smsConfig("http://127.0.0.1:1/send", b64(`function(ctx) error 'bad number ' + std.substr(ctx.to, 1, 11)`)))
	require.NoError(t, err)
	req, err := c.Render(context.Background(), Message{To: "+14134242223", Body: "PIN 918273"})
	require.ErrorIs(t, err, ErrTemplate)
	assert.Nil(t, req)
	assertWithheld(t, err, "14134242223")
	assert.True(t, strings.HasPrefix(err.Error(), "smscourier: template error: "), err.Error())
}
