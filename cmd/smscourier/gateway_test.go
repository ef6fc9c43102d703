package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startGateway runs "smscourier gateway args..." and returns its URL, its
// output so far and a function that interrupts it and returns its exit
// status and whole output.
func startGateway(t *testing.T, args ...string) (string, func() (int, string)) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"gateway"}, args...)...)
	cmd.Env = []string{}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer // written by os/exec's copying goroutine
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := bufio.NewReader(stdout)
	first, err := lines.ReadString('\n')
	require.NoError(t, err, stderr.String())
	const lead = "smscourier gateway: listening on "
	require.True(t, strings.HasPrefix(first, lead), first)
	url, _, _ := strings.Cut(strings.TrimPrefix(first, lead), " ")
	var rest syncBuffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&rest, lines); close(done) }()
	return url, func() (int, string) {
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		<-done
		err := cmd.Wait()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		}
		return code, first + rest.String() + stderr.String()
	}
}

func TestGatewayCommand(t *testing.T) {
	url, stop := startGateway(t, "--status", "202", "--reply", `{"sid":"SM42","status":"queued"}`)
	dir := writeFiles(t, map[string]string{"kratos.yml": twilioDoc(url, password), "twilio.request.jsonnet": twilioTemplate})

	r := runCLI(t, dir, nil, "send", "--config", "kratos.yml", "--to", "+14134242223", "--body", "Your code is 123456", "--show-reply")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "status: 202\n")
	assert.Contains(t, r.stdout, `reply: {"sid":"SM42","status":"queued"}`)

	code, out := stop()
	assert.Equal(t, exitOK, code, out)
	for _, want := range []string{
		"POST /2010-04-01/Accounts/AC123/Messages.json\n",
		"  Authorization: Basic [REDACTED]\n",
		"  Content-Type: application/x-www-form-urlencoded\n",
		"  form Body = Your code is 123456\n",
		"  form To = +14134242223\n",
		"smscourier gateway: stopped\n",
	} {
		assert.Contains(t, out, want)
	}
	for _, s := range secrets {
		assert.NotContains(t, out, s, "a credential in the gateway's output")
	}
}

func TestGatewayCommandDefaults(t *testing.T) {
	url, stop := startGateway(t)
	assert.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	dir := writeFiles(t, map[string]string{"kratos.yml": queryKeyDoc(strings.TrimPrefix(url, "http://"))})
	r := runCLI(t, dir, nil, "send", "--config", "kratos.yml", "--to", "+14134242223", "--body", "hi", "--show-reply")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "status: 201\n")
	assert.Contains(t, r.stdout, `reply: {"id":"msg-1","status":"queued"}`)
	code, out := stop()
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "POST /v1/sms?api_key=[REDACTED]&route=otp\n", "query credentials redacted")
	assert.Contains(t, out, "  X-Session-Token: [REDACTED]\n")
	assert.Contains(t, out, "  json {\n    \"to\": \"+14134242223\"\n  }\n")
	for _, s := range secrets {
		assert.NotContains(t, out, s)
	}
}

func TestGatewayCommandUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, flag, value, want string }{
		{"status too low", "--status", "99", "--status must be 200 to 999"},
		{"reply not JSON", "--reply", "{oops", "--reply must be valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, dir, nil, "gateway", tc.flag, tc.value)
			assert.Equal(t, exitUsage, r.code)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
	t.Run("address in use", func(t *testing.T) {
		url, stop := startGateway(t)
		r := runCLI(t, dir, nil, "gateway", "--addr", strings.TrimPrefix(url, "http://"))
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "address already in use")
		stop()
	})
}
