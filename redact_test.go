package smscourier

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

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
			URL: "http://user:url-pw-1@" + gw.Listener.Addr().String() + "/send", Method: "POST",
			Headers: map[string]string{"X-Api-Key": "hdr-key-4"},
			Auth:    AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Token", Value: "bearer-tok-3", In: APIKeyInHeader}},
		}})
		require.NoError(t, err)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(verb, c)
			notShown(t, s)
			assert.Equal(t, "smscourier.Courier(POST http://"+gw.Listener.Addr().String()+"/send)", s)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("courier", "c", c)
		notShown(t, buf.String())
		require.NoError(t, c.Send(context.Background(), "+15550001", "hi"))
		assert.Equal(t, "bearer-tok-3", gw.got()[0].Header.Get("X-Token"), "redaction is for display only")
	})
}
