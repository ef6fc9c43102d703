package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonTemplate is the body template of the gateways of routingDoc.
const jsonTemplate = "function(ctx) { to: ctx.to, text: ctx.body, key: ctx.idempotency_key }"

// routingDoc is a routing config with two gateways: primary, posting JSON
// to primaryURL with an api key header, and secondary, posting JSON to
// secondaryURL with basic auth. Numbers starting with +44 go to primary,
// then secondary; the others to secondary. routes are appended to the
// routes, extra to the smscourier section.
func routingDoc(primaryURL, secondaryURL, routes, extra string) string {
	return `smscourier:
  gateways:
    primary:
      from: "+447700900123"
      request_config:
        url: ` + primaryURL + `/v1/sms
        method: POST
        body: ` + b64(jsonTemplate) + `
        auth:
          type: api_key
          config: { name: X-API-Key, value: ` + apiKey + `, in: header }
    secondary:
      request_config:
        url: ` + secondaryURL + `/2010-04-01/Accounts/AC123/Messages.json
        method: POST
        body: ` + b64(jsonTemplate) + `
        headers:
          X-Tenant: acme
        auth:
          type: basic_auth
          config: { user: AC123, password: ` + password + ` }
  routes:
    - prefixes: ["+44"]
      gateways: [primary, secondary]
` + routes + `  default_route:
    gateways: [secondary]
` + extra
}

// deadURL returns the URL of a loopback server that is closed: connecting
// to it is refused.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func TestRoutingValidate(t *testing.T) {
	cases := []struct {
		name     string
		doc      string
		stdout   string
		warnings []string
	}{
		{
			name: "two gateways",
			doc:  routingDoc("https://api.example.com", "https://api.twilio.com", "", "  breaker: { failures: 2, cool_down: 1m30s }\n"),
			stdout: "valid: layout=smscourier gateways=2 routes=1\n" +
				"gateway primary: method=POST host=api.example.com auth=api_key/header template=base64 content_type=application/json\n" +
				"gateway secondary: method=POST host=api.twilio.com auth=basic_auth template=base64 content_type=application/json\n" +
				"route +44: primary, secondary\n" +
				"route default: secondary\n" +
				"breaker: failures=2 cool_down=1m30s\n",
		},
		{
			name: "Kratos section, shares, default breaker, warnings per gateway",
			doc: apiKeyDoc("sms.example.com:8443") + `smscourier:
  gateways:
    twilio:
      from: YOUR_SENDER
      request_config: { url: "https://api.twilio.com/x", method: post }
    sns:
      request_config: { url: "https://sns.example.com/x", method: POST }
  routes:
    - prefixes: ["+44", "+353"]
      gateways: [courier, { twilio: 70, sns: 30 }]
      failover_on_rejected: true
  default_route:
    gateways: [{ sns: 50, twilio: 50 }]
`,
			stdout: "valid: layout=smscourier gateways=3 routes=1\n" +
				"gateway courier: layout=courier.channels[1] method=PUT host=sms.example.com:8443 auth=api_key/header template=base64 content_type=application/json\n" +
				"gateway sns: method=POST host=sns.example.com auth=none template=none content_type=none\n" +
				"gateway twilio: method=post host=api.twilio.com auth=none template=none content_type=none\n" +
				"route +44 +353: courier, {twilio: 70, sns: 30} (failover_on_rejected)\n" +
				"route default: {sns: 50, twilio: 50}\n" +
				"breaker: failures=5 cool_down=30s\n",
			warnings: []string{
				"smscourier.gateways.twilio.request_config.method is not upper case",
				"smscourier.gateways.twilio.from still holds a placeholder",
			},
		},
		{
			name: "Kratos section no route uses",
			doc:  "courier:\n  sms:\n    enabled: false\n" + routingDoc("https://api.example.com", "https://api.twilio.com", "", ""),
			stdout: "valid: layout=smscourier gateways=3 routes=1\n" +
				"gateway courier: layout=courier.sms enabled=false used=false\n" +
				"gateway primary: method=POST host=api.example.com auth=api_key/header template=base64 content_type=application/json\n" +
				"gateway secondary: method=POST host=api.twilio.com auth=basic_auth template=base64 content_type=application/json\n" +
				"route +44: primary, secondary\n" +
				"route default: secondary\n" +
				"breaker: failures=5 cool_down=30s\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"config.yml": tc.doc})
			r := runCLI(t, dir, nil, "validate", "--config", "config.yml")
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, tc.stdout, r.stdout)
			if tc.warnings == nil {
				assert.Empty(t, r.stderr)
				return
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			require.Len(t, lines, len(tc.warnings), r.stderr)
			for i, w := range tc.warnings {
				assert.True(t, strings.HasPrefix(lines[i], "smscourier validate: warning: "+w), lines[i])
			}
		})
	}
}

func TestRoutingValidateProblems(t *testing.T) {
	cases := []struct {
		name     string
		files    map[string]string
		problems []string
	}{
		{
			name: "bad route",
			files: map[string]string{"config.yml": routingDoc("https://api.example.com", "https://api.twilio.com", `    - prefixes: ["+33", "44", "+44"]
      gateways: [secondary, sns, secondary]
    - prefixes: []
      gateways: []
      failover: true
`, "  breaker: { failures: -1, cool_down: soon }\n")},
			problems: []string{
				"smscourier.routes[1].prefixes[1]: must be + and 1 to 15 digits, the first not 0",
				"smscourier.routes[1].prefixes[2]: prefix +44 is given twice: first at smscourier.routes[0].prefixes[0]",
				"smscourier.routes[1].gateways[1]: unknown gateway sns",
				"smscourier.routes[1].gateways[2]: gateway secondary is already in this route, at smscourier.routes[1].gateways[0]",
				"smscourier.routes[2].failover: unknown key",
				"smscourier.routes[2].prefixes: required",
				"smscourier.routes[2].gateways: empty route",
				"smscourier.breaker.failures: must not be negative",
				"smscourier.breaker.cool_down: not a valid duration",
			},
		},
		{
			name: "a gateway's template",
			files: map[string]string{
				"config.yml": strings.Replace(routingDoc("https://api.example.com", "https://api.twilio.com", "", ""),
					"body: "+b64(jsonTemplate), "body: file://./broken.jsonnet", 1),
				"broken.jsonnet": "function(ctx) { to: ctx.to,, }\n",
			},
			problems: []string{"smscourier.gateways.primary.request_config.body: "},
		},
		{
			name: "the Kratos block's template, at the document's layout",
			files: map[string]string{
				"config.yml": strings.Replace(apiKeyDoc("sms.example.com"), "body: "+b64("function(ctx) { to: ctx.to, text: ctx.body, sender: ctx.from, key: ctx.idempotency_key }"),
					"body: file://./broken.jsonnet", 1) +
					routingDoc("https://api.example.com", "https://api.twilio.com", "    - prefixes: [\"+1\"]\n      gateways: [courier]\n", ""),
				"broken.jsonnet": "function(ctx) { to: ctx.to,, }\n",
			},
			problems: []string{"courier.channels[1].request_config.body: "},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			r := runCLI(t, dir, nil, "validate", "--config", "config.yml")
			assert.Equal(t, exitFailure, r.code)
			assert.Empty(t, r.stdout)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			assert.Equal(t, "smscourier: config.yml: invalid config:", lines[0])
			assert.Len(t, lines[1:], len(tc.problems), r.stderr)
			for _, want := range tc.problems {
				found := false
				for _, line := range lines[1:] {
					found = found || strings.HasPrefix(line, "  "+want)
				}
				assert.True(t, found, "no line %q in\n%s", want, r.stderr)
			}
		})
	}
}

func TestRoutingRender(t *testing.T) {
	primary, secondary := newGateway(t), newGateway(t)
	doc := routingDoc(primary.URL(), secondary.URL(), "", "")
	body := func(to, key string) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "   ")
		m := map[string]string{"to": to, "text": "Your code is 123456", "key": key}
		require.NoError(t, enc.Encode(m))
		return b.String()
	}
	primaryText := func(key string) string {
		return "POST " + primary.URL() + "/v1/sms\n" +
			"Content-Type: application/json\n" +
			"X-Api-Key: [REDACTED]\n" +
			"\n" + body("+447700900456", key)
	}
	secondaryText := func(to, key string) string {
		return "POST " + secondary.URL() + "/2010-04-01/Accounts/AC123/Messages.json\n" +
			"Authorization: Basic [REDACTED]\n" +
			"Content-Type: application/json\n" +
			"X-Tenant: acme\n" +
			"\n" + body(to, key)
	}
	dir := writeFiles(t, map[string]string{"config.yml": doc})
	render := []string{"render", "--config", "config.yml", "--body", "Your code is 123456"}

	t.Run("the whole route", func(t *testing.T) {
		r := runCLI(t, dir, nil, append(render, "--to", "+447700900456", "--idempotency-key", "otp-7f3a")...)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "gateway primary (1 of 2)\n"+primaryText("otp-7f3a")+"\n"+
			"gateway secondary (2 of 2)\n"+secondaryText("+447700900456", "otp-7f3a"), r.stdout)
		assert.Empty(t, r.stderr)
	})
	t.Run("a route of one gateway", func(t *testing.T) {
		r := runCLI(t, dir, nil, append(render, "--to", "+14134242223", "--idempotency-key", "otp-7f3a")...)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "gateway secondary (1 of 1)\n"+secondaryText("+14134242223", "otp-7f3a"), r.stdout)
	})
	t.Run("JSON, one made-up key for every gateway", func(t *testing.T) {
		r := runCLI(t, dir, nil, append(render, "--to", "+447700900456", "--json")...)
		require.Equal(t, exitOK, r.code, r.stderr)
		var got []struct {
			Gateway string            `json:"gateway"`
			Method  string            `json:"method"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
			Body    string            `json:"body"`
		}
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&got), r.stdout)
		require.Len(t, got, 2)
		assert.Equal(t, "primary", got[0].Gateway)
		assert.Equal(t, "secondary", got[1].Gateway)
		assert.Equal(t, "[REDACTED]", got[0].Headers["X-Api-Key"])
		assert.Equal(t, "Basic [REDACTED]", got[1].Headers["Authorization"])
		var keys []string
		for _, g := range got {
			var b map[string]string
			require.NoError(t, json.Unmarshal([]byte(g.Body), &b))
			keys = append(keys, b["key"])
		}
		assert.NotEmpty(t, keys[0])
		assert.Equal(t, keys[0], keys[1], "one idempotency key")
	})
	t.Run("a template that cancels is shown, and the route goes on", func(t *testing.T) {
		doc := strings.Replace(doc, "body: "+b64(jsonTemplate), "body: "+b64(`function(ctx) error "cancel"`), 1)
		dir := writeFiles(t, map[string]string{"config.yml": doc})
		args := append(render, "--to", "+447700900456", "--idempotency-key", "otp-7f3a")
		r := runCLI(t, dir, nil, args...)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "gateway primary (1 of 2)\nnot rendered: smscourier: template cancelled the message\n\n"+
			"gateway secondary (2 of 2)\n"+secondaryText("+447700900456", "otp-7f3a"), r.stdout)

		r = runCLI(t, dir, nil, append(args, "--json")...)
		require.Equal(t, exitOK, r.code, r.stderr)
		var got []map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
		require.Len(t, got, 2)
		assert.Equal(t, map[string]any{"gateway": "primary", "error": "smscourier: template cancelled the message"}, got[0])
		assert.Equal(t, "secondary", got[1]["gateway"])
	})
	t.Run("every template cancels", func(t *testing.T) {
		doc := strings.ReplaceAll(doc, "body: "+b64(jsonTemplate), "body: "+b64(`function(ctx) error "cancel"`))
		dir := writeFiles(t, map[string]string{"config.yml": doc})
		r := runCLI(t, dir, nil, append(render, "--to", "+447700900456")...)
		assert.Equal(t, exitFailure, r.code)
		assert.Empty(t, r.stdout)
		assert.Equal(t, "smscourier: template cancelled the message; nothing would be sent\n", r.stderr)
	})
	t.Run("an invalid message", func(t *testing.T) {
		r := runCLI(t, dir, nil, append(render, "--to", "+447700900456", "--from", "a\x01b")...)
		assert.Equal(t, exitFailure, r.code)
		assert.Empty(t, r.stdout)
		assert.Contains(t, r.stderr, "smscourier: invalid message")
	})
	assert.Empty(t, primary.Requests(), "render sent a request")
	assert.Empty(t, secondary.Requests(), "render sent a request")
}

func TestRoutingSend(t *testing.T) {
	send := []string{"send", "--config", "config.yml", "--to", "+447700900456", "--body", "Your code is 123456", "--idempotency-key", "otp-7f3a"}

	t.Run("fails over from a dead primary", func(t *testing.T) {
		secondary := newGateway(t)
		dir := writeFiles(t, map[string]string{"config.yml": routingDoc(deadURL(t), secondary.URL(), "", "")})
		r := runCLI(t, dir, nil, send...)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "status: 201\nclass: ok\nattempts: 2\ngateway: secondary\ntried: primary not_sent, secondary ok\n"+
			"idempotency_key: otp-7f3a\nsegments: 1 (GSM-7, 19 characters)\n", r.stdout)
		assert.Empty(t, r.stderr)
		got := secondary.RequireRequest(t, 0)
		assert.Equal(t, "otp-7f3a", got.JSONField("key"))
		assert.Equal(t, "+447700900456", got.JSONField("to"))
		secondary.AssertCount(t, 1)
	})
	t.Run("skips a gateway that asked to wait", func(t *testing.T) {
		secondary := newGateway(t, smstest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "3600"})
		dir := writeFiles(t, map[string]string{"config.yml": routingDoc(deadURL(t), secondary.URL(), "", "")})
		r := runCLI(t, dir, nil, append(send, "--attempts", "2")...)
		assert.Equal(t, exitFailure, r.code)
		assert.Equal(t, "status: none\nclass: not_sent\nattempts: 3\ngateway: primary\n"+
			"tried: primary not_sent, secondary refused, primary not_sent, secondary skipped (retry_after)\n"+
			"idempotency_key: otp-7f3a\nsegments: 1 (GSM-7, 19 characters)\n", r.stdout)
		assert.Contains(t, r.stderr, "not sent")
		secondary.AssertCount(t, 1)
	})
	t.Run("every gateway fails", func(t *testing.T) {
		secondary := newGateway(t, smstest.Reply{Status: http.StatusBadRequest, Body: `{"message":"The 'To' number is not valid"}`})
		dir := writeFiles(t, map[string]string{"config.yml": routingDoc(deadURL(t), secondary.URL(), "", "")})
		r := runCLI(t, dir, nil, send...)
		assert.Equal(t, exitFailure, r.code)
		assert.Equal(t, "status: 400\nclass: rejected\nattempts: 2\ngateway: secondary\ntried: primary not_sent, secondary rejected\n"+
			"idempotency_key: otp-7f3a\nsegments: 1 (GSM-7, 19 characters)\n", r.stdout)
		assert.Contains(t, r.stderr, "status 400")
		assert.NotContains(t, r.stdout+r.stderr, "123456", "message text printed")
	})
	t.Run("the flags' options apply to every gateway", func(t *testing.T) {
		secondary := newGateway(t)
		dir := writeFiles(t, map[string]string{"config.yml": routingDoc(deadURL(t), secondary.URL(), "", "")})
		r := runCLI(t, dir, nil, "send", "--config", "config.yml", "--to", "447700900456", "--body", "hi", "--strict-e164")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stdout, "class: invalid_message\nattempts: 0\ngateway: none\ntried: none\n")
		assert.Contains(t, r.stderr, "strict E.164")

		r = runCLI(t, dir, nil, append(send, "--verbose", "--attempts", "1")...)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stderr, `level=DEBUG msg="smscourier: attempt" gateway=primary`)
		assert.Contains(t, r.stderr, `level=INFO msg="smscourier: sent" gateway=secondary`)
		assert.NotContains(t, r.stderr, "123456", "message text logged")
		secondary.AssertCount(t, 1)
	})
	t.Run("disabled", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"config.yml": "courier:\n  sms:\n    enabled: false\nsmscourier:\n  default_route:\n    gateways: [courier]\n"})
		r := runCLI(t, dir, nil, send...)
		assert.Equal(t, exitFailure, r.code)
		assert.Equal(t, "status: none\nclass: disabled\nattempts: 0\ngateway: none\ntried: none\n", r.stdout)
		assert.Contains(t, r.stderr, "(enabled: false); nothing was sent")

		r = runCLI(t, dir, nil, "render", "--config", "config.yml", "--to", "+447700900456", "--body", "hi")
		assert.Equal(t, exitFailure, r.code)
		assert.Empty(t, r.stdout)
		assert.Contains(t, r.stderr, "(enabled: false); nothing would be sent")
	})
}

// TestRoutingEnv: SMSCOURIER_GATEWAYS_<G>_* variables override a gateway's
// keys; --env=false ignores them.
func TestRoutingEnv(t *testing.T) {
	secondary := newGateway(t)
	override := newGateway(t)
	dir := writeFiles(t, map[string]string{"config.yml": routingDoc(deadURL(t), secondary.URL(), "", "")})
	env := []string{
		"SMSCOURIER_GATEWAYS_PRIMARY_REQUEST_CONFIG_URL=" + override.Endpoint("/env/sms"),
		"SMSCOURIER_GATEWAYS_PRIMARY_REQUEST_CONFIG_AUTH_CONFIG_VALUE=" + envSecret,
	}
	send := []string{"send", "--config", "config.yml", "--to", "+447700900456", "--body", "hi"}

	r := runCLI(t, dir, env, send...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "gateway: primary\ntried: primary ok\n")
	got := override.RequireRequest(t, 0)
	assert.Equal(t, "/env/sms", got.Path)
	assert.Equal(t, envSecret, got.Header.Get("X-Api-Key"))

	r = runCLI(t, dir, env, append(send, "--env=false")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "gateway: secondary\ntried: primary not_sent, secondary ok\n")
	override.AssertCount(t, 1)
	secondary.AssertCount(t, 1)

	r = runCLI(t, dir, []string{"SMSCOURIER_GATEWAYS_PRIMARY_REQUEST_CONFIG_METHOD=" + envSecret + " X"}, "validate", "--config", "config.yml")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "  smscourier.gateways.primary.request_config.method: not a valid HTTP method (from environment variable SMSCOURIER_GATEWAYS_PRIMARY_REQUEST_CONFIG_METHOD)\n")
}

// TestRoutingQueue: enqueue renders a message with a routing config, and
// the worker sends it through the route.
func TestRoutingQueue(t *testing.T) {
	secondary := smstest.New(t)
	config := filepath.Join(t.TempDir(), "config.yml")
	require.NoError(t, os.WriteFile(config, []byte(routingDoc(deadURL(t), secondary.URL(), "", "")), 0o600))
	db := filepath.Join(t.TempDir(), "queue.db")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, _, stderr := invoke(ctx, "migrate", "--database", db)
	require.Equal(t, exitOK, code, stderr)

	code, out, stderr := invoke(ctx, "enqueue", "--config", config, "--database", db, "--to", "+447700900456", "--body", "hi", "--idempotency-key", "otp-1")
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `^queued: job \d+, idempotency_key otp-1, state available\n$`, out)

	workCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var workCode int
	var workErr syncBuffer
	wg.Go(func() {
		workCode = run(workCtx, []string{"worker", "--config", config, "--database", db}, nil, &syncBuffer{}, &workErr)
	})
	require.Eventually(t, func() bool { return strings.Contains(workErr.String(), "outcome=sent") }, 30*time.Second, 10*time.Millisecond)
	stop()
	wg.Wait()
	assert.Equal(t, exitOK, workCode, workErr.String())
	assert.Equal(t, "otp-1", secondary.RequireRequest(t, 0).JSONField("key"))
}

// TestRoutingEnqueueRendersTheRoute: enqueue accepts a message that some
// gateway of its route renders, as a send would move on to it, and refuses
// one that none renders.
func TestRoutingEnqueueRendersTheRoute(t *testing.T) {
	_, _, db := migratedQueue(t)
	cancel := "body: " + b64(`function(ctx) error "cancel"`)
	doc := routingDoc("https://api.example.com", "https://api.twilio.com", "", "")
	cases := []struct {
		name   string
		doc    string
		code   int
		stdout string
		stderr string
	}{
		{"the first gateway cancels", strings.Replace(doc, "body: "+b64(jsonTemplate), cancel, 1), exitOK, "queued: job ", ""},
		{"every gateway cancels", strings.ReplaceAll(doc, "body: "+b64(jsonTemplate), cancel), exitFailure, "", "smscourier: template cancelled the message\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			config := filepath.Join(t.TempDir(), "config.yml")
			require.NoError(t, os.WriteFile(config, []byte(tc.doc), 0o600))
			code, out, stderr := invoke(context.Background(), "enqueue", "--config", config, "--database", db, "--to", "+447700900456", "--body", "hi")
			assert.Equal(t, tc.code, code, stderr)
			assert.True(t, strings.HasPrefix(out, tc.stdout), out)
			assert.Equal(t, tc.stderr, stderr)
		})
	}
}

// TestTried checks the steps of a send as send prints them.
func TestTried(t *testing.T) {
	cases := []struct {
		name  string
		steps []smscourier.Try
		want  string
	}{
		{"none", nil, "none"},
		{"one", []smscourier.Try{{Gateway: "twilio", Class: smscourier.ClassOK}}, "twilio ok"},
		{"skips", []smscourier.Try{
			{Gateway: "a", Skipped: smscourier.SkipRetryAfter},
			{Gateway: "b", Skipped: smscourier.SkipCircuitOpen},
			{Gateway: "c", Class: smscourier.ClassTemplate},
		}, "a skipped (retry_after), b skipped (circuit_open), c template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tried(tc.steps))
		})
	}
}

// TestRoutingSectionDetection: only a top-level smscourier key makes a
// routing config.
func TestRoutingSectionDetection(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want bool
	}{
		{"Kratos YAML", "courier:\n  sms:\n    enabled: false\n", false},
		{"routing YAML", "smscourier:\n  gateways: {}\n", true},
		{"routing JSON", `{"courier": {}, "smscourier": null}`, true},
		{"nested key", "courier:\n  smscourier: {}\n", false},
		{"only a guard", "courier: {}\nsmscourier:\n  guard: {dry_run: true}\n", false},
		{"a guard and receipts", "courier: {}\nsmscourier:\n  guard: {}\n  receipts: {providers: {webhook: {}}}\n", false},
		{"receipts and gateways", "smscourier:\n  receipts: {}\n  gateways: {}\n", true},
		{"a guard and gateways", "smscourier:\n  guard: {}\n  gateways: {}\n", true},
		{"not a mapping", "- smscourier\n", false},
		{"not YAML", "smscourier: [\n", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, hasRoutingSection([]byte(tc.doc)))
		})
	}
}
