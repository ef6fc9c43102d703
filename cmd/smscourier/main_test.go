package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// binary is the smscourier command built once by TestMain.
var binary string

// afterTests run after the tests, before the check for leaked goroutines:
// the PostgreSQL tests stop their server there.
var afterTests []func()

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "smscourier-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "smscourier")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building smscourier:", err)
		return 1
	}
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}

// Secrets used by the configs; none may appear in any output.
const (
	password  = "pw-s3cr3t-zq1"
	apiKey    = "key-s3cr3t-zq2"
	urlSecret = "url-s3cr3t-zq3"
	envSecret = "env-s3cr3t-zq4"
	qrySecret = "qry-s3cr3t-zq5"
	keySecret = "key-secret-s3cr3t-zq6" // the guard's key_secret
)

// secrets are the strings no output may contain.
var secrets = []string{
	password, apiKey, urlSecret, envSecret, qrySecret, keySecret, "zq1", "zq2", "zq3", "zq4", "zq5", "zq6",
	base64.StdEncoding.EncodeToString([]byte("AC123:" + password)),
	base64.StdEncoding.EncodeToString([]byte("AC123:" + envSecret)),
}

// twilioReply is the gateway's reply to a Twilio send.
var twilioReply = smstest.Reply{
	Header: http.Header{"Content-Type": {"application/json"}},
	Body:   `{"sid":"SM0123456789abcdef","status":"queued"}`,
}

// newGateway starts a fake gateway (package smstest) answering with reply
// (the Twilio reply when none is given), closed when the test ends.
func newGateway(t *testing.T, reply ...smstest.Reply) *smstest.Gateway {
	t.Helper()
	g := smstest.New(t)
	if len(reply) == 0 {
		reply = []smstest.Reply{twilioReply}
	}
	g.Script(reply...)
	return g
}

// hostPort is the gateway's host:port.
func hostPort(g *smstest.Gateway) string {
	u, _ := url.Parse(g.URL())
	return u.Host
}

// result is what one run of the command did.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command in dir with exactly the environment env and returns
// what it printed and its exit status.
func runCLI(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{}, env...) // never nil: nothing inherited
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	for _, s := range secrets {
		assert.NotContains(t, r.stdout, s, "secret on stdout")
		assert.NotContains(t, r.stderr, s, "secret on stderr")
	}
	return r
}

// writeFiles writes name → content files into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

func b64(src string) string {
	return "base64://" + base64.StdEncoding.EncodeToString([]byte(src))
}

const twilioTemplate = "function(ctx) { From: ctx.from, To: ctx.to, Body: ctx.body }\n"

// twilioDoc is a seeds-layout config with basic auth, a form body from a
// relative file:// template, posting to base (scheme://host:port).
func twilioDoc(base, pass string) string {
	pw := ""
	if pass != "" {
		pw = "\n          password: " + pass
	}
	return `courier:
  smtp: { connection_uri: "smtps://test:test@mailslurper:1025/" }
  sms:
    enabled: true
    from: "+12065550110"
    request_config:
      url: ` + base + `/2010-04-01/Accounts/AC123/Messages.json
      method: POST
      body: file://./twilio.request.jsonnet
      header:
        Content-Type: application/x-www-form-urlencoded
      auth:
        type: basic_auth
        config:
          user: AC123` + pw + "\n"
}

// apiKeyDoc is a current-Kratos config whose sms channel is the second
// entry: api_key in a header, a JSON body from a base64:// template, and
// userinfo in the URL.
func apiKeyDoc(hostPort string) string {
	return `courier:
  channels:
    - id: email
      type: smtp
    - id: sms
      type: http
      request_config:
        url: http://urluser:` + urlSecret + `@` + hostPort + `/v1/sms?route=otp
        method: PUT
        body: ` + b64("function(ctx) { to: ctx.to, text: ctx.body, sender: ctx.from, key: ctx.idempotency_key }") + `
        headers:
          X-Request-Source: kratos
        auth:
          type: api_key
          config: { name: X-API-Key, value: ` + apiKey + `, in: header }
`
}

// cookieDoc is a seeds-layout config with api_key in a cookie, a configured
// Cookie header and a text/plain body.
func cookieDoc(hostPort string) string {
	return `courier:
  sms:
    enabled: true
    request_config:
      url: http://` + hostPort + `/send
      method: POST
      body: ` + b64("function(ctx) ctx.to + ': ' + ctx.body") + `
      headers:
        Content-Type: text/plain; charset=utf-8
        Cookie: session=abc123
        Host: sms.internal
      auth:
        type: api_key
        config: { name: apikey, value: ` + apiKey + `, in: cookie }
`
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			"seeds layout, basic auth, form body from a file",
			map[string]string{"kratos.yml": twilioDoc("https://api.twilio.com", password), "twilio.request.jsonnet": twilioTemplate},
			"valid: layout=courier.sms enabled=true method=POST host=api.twilio.com auth=basic_auth template=file content_type=application/x-www-form-urlencoded\n",
		},
		{
			"channels layout, api key, base64 template",
			map[string]string{"kratos.yml": apiKeyDoc("sms.example.com:8443")},
			"valid: layout=courier.channels[1] enabled=true method=PUT host=sms.example.com:8443 auth=api_key/header template=base64 content_type=application/json\n",
		},
		{
			"content type with parameters is quoted",
			map[string]string{"kratos.yml": cookieDoc("127.0.0.1:9")},
			`valid: layout=courier.sms enabled=true method=POST host=127.0.0.1:9 auth=api_key/cookie template=base64 content_type="text/plain; charset=utf-8"` + "\n",
		},
		{
			"disabled without request_config",
			map[string]string{"kratos.yml": "courier:\n  sms:\n    enabled: false\n"},
			"valid: layout=courier.sms enabled=false\n",
		},
		{
			"JSON document without body template",
			map[string]string{"kratos.json": `{"courier":{"sms":{"enabled":true,"request_config":{"url":"https://gw.example.com/sms","method":"GET"}}}}`},
			"valid: layout=courier.sms enabled=true method=GET host=gw.example.com auth=none template=none content_type=none\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			var config string
			for name := range tc.files {
				if strings.HasPrefix(name, "kratos.") {
					config = name
				}
			}
			r := runCLI(t, dir, nil, "validate", "--config", config)
			assert.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, tc.want, r.stdout)
			assert.Empty(t, r.stderr)
		})
	}
}

func TestValidateProblems(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		paths []string
	}{
		{
			"several config problems",
			map[string]string{"kratos.yml": `courier:
  sms:
    enabled: true
    request_config:
      url: ftp://user:` + urlSecret + `@example.com/x
      methdo: POST
      auth:
        type: basic_auth
        config: { user: "AC:123" }
`},
			[]string{
				"courier.sms.request_config.methdo: unknown key",
				"courier.sms.request_config.url: must start with http:// or https://",
				"courier.sms.request_config.method: required",
				"courier.sms.request_config.auth.config.user: must not contain a colon",
				"courier.sms.request_config.auth.config.password: required",
			},
		},
		{
			"template problem in the channels layout",
			map[string]string{"kratos.yml": `courier:
  channels:
    - id: sms
      type: http
      request_config:
        url: https://sms.example.com/v1/messages
        method: POST
        body: file://./broken.jsonnet
`, "broken.jsonnet": "function(ctx) { to: ctx.to,, }\n"},
			[]string{"courier.channels[0].request_config.body: "},
		},
		{
			"template file missing: relative to the working directory",
			map[string]string{"kratos.yml": twilioDoc("https://api.twilio.com", password)},
			[]string{"courier.sms.request_config.body: "},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			r := runCLI(t, dir, nil, "validate", "--config", "kratos.yml")
			assert.Equal(t, 1, r.code)
			assert.Empty(t, r.stdout)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			require.NotEmpty(t, lines)
			assert.Equal(t, "smscourier: kratos.yml: invalid config:", lines[0])
			assert.Len(t, lines[1:], len(tc.paths), r.stderr)
			for _, want := range tc.paths {
				found := false
				for _, line := range lines[1:] {
					found = found || strings.HasPrefix(line, "  "+want)
				}
				assert.True(t, found, "no line %q in\n%s", want, r.stderr)
			}
		})
	}
}

func TestValidateMissingFile(t *testing.T) {
	r := runCLI(t, t.TempDir(), nil, "validate", "--config", "nope.yml")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "nope.yml")
}

func TestRender(t *testing.T) {
	g := newGateway(t)
	host := hostPort(g)
	cases := []struct {
		name  string
		files map[string]string
		args  []string
		want  shownRequest
		text  string
	}{
		{
			name:  "basic auth, form body",
			files: map[string]string{"kratos.yml": twilioDoc(g.URL(), password), "twilio.request.jsonnet": twilioTemplate},
			args:  []string{"--to", "+14134242223", "--body", "Your code is 123456"},
			want: shownRequest{
				Method: "POST",
				URL:    g.URL() + "/2010-04-01/Accounts/AC123/Messages.json",
				Headers: map[string]string{
					"Authorization": "Basic [REDACTED]",
					"Content-Type":  "application/x-www-form-urlencoded",
				},
				Body: "Body=Your+code+is+123456&From=%2B12065550110&To=%2B14134242223",
			},
			text: "POST " + g.URL() + "/2010-04-01/Accounts/AC123/Messages.json\n" +
				"Authorization: Basic [REDACTED]\n" +
				"Content-Type: application/x-www-form-urlencoded\n" +
				"\n" +
				"Body=Your+code+is+123456&From=%2B12065550110&To=%2B14134242223\n",
		},
		{
			name:  "api key header, URL userinfo, JSON body, from and key flags",
			files: map[string]string{"kratos.yml": apiKeyDoc(host)},
			args:  []string{"--to", "+14134242223", "--body", "hi \"you\"", "--from", "ACME", "--idempotency-key", "otp-7f3a"},
			want: shownRequest{
				Method: "PUT",
				URL:    "http://[REDACTED]@" + host + "/v1/sms?route=otp",
				Headers: map[string]string{
					"Content-Type":     "application/json",
					"X-Api-Key":        "[REDACTED]",
					"X-Request-Source": "kratos",
				},
				Body: "{\n   \"key\": \"otp-7f3a\",\n   \"sender\": \"ACME\",\n   \"text\": \"hi \\\"you\\\"\",\n   \"to\": \"+14134242223\"\n}\n",
			},
			text: "PUT http://[REDACTED]@" + host + "/v1/sms?route=otp\n" +
				"Content-Type: application/json\n" +
				"X-Api-Key: [REDACTED]\n" +
				"X-Request-Source: kratos\n" +
				"\n" +
				"{\n   \"key\": \"otp-7f3a\",\n   \"sender\": \"ACME\",\n   \"text\": \"hi \\\"you\\\"\",\n   \"to\": \"+14134242223\"\n}\n",
		},
		{
			name:  "api key cookie after a configured cookie, Host header, text body",
			files: map[string]string{"kratos.yml": cookieDoc(host)},
			args:  []string{"--to", "+14134242223", "--body", "héllo"},
			want: shownRequest{
				Method: "POST",
				URL:    "http://" + host + "/send",
				Headers: map[string]string{
					"Content-Type": "text/plain; charset=utf-8",
					"Cookie":       "session=[REDACTED]; apikey=[REDACTED]",
					"Host":         "sms.internal",
				},
				Body: "+14134242223: héllo",
			},
			text: "POST http://" + host + "/send\n" +
				"Content-Type: text/plain; charset=utf-8\n" +
				"Cookie: session=[REDACTED]; apikey=[REDACTED]\n" +
				"Host: sms.internal\n" +
				"\n" +
				"+14134242223: héllo\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			args := append([]string{"render", "--config", "kratos.yml"}, tc.args...)

			r := runCLI(t, dir, nil, args...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, tc.text, r.stdout)
			assert.Empty(t, r.stderr)

			r = runCLI(t, dir, nil, append(args, "--json")...)
			require.Equal(t, 0, r.code, r.stderr)
			var got shownRequest
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&got), r.stdout)
			assert.Equal(t, tc.want, got)
			assert.NotContains(t, r.stdout, "abc123", "configured cookie value")
		})
	}
	assert.Empty(t, g.Requests(), "render sent a request")
}

func TestRenderErrors(t *testing.T) {
	g := newGateway(t)
	doc := func(template string) string {
		return "courier:\n  sms:\n    enabled: true\n    request_config:\n      url: " + g.URL() + "/send\n      method: POST\n      body: " + b64(template) + "\n"
	}
	cases := []struct {
		name   string
		doc    string
		args   []string
		stderr string
	}{
		{"template cancels", doc(`function(ctx) error "cancel"`), nil, "smscourier: template cancelled the message; nothing would be sent"},
		{"template fails", doc(`function(ctx) { to: ctx.missing }`), nil, "smscourier: template error"},
		{"invalid message", doc(`function(ctx) { to: ctx.to }`), []string{"--from", "a\x01b"}, "smscourier: invalid message"},
		{"disabled", "courier:\n  sms:\n    enabled: false\n", nil, "smscourier: sms courier is disabled (enabled: false); nothing would be sent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"kratos.yml": tc.doc})
			args := append([]string{"render", "--config", "kratos.yml", "--to", "+14134242223", "--body", "Your code is 123456"}, tc.args...)
			r := runCLI(t, dir, nil, args...)
			assert.Equal(t, 1, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.stderr)
			assert.NotContains(t, r.stderr, "123456", "message text in an error")
		})
	}
	assert.Empty(t, g.Requests())
}

func TestSend(t *testing.T) {
	g := newGateway(t)
	dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc(g.URL(), password), "twilio.request.jsonnet": twilioTemplate})

	r := runCLI(t, dir, nil, "send", "--config", "kratos.yml", "--to", "+14134242223", "--body", "Your code is 123456", "--idempotency-key", "otp-7f3a")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "status: 201\nclass: ok\nattempts: 1\nidempotency_key: otp-7f3a\nsegments: 1 (GSM-7, 19 characters)\n", r.stdout)
	assert.Empty(t, r.stderr)

	got := g.Requests()
	require.Len(t, got, 1)
	assert.Equal(t, "POST", got[0].Method)
	assert.Equal(t, "/2010-04-01/Accounts/AC123/Messages.json", got[0].Path)
	assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("AC123:"+password)), got[0].Header.Get("Authorization"))
	assert.Equal(t, "application/x-www-form-urlencoded", got[0].Header.Get("Content-Type"))
	form, err := url.ParseQuery(got[0].Body)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"From": {"+12065550110"}, "To": {"+14134242223"}, "Body": {"Your code is 123456"}}, form)
}

func TestSendVerbose(t *testing.T) {
	g := newGateway(t)
	dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc(g.URL(), password), "twilio.request.jsonnet": twilioTemplate})

	r := runCLI(t, dir, nil, "send", "--verbose", "--config", "kratos.yml", "--to", "+14134242223", "--body", "Your code is 123456")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, `level=DEBUG msg="smscourier: attempt"`)
	assert.Contains(t, r.stderr, `level=INFO msg="smscourier: sent"`)
	assert.NotContains(t, r.stderr, "123456", "message text logged")
	assert.NotContains(t, r.stderr, "+14134242223", "recipient logged unmasked")
	assert.Len(t, g.Requests(), 1)
}

func TestSendMessageID(t *testing.T) {
	g := newGateway(t)
	doc := strings.Replace(twilioDoc(g.URL(), password), "      header:",
		"      response: "+b64("function(ctx) { message_id: ctx.body.sid }")+"\n      header:", 1)
	dir := writeFiles(t, map[string]string{"kratos.yml": doc, "twilio.request.jsonnet": twilioTemplate})

	r := runCLI(t, dir, nil, "send", "--config", "kratos.yml", "--to", "+14134242223", "--body", "hi", "--show-reply")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "message_id: SM0123456789abcdef\n")
	assert.Contains(t, r.stdout, `reply: {"sid":"SM0123456789abcdef","status":"queued"}`+"\n", "the reply as received, not quoted")
	assert.Len(t, g.Requests(), 1)
}

func TestSendFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	cases := []struct {
		name     string
		reply    []smstest.Reply
		url      string // instead of the gateway's
		args     []string
		stdout   []string
		stderr   string
		requests int
	}{
		{
			name:     "400 is rejected, not retried",
			reply:    []smstest.Reply{{Status: http.StatusBadRequest, Body: `{"message":"The 'To' number is not valid"}`}},
			stdout:   []string{"status: 400\n", "class: rejected\n", "attempts: 1\n", "idempotency_key: "},
			stderr:   "smscourier: gateway replied with status 400 Bad Request",
			requests: 1,
		},
		{
			name:     "503 is refused, retried up to --attempts",
			reply:    []smstest.Reply{{Status: http.StatusServiceUnavailable, RetryAfter: "0"}},
			args:     []string{"--attempts", "2"},
			stdout:   []string{"status: 503\n", "class: refused\n", "attempts: 2\n"},
			stderr:   "status 503",
			requests: 2,
		},
		{
			name:   "refused connection is not_sent",
			url:    closedURL,
			args:   []string{"--attempts", "1"},
			stdout: []string{"status: none\n", "class: not_sent\n", "attempts: 1\n"},
			stderr: "not sent",
		},
		{
			name:   "cancelled by the template",
			url:    "cancel",
			stdout: []string{"status: none\n", "class: cancelled\n", "attempts: 0\n"},
			stderr: "nothing was sent",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, tc.reply...)
			base, template := g.URL(), twilioTemplate
			switch tc.url {
			case "":
			case "cancel":
				template = `function(ctx) error "cancel"`
			default:
				base = tc.url
			}
			dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc(base, password), "twilio.request.jsonnet": template})
			args := append([]string{"send", "--config", "kratos.yml", "--to", "+14134242223", "--body", "Your code is 123456"}, tc.args...)
			r := runCLI(t, dir, nil, args...)
			assert.Equal(t, 1, r.code)
			for _, want := range tc.stdout {
				assert.Contains(t, r.stdout, want)
			}
			assert.Contains(t, r.stderr, tc.stderr)
			assert.NotContains(t, r.stdout+r.stderr, "123456", "message text printed")
			assert.NotContains(t, r.stdout, "not valid", "reply body printed without --show-reply")
			assert.Len(t, g.Requests(), tc.requests)
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	const passwordVar = "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD"
	env := []string{passwordVar + "=" + envSecret}
	basic := func(pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("AC123:"+pass))
	}

	t.Run("the environment overrides the file's password", func(t *testing.T) {
		g := newGateway(t)
		dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc(g.URL(), password), "twilio.request.jsonnet": twilioTemplate})
		r := runCLI(t, dir, env, "send", "--config", "kratos.yml", "--to", "+14134242223", "--body", "hi")
		require.Equal(t, 0, r.code, r.stderr)
		got := g.Requests()
		require.Len(t, got, 1)
		assert.Equal(t, basic(envSecret), got[0].Header.Get("Authorization"))
	})
	t.Run("with --env=false the variable is ignored", func(t *testing.T) {
		g := newGateway(t)
		dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc(g.URL(), password), "twilio.request.jsonnet": twilioTemplate})
		r := runCLI(t, dir, env, "send", "--env=false", "--config", "kratos.yml", "--to", "+14134242223", "--body", "hi")
		require.Equal(t, 0, r.code, r.stderr)
		got := g.Requests()
		require.Len(t, got, 1)
		assert.Equal(t, basic(password), got[0].Header.Get("Authorization"))
	})
	t.Run("a password only in the environment", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc("https://api.twilio.com", ""), "twilio.request.jsonnet": twilioTemplate})
		r := runCLI(t, dir, env, "validate", "--env=false", "--config", "kratos.yml")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "  courier.sms.request_config.auth.config.password: required\n")

		for _, args := range [][]string{{"validate", "--config", "kratos.yml"}, {"validate", "--env", "--config", "kratos.yml"}} {
			r = runCLI(t, dir, env, args...)
			assert.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "auth=basic_auth")
		}
	})
	t.Run("an invalid variable names itself, not its value", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc("https://api.twilio.com", password), "twilio.request.jsonnet": twilioTemplate})
		r := runCLI(t, dir, []string{"COURIER_SMS_REQUEST_CONFIG_METHOD=" + envSecret + " X", "COURIER_SMS_ENABLED=zq4"}, "validate", "--config", "kratos.yml")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "  courier.sms.enabled: environment variable COURIER_SMS_ENABLED must be true or false\n")
		assert.Contains(t, r.stderr, "  courier.sms.request_config.method: not a valid HTTP method (from environment variable COURIER_SMS_REQUEST_CONFIG_METHOD)\n")
	})
	t.Run("a channel created by the environment is found", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"kratos.yml": "courier:\n  channels:\n    - id: email\n      type: smtp\n"})
		r := runCLI(t, dir, []string{
			"COURIER_CHANNELS_0_ID=sms",
			"COURIER_CHANNELS_0_TYPE=http",
			"COURIER_CHANNELS_0_REQUEST_CONFIG_URL=https://sms.example.com/v1",
			"COURIER_CHANNELS_0_REQUEST_CONFIG_METHOD=POST",
		}, "validate", "--config", "kratos.yml")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "valid: layout=courier.channels[0] enabled=true method=POST host=sms.example.com auth=none template=none content_type=none\n", r.stdout)
	})
}

func TestHelpAndUsage(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"validate", "render", "send"} {
		for _, flag := range []string{"-h", "--help", "-help"} {
			t.Run(cmd+" "+flag, func(t *testing.T) {
				r := runCLI(t, dir, nil, cmd, flag)
				assert.Equal(t, 0, r.code)
				assert.True(t, strings.HasPrefix(r.stdout, "Usage: smscourier "+cmd+" --config FILE"), r.stdout)
				assert.Contains(t, r.stdout, "-config FILE")
				assert.Contains(t, r.stdout, "relative to the working directory")
				assert.Empty(t, r.stderr)
			})
		}
		t.Run("help "+cmd, func(t *testing.T) {
			r := runCLI(t, dir, nil, "help", cmd)
			assert.Equal(t, 0, r.code)
			assert.True(t, strings.HasPrefix(r.stdout, "Usage: smscourier "+cmd), r.stdout)
		})
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(t, dir, nil, args...)
			assert.Equal(t, 0, r.code)
			assert.Contains(t, r.stdout, "smscourier validate --config FILE [--to NUMBER] [--env=false]")
			assert.Empty(t, r.stderr)
		})
	}

	usage := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no command", nil, "Usage:\n  smscourier validate"},
		{"unknown command", []string{"deliver"}, `smscourier: unknown command "deliver"`},
		{"help for an unknown command", []string{"help", "deliver"}, `unknown command "deliver"`},
		{"unknown flag", []string{"validate", "--config", "k.yml", "--nope"}, "flag provided but not defined: -nope"},
		{"missing --config", []string{"validate"}, "--config is required"},
		{"missing --to", []string{"send", "--config", "k.yml", "--body", "x"}, "--to is required"},
		{"missing --body", []string{"render", "--config", "k.yml", "--to", "+1"}, "--body is required"},
		{"stray argument", []string{"validate", "--config", "k.yml", "extra"}, `unexpected argument "extra"`},
		{"bad duration", []string{"send", "--config", "k.yml", "--to", "+1", "--body", "x", "--timeout", "soon"}, "invalid value"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, dir, nil, tc.args...)
			assert.Equal(t, 2, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.stderr)
		})
	}
}
