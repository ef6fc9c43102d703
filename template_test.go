package smscourier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smscourier/smscourier/internal/sandbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzFormEncode checks that form encoding never panics, fails only with
// ErrTemplate, and round-trips every string field it encodes.
func FuzzFormEncode(f *testing.F) {
	for _, seed := range []string{
		`{"to":"+14134242223","from":"+13104661805","body":"test-sms-body"}`,
		`{"n":1.5e3,"t":true,"f":false,"z":null,"a":["x",2,null]}`,
		`{"nested":{"a":1}}`,
		`{"a":[[1]]}`,
		`"not an object"`,
		`{"k&=?":"v +%20\u0000é"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return // the template engine only ever hands over valid JSON
		}
		out, err := formEncode(in)
		if err != nil {
			require.ErrorIs(t, err, ErrTemplate)
			return
		}
		values, err := url.ParseQuery(string(out))
		require.NoError(t, err)
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(in), &obj))
		for k, v := range obj {
			if s, ok := v.(string); ok {
				require.Equal(t, []string{s}, values[k], "field %q", k)
			}
		}
	})
}

// Hostile templates. Each one crashes, stalls or exhausts a process that
// evaluates it in-process without the in-process guards.
const (
	// isoTailstrictBomb recurses without end in tail position: go-jsonnet
	// grows the Go stack until the runtime dies.
	isoTailstrictBomb = "function(ctx) local f(x) = f(x + 1) tailstrict; f(0)"
	// isoSlowTemplate makes 2^40 calls with a shallow stack and little memory.
	isoSlowTemplate = "function(ctx) local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1); { n: f(40) }"
	// isoStringBomb doubles a string 40 times: a terabyte.
	isoStringBomb = "function(ctx) local s(x, n) = if n == 0 then x else s(x + x, n - 1); { n: std.length(s('ab', 40)) }"
	// isoArrayBomb builds an array of 10^8 elements.
	isoArrayBomb = "function(ctx) { n: std.length(std.makeArray(1e8, function(i) i)) }"
)

// isoDeepSource is template source nested 100k levels deep: go-jsonnet's
// parser overflows the Go stack on it, fatally.
var isoDeepSource = "function(ctx) " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000)

// newIsolatedCourier builds a courier that posts to g's URL and evaluates body in
// worker processes configured by cfg.
func newIsolatedCourier(t *testing.T, g *gateway, body string, cfg IsolationConfig) *Courier {
	t.Helper()
	c, err := New(smsConfig(g.URL+"/send", body), WithIsolatedTemplates(cfg))
	require.NoError(t, err)
	return c
}

// isoRequireHostSends proves the host still works: an isolated courier renders
// and sends a message.
func isoRequireHostSends(t *testing.T) {
	t.Helper()
	g := newGateway(t, nil)
	c := newIsolatedCourier(t, g, "file://./testdata/sms.jsonnet", IsolationConfig{})
	require.NoError(t, c.Send(context.Background(), "+14134242223", "still alive"))
	require.Len(t, g.got(), 1)
	assert.Contains(t, g.got()[0].Body, "still alive")
}

func TestIsolatedRendersLikeInProcess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, contentType string
	}{
		{"json", "file://./testdata/sms.jsonnet", ""},
		{"form", "file://./testdata/test_body.jsonnet", "application/x-www-form-urlencoded"},
		{"context", "file://./testdata/context.jsonnet", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, nil)
			cfg := smsConfig(g.URL+"/send", tc.body)
			if tc.contentType != "" {
				cfg.RequestConfig.Headers = map[string]string{"Content-Type": tc.contentType}
			}
			// Both couriers evaluate with go-jsonnet, not the fast path:
			// one in-process, one in workers.
			inProcess, err := New(cfg, WithTrustedTemplates())
			require.NoError(t, err)
			inProcess.fast = nil
			isolated, err := New(cfg, WithIsolatedTemplates(IsolationConfig{}))
			require.NoError(t, err)
			src, err := os.ReadFile(strings.TrimPrefix(tc.body, "file://"))
			require.NoError(t, err)
			workers, err := newIsolatedTemplate(tc.body, src, IsolationConfig{})
			require.NoError(t, err)
			isolated.eval, isolated.fast = workers, nil

			m := Message{
				To: "+14134242223", Body: "test-sms-body <&> é \u2028 \"q\"",
				IdempotencyKey: "key-1", TemplateType: "verification_code",
				TemplateData:   map[string]any{"code": 123456, "nested": []any{"a", nil}},
				RequestHeaders: http.Header{"X-Trace": {"t"}},
			}
			for _, c := range []*Courier{inProcess, isolated} {
				_, err := c.SendMessage(context.Background(), m)
				require.NoError(t, err)
			}
			got := g.got()
			require.Len(t, got, 2)
			assert.NotEmpty(t, got[0].Body)
			assert.Equal(t, got[0].Body, got[1].Body)
			assert.Equal(t, got[0].Header.Get("Content-Type"), got[1].Header.Get("Content-Type"))
		})
	}
}

func TestIsolatedCancel(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	c := newIsolatedCourier(t, g, "file://./testdata/cancel.jsonnet", IsolationConfig{})
	err := c.Send(context.Background(), "+14134242223", "hi")
	require.ErrorIs(t, err, ErrCancel)
	assert.Empty(t, g.got())
}

// TestIsolatedErrorsMatchInProcess checks that a template's errors read the
// same in both modes: runtime errors from Send, syntax errors and imports
// from New, with the template name, line and column.
func TestIsolatedErrorsMatchInProcess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src, want string
		atNew           bool
	}{
		{name: "runtime error", src: "function(ctx) {\n  to: ctx.to,\n  n: 1 / 0,\n}", want: "base64 template:3:"},
		{name: "error value", src: "function(ctx)\n  error 'no route for ' + ctx.to", want: "base64 template:2:3: no route for [REDACTED]"},
		{name: "syntax error", src: "function(ctx) {\n  to: ,\n}", want: "base64 template:2:", atNew: true},
		{name: "import", src: "local x = import 'x.libsonnet';\nfunction(ctx) x", want: "base64 template:1:11: import is not allowed", atNew: true},
		{name: "importstr", src: "function(ctx) {\n  p: importstr '/etc/passwd',\n}", want: "base64 template:2:6: importstr is not allowed", atNew: true},
		{name: "importbin", src: "function(ctx) {\n  p: importbin '/etc/passwd',\n}", want: "importbin is not allowed", atNew: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, nil)
			cfg := smsConfig(g.URL+"/send", b64(tc.src))
			var errs [2]error
			for i, opts := range [][]Option{nil, {WithIsolatedTemplates(IsolationConfig{})}} {
				c, err := New(cfg, opts...)
				if tc.atNew {
					require.ErrorIs(t, err, ErrInvalidConfig)
					errs[i] = err
					continue
				}
				require.NoError(t, err)
				errs[i] = c.Send(context.Background(), "+14134242223", "hi")
				require.ErrorIs(t, errs[i], ErrTemplate)
			}
			assert.Contains(t, errs[1].Error(), tc.want)
			assert.Equal(t, errs[0].Error(), errs[1].Error())
			assert.Empty(t, g.got())
		})
	}
}

// TestIsolatedSurvivesDeepNesting gives the worker source that crashes
// go-jsonnet's parser: New fails, saying the worker died, and the host goes
// on.
func TestIsolatedSurvivesDeepNesting(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	cfg := smsConfig(g.URL+"/send", b64(isoDeepSource))

	// Trusted mode refuses the source before parsing it.
	_, err := New(cfg, WithTrustedTemplates())
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "nested deeper than")

	// Other modes hand it to a worker, which dies parsing it. The time
	// limit is generous: under -race on a busy machine, filling the stack
	// takes a while, and this test is about the crash, not the limit.
	for _, opts := range [][]Option{{WithIsolatedTemplates(IsolationConfig{Timeout: 30 * time.Second})}, nil} {
		_, err = New(cfg, opts...)
		require.ErrorIs(t, err, ErrInvalidConfig)
		msg := err.Error()
		t.Log(msg)
		assert.Contains(t, msg, "template base64 template: parsing in a worker: worker died: exit status 2 (fatal error: stack overflow)")
		assert.NotContains(t, msg, "[[")
		assert.Less(t, len(msg), 400)
	}

	isoRequireHostSends(t)
}

// TestIsolatedSurvivesTailstrictRecursion gives the worker a template that
// compiles (trusted mode refuses tailstrict, workers need not) and
// crashes go-jsonnet when evaluated.
func TestIsolatedSurvivesTailstrictRecursion(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	cfg := smsConfig(g.URL+"/send", b64(isoTailstrictBomb))

	_, err := New(cfg, WithTrustedTemplates())
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "tailstrict is not allowed")

	// A generous time limit, as above: the crash is under test.
	c := newIsolatedCourier(t, g, b64(isoTailstrictBomb), IsolationConfig{Timeout: 30 * time.Second})
	err = c.Send(context.Background(), "+14134242223", "hi")
	t.Log(err)
	require.ErrorIs(t, err, ErrTemplate)
	assert.Contains(t, err.Error(), "base64 template: worker died: exit status 2 (fatal error: stack overflow)")
	assert.Empty(t, g.got())

	isoRequireHostSends(t)
}

// TestIsolatedTimeout has a worker run a template that would take hours:
// it is killed at the Timeout.
func TestIsolatedTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	g := newGateway(t, nil)
	c := newIsolatedCourier(t, g, b64(isoSlowTemplate), IsolationConfig{Timeout: timeout})
	start := time.Now()
	err := c.Send(context.Background(), "+14134242223", "hi")
	elapsed := time.Since(start)
	t.Log(err, elapsed)
	require.ErrorIs(t, err, ErrTemplate)
	assert.Contains(t, err.Error(), "worker exceeded its time limit of 500ms")
	assert.False(t, errors.Is(err, context.DeadlineExceeded), "the caller's context did not end: %v", err)
	assert.Less(t, elapsed, timeout+2*time.Second)
	assert.Empty(t, g.got())

	isoRequireHostSends(t)
}

// TestIsolatedCallerDeadline ends the caller's context before the Timeout:
// the error wraps the context's error, not ErrTemplate.
func TestIsolatedCallerDeadline(t *testing.T) {
	t.Parallel()
	const deadline = 300 * time.Millisecond
	g := newGateway(t, nil)
	c := newIsolatedCourier(t, g, b64(isoSlowTemplate), IsolationConfig{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := c.Send(ctx, "+14134242223", "hi")
	elapsed := time.Since(start)
	t.Log(err, elapsed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "worker stopped")
	assert.False(t, errors.Is(err, ErrTemplate), "%v", err)
	assert.Less(t, elapsed, deadline+2*time.Second)
	assert.Empty(t, g.got())

	// A context that has already ended starts no worker.
	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	require.ErrorIs(t, c.Send(cancelled, "+14134242223", "hi"), context.Canceled)
}

// TestIsolatedMemoryLimit has workers allocate without bound: they die at
// the memory limit, well before the Timeout.
func TestIsolatedMemoryLimit(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{"string": isoStringBomb, "array": isoArrayBomb} {
		t.Run(name, func(t *testing.T) {
			g := newGateway(t, nil)
			c := newIsolatedCourier(t, g, b64(src), IsolationConfig{MemoryLimit: 64 << 20, Timeout: time.Minute})
			start := time.Now()
			err := c.Send(context.Background(), "+14134242223", "hi")
			t.Log(err)
			require.ErrorIs(t, err, ErrTemplate)
			assert.Contains(t, err.Error(), "base64 template: worker died: exit status 2: out of memory (limit 67108864 bytes")
			assert.Less(t, time.Since(start), 30*time.Second)
			assert.Empty(t, g.got())
		})
	}
	isoRequireHostSends(t)
}

// TestIsolatedConcurrentSends sends from many goroutines at once, more than
// there are worker slots.
func TestIsolatedConcurrentSends(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	c := newIsolatedCourier(t, g, "file://./testdata/sms.jsonnet", IsolationConfig{})
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = c.Send(context.Background(), "+14134242223", "hi") })
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, g.got(), n)
}

// TestIsolatedCommand runs the workers through IsolationConfig.Command: the
// shipped smscourier-template-worker command, built here.
func TestIsolatedCommand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "smscourier-template-worker")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/smscourier-template-worker").CombinedOutput()
	require.NoError(t, err, "%s", out)
	g := newGateway(t, nil)
	c := newIsolatedCourier(t, g, "file://./testdata/context.jsonnet", IsolationConfig{Command: []string{bin}})
	_, inWorkers := c.eval.(*isolatedTemplate)
	require.True(t, inWorkers)
	require.NoError(t, c.Send(context.Background(), "+14134242223", "hi"))
	require.Len(t, g.got(), 1)
	assert.Contains(t, g.got()[0].Body, `"to": "+14134242223"`)
}

func TestIsolatedConfigErrors(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	for _, tc := range []struct {
		name string
		cfg  IsolationConfig
		want string
	}{
		{"negative timeout", IsolationConfig{Timeout: -1}, "Timeout must not be negative"},
		{"negative memory", IsolationConfig{MemoryLimit: -1}, "MemoryLimit must not be negative"},
		{"negative output", IsolationConfig{MaxOutput: -1}, "MaxOutput must not be negative"},
		{"negative workers", IsolationConfig{MaxWorkers: -1}, "MaxWorkers must not be negative"},
		{"negative jobs", IsolationConfig{MaxJobs: -1}, "MaxJobs must not be negative"},
		{"negative idle timeout", IsolationConfig{IdleTimeout: -1}, "IdleTimeout must not be negative"},
		{"empty command", IsolationConfig{Command: []string{""}}, "Command[0] is empty"},
		{"missing command", IsolationConfig{Command: []string{"./no-such-worker"}}, "worker command"},
		{"not a worker", IsolationConfig{Command: []string{"true"}}, "is not a template worker of this version (it exited: exit status 0); WithTrustedTemplates"},
		{"failing command", IsolationConfig{Command: []string{"false"}}, "(it exited: exit status 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The settings are checked even when the fast path needs no worker.
			for _, body := range []string{"file://./testdata/sms.jsonnet", "file://./testdata/context.jsonnet"} {
				if strings.Contains(tc.name, "worker") || strings.Contains(tc.name, "failing") {
					body = "file://./testdata/context.jsonnet" // only a worker's start shows these
				}
				_, err := New(smsConfig(g.URL+"/send", body), WithIsolatedTemplates(tc.cfg))
				require.ErrorIs(t, err, ErrInvalidConfig, body)
				assert.Contains(t, err.Error(), tc.want)
			}
		})
	}
	src := "function(ctx) '" + strings.Repeat("x", maxTemplateSource) + "'"
	_, err := New(smsConfig(g.URL+"/send", b64(src)), WithIsolatedTemplates(IsolationConfig{}))
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "over the limit")
}

// TestIsolationDefaultsMatchSandbox checks that the documented defaults
// and worker marker are those the sandbox applies.
func TestIsolationDefaultsMatchSandbox(t *testing.T) {
	assert.Equal(t, sandbox.DefaultTimeout, defaultIsolationTimeout)
	assert.Equal(t, int64(sandbox.DefaultMemoryLimit), int64(defaultIsolationMemoryLimit))
	assert.Equal(t, sandbox.WorkerEnv, TemplateWorkerEnv)
}

func TestIsolatedOutputLimit(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	// 2^22 quotes, escaped to 2^23 backslashes and quotes.
	src := "function(ctx) local s(x, n) = if n == 0 then x else s(x + x, n - 1); { s: s('\"', 22) }"
	// A generous time limit: building 8 MiB of output is slow on a loaded machine.
	c := newIsolatedCourier(t, g, b64(src), IsolationConfig{Timeout: 20 * time.Second})
	err := c.Send(context.Background(), "+14134242223", "hi")
	require.ErrorIs(t, err, ErrTemplate)
	assert.Contains(t, err.Error(), "over the worker limit of 4194304")
	assert.Empty(t, g.got())

	c = newIsolatedCourier(t, g, b64("function(ctx) {to: ctx.to, pad: std.repeat('x', 100)}"), IsolationConfig{MaxOutput: 64})
	err = c.Send(context.Background(), "+14134242223", "hi")
	require.ErrorIs(t, err, ErrTemplate)
	assert.Contains(t, err.Error(), "over the worker limit of 64")
	assert.Empty(t, g.got())
}

// TestIsolatedAcceptsWhatOnlyCrashesWorkers renders templates that trusted
// mode refuses only because they could crash the host: finite tailstrict
// recursion and nesting deeper than the in-process limit. The default mode
// and isolated mode take them.
func TestIsolatedAcceptsWhatOnlyCrashesWorkers(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"tailstrict": "function(ctx) local f(n, acc) = if n == 0 then acc else f(n - 1, acc + 1) tailstrict; { n: f(1000, 0), to: ctx.to }",
		"300 levels": "function(ctx) { to: " + strings.Repeat("(", 300) + "ctx.to" + strings.Repeat(")", 300) + " }",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, nil)
			_, err := New(smsConfig(g.URL+"/send", b64(src)), WithTrustedTemplates())
			require.ErrorIs(t, err, ErrInvalidConfig)
			c := newIsolatedCourier(t, g, b64(src), IsolationConfig{})
			require.NoError(t, c.Send(context.Background(), "+14134242223", "hi"))
			byDefault, err := New(smsConfig(g.URL+"/send", b64(src)))
			require.NoError(t, err)
			require.NoError(t, byDefault.Send(context.Background(), "+14134242223", "hi"))
			require.Len(t, g.got(), 2)
			assert.Contains(t, g.got()[0].Body, "+14134242223")
			assert.Equal(t, g.got()[0].Body, g.got()[1].Body)
		})
	}
}
