package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queryKeyDoc is a config whose gateway takes its key in the URL's query,
// as some do, and a session token in a custom header.
func queryKeyDoc(hostPort string) string {
	return `courier:
  sms:
    enabled: true
    request_config:
      url: http://` + hostPort + `/v1/sms?api_key=` + qrySecret + `&route=otp
      method: POST
      body: ` + b64("function(ctx) { to: ctx.to }") + `
      headers:
        X-Session-Token: ` + urlSecret + `
`
}

func TestRenderRedactsLikeRedacted(t *testing.T) {
	g := newGateway(t)
	dir := writeFiles(t, map[string]string{"kratos.yml": queryKeyDoc(hostPort(g))})
	args := []string{"render", "--config", "kratos.yml", "--to", "+14134242223", "--body", "hi"}

	r := runCLI(t, dir, nil, args...) // runCLI fails the test on any secret in the output
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "POST http://"+hostPort(g)+"/v1/sms?api_key=[REDACTED]&route=otp\n")
	assert.Contains(t, r.stdout, "X-Session-Token: [REDACTED]\n")

	r = runCLI(t, dir, nil, append(args, "--json")...)
	require.Equal(t, 0, r.code, r.stderr)
	var shown shownRequest
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &shown))
	assert.Equal(t, "http://"+hostPort(g)+"/v1/sms?api_key=[REDACTED]&route=otp", shown.URL)
	assert.Equal(t, "[REDACTED]", shown.Headers["X-Session-Token"])
	assert.Empty(t, g.Requests(), "render sends nothing")
}

func TestSendAndRenderFlags(t *testing.T) {
	g := newGateway(t)
	dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc(g.URL(), password), "twilio.request.jsonnet": twilioTemplate})
	base := []string{"--config", "kratos.yml", "--body", "hi"}

	t.Run("--attempts 0 is a usage error", func(t *testing.T) {
		r := runCLI(t, dir, nil, append([]string{"send", "--to", "+14134242223", "--attempts", "0"}, base...)...)
		assert.Equal(t, exitUsage, r.code)
		assert.Contains(t, r.stderr, "--attempts must be at least 1")
		assert.Empty(t, r.stdout)
	})
	for _, cmd := range []string{"send", "render"} {
		t.Run(cmd+" --strict-e164 refuses a number that is not E.164", func(t *testing.T) {
			r := runCLI(t, dir, nil, append([]string{cmd, "--to", "4134242223", "--strict-e164"}, base...)...)
			assert.Equal(t, exitFailure, r.code, r.stdout)
			assert.Contains(t, r.stderr, "invalid message")
			assert.Contains(t, r.stderr, "nothing")
		})
		t.Run(cmd+" without --strict-e164 takes it", func(t *testing.T) {
			r := runCLI(t, dir, nil, append([]string{cmd, "--to", "4134242223"}, base...)...)
			assert.Equal(t, exitOK, r.code, r.stderr)
		})
		t.Run(cmd+" --strict-e164 takes an E.164 number", func(t *testing.T) {
			r := runCLI(t, dir, nil, append([]string{cmd, "--to", "+14134242223", "--strict-e164"}, base...)...)
			assert.Equal(t, exitOK, r.code, r.stderr)
		})
	}
	assert.Len(t, g.Requests(), 2, "the two sends that were not refused; render sends nothing")
}
