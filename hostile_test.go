package smscourier

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/smstest"
)

// slowInProcessTemplate counts to ctx.template_data.n: its CPU time grows
// with n, which slowTemplateData sets for the machine at hand.
const slowInProcessTemplate = `function(ctx) {n: std.foldl(function(acc, x) acc + 1, std.range(1, ctx.template_data.n), 0)}`

// slowTemplateData returns the template data that makes c, built on
// slowInProcessTemplate, evaluate for about a second of CPU on this machine,
// under -race or not: it times one evaluation of a shorter count and scales
// it, so that the tests' deadlines hold on a machine ten times faster or
// slower than the one they were written on.
func slowTemplateData(t *testing.T, c *Courier) map[string]any {
	t.Helper()
	const probe = 100000
	start := time.Now()
	_, err := c.Render(context.Background(), Message{To: "+1555", Body: "x", TemplateData: map[string]any{"n": probe}})
	require.NoError(t, err)
	took := max(time.Since(start), time.Millisecond)
	n := int(float64(probe) * float64(time.Second) / float64(took))
	return map[string]any{"n": min(max(n, probe), 1<<30)}
}

// TestHostileTemplatesAtNew shows that, in trusted mode, templates which
// would crash or hang go-jsonnet's parser in the host, or read the host's
// files, are refused by New before parsing, and that the test process
// survives them. (By default such sources are parsed in a worker: see
// hostile_default_test.go.)
func TestHostileTemplatesAtNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want string
	}{
		{"importstr of a local file", `function(ctx) {a: importstr '/etc/passwd'}`, "importstr is not allowed"},
		{"tail-strict unbounded recursion", `function(ctx) local f(x) = f(x + 1) tailstrict; {a: f(0)}`, "tailstrict is not allowed"},
		{"200k-deep brackets (caught by the size cap)", strings.Repeat("[", 200000) + strings.Repeat("]", 200000), "over the limit"},
		{"120k-deep brackets", strings.Repeat("[", 120000) + strings.Repeat("]", 120000), "nested deeper than 200"},
		{"60k-deep objects", strings.Repeat("{a:", 60000) + "1" + strings.Repeat("}", 60000), "nested deeper than 200"},
		{"200k-deep parentheses", strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000), "nested deeper than 200"},
		{"120k-long unary chain (quadratic parse)", strings.Repeat("-", 120000) + "1", "nested deeper than 200"},
		{"201 levels", "function(ctx) " + strings.Repeat("[", 201) + strings.Repeat("]", 201), "nested deeper than 200"},
		{"source over 256 KiB", "function(ctx) '" + strings.Repeat("x", 300<<10) + "'", "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := New(smsConfig("http://127.0.0.1:1/send", b64(tc.src)), WithTrustedTemplates())
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, time.Since(start), 2*time.Second, "refused before any expensive parse")
		})
	}

	t.Run("brackets in strings and comments do not count", func(t *testing.T) {
		deep := strings.Repeat("[", 300)
		src := "// " + deep + "\n/* " + deep + " */\n# " + deep + "\nfunction(ctx) {a: '" + deep + "', b: \"" + deep + "\\\"\", c: @'" + deep + "''', d: |||\n  " + deep + "\n|||}"
		gw := newGateway(t, nil)
		c, err := New(smsConfig(gw.URL+"/send", b64(src)), WithTrustedTemplates())
		require.NoError(t, err)
		require.NoError(t, c.Send(context.Background(), "+1555", "x"))
		assert.Contains(t, gw.got()[0].Body, deep)
	})
	t.Run("200 levels are fine", func(t *testing.T) {
		gw := newGateway(t, nil)
		c, err := New(smsConfig(gw.URL+"/send", b64("function(ctx) "+strings.Repeat("[", 199)+"ctx.to"+strings.Repeat("]", 199))), WithTrustedTemplates())
		require.NoError(t, err)
		require.NoError(t, c.Send(context.Background(), "+1555", "x"))
	})
}

// TestHostileTemplatesAtSend checks runtime failures in both modes: the
// template fails with ErrTemplate and nothing is sent.
func TestHostileTemplatesAtSend(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		opts []Option
		want string
		// wantWorker, if set, is what the worker says instead.
		wantWorker string
	}{
		{name: "infinite recursion", src: `function(ctx) local f(x) = f(x + 1) + 1; {a: f(0)}`, want: "max stack frames exceeded"},
		{name: "a deep structure built at runtime", src: `function(ctx) std.foldl(function(acc, x) [acc], std.range(1, 100000), [])`, want: "max stack frames exceeded"},
		{name: "10 MB output", src: `function(ctx) {a: std.join('', std.makeArray(10 * 1024 * 1024 / 16, function(i) 'xxxxxxxxxxxxxxxx'))}`, want: "over the limit of 262144", wantWorker: "over the worker limit of 4194304"},
		{name: "output over a configured cap", src: `function(ctx) {to: ctx.to}`, opts: []Option{WithMaxBodySize(10)}, want: "over the limit of 10"},
	} {
		for _, mode := range []string{"trusted", "workers"} {
			t.Run(tc.name+" "+mode, func(t *testing.T) {
				gw := newGateway(t, nil)
				opts, want := tc.opts, tc.want
				if mode == "trusted" {
					opts = append(opts, WithTrustedTemplates())
				} else {
					// A generous time limit: under -race, building 10 MB is slow.
					opts = append(opts, WithIsolatedTemplates(IsolationConfig{Timeout: time.Minute}))
					if tc.wantWorker != "" {
						want = tc.wantWorker
					}
				}
				c, err := New(smsConfig(gw.URL+"/send", b64(tc.src)), opts...)
				require.NoError(t, err)
				err = c.Send(context.Background(), "+1555", "x")
				require.ErrorIs(t, err, ErrTemplate)
				assert.Contains(t, err.Error(), want)
				assert.Empty(t, gw.got(), "nothing sent")
			})
		}
	}
}

// TestSlowTemplateHonoursDeadline checks, in trusted mode, that a send
// returns at its deadline while the in-process evaluation runs on, and that
// such abandoned evaluations are bounded. (Workers are killed at the
// deadline instead: TestIsolatedCallerDeadline.)
func TestSlowTemplateHonoursDeadline(t *testing.T) {
	defer waitForAbandonedEvaluations(t)
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", b64(slowInProcessTemplate)), WithTrustedTemplates())
	require.NoError(t, err)
	slow := Message{To: "+1555", Body: "x", TemplateData: slowTemplateData(t, c)}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.SendMessage(ctx, slow)
	took := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, took, 300*time.Millisecond+time.Second, "returns at the deadline, long before the evaluation ends")
	assert.Empty(t, gw.got())

	t.Run("abandoned evaluations are bounded", func(t *testing.T) {
		old := maxAbandonedEvaluations
		maxAbandonedEvaluations = 1
		defer func() { maxAbandonedEvaluations = old }()
		waitForAbandonedEvaluations(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.SendMessage(ctx, slow)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		// That evaluation runs on for most of a second: the next one with a
		// context is refused at once.
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
		defer cancel2()
		start := time.Now()
		_, err = c.SendMessage(ctx2, slow)
		require.ErrorIs(t, err, ErrTemplate)
		assert.Contains(t, err.Error(), "still running past their deadline")
		assert.Less(t, time.Since(start), time.Second, "refused without evaluating")
		assert.Empty(t, gw.got())
	})
}

// waitForAbandonedEvaluations waits until evaluations abandoned by earlier
// tests have finished, so that they neither skew limits nor look leaked.
func waitForAbandonedEvaluations(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return abandonedEvaluations.Load() == 0 }, time.Minute, 10*time.Millisecond)
}

// TestTemplateErrorsWithholdTheMessage: Jsonnet's runtime errors quote the
// values they fail on; the message text and numbers must not reach the error.
func TestTemplateErrorsWithholdTheMessage(t *testing.T) {
	for _, tc := range []struct {
		name, body, response string
		wantClass            error
	}{
		{name: "body template", body: `function(ctx) {n: std.parseInt(ctx.body)}`, wantClass: ErrTemplate},
		{name: "body template quoting a word", body: `function(ctx) error 'bad code ' + std.split(ctx.body, ' ')[3]`, wantClass: ErrTemplate},
		{name: "body template quoting the number", body: `function(ctx) error 'bad number ' + ctx.to`, wantClass: ErrTemplate},
		{name: "response template quoting the echoed text", body: `function(ctx) {text: ctx.body}`,
			response: `function(ctx) {ok: std.parseInt(ctx.body)}`, wantClass: ErrOutcomeUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := smstest.New(t)
			gw.Script(smstest.Reply{Status: http.StatusOK, Body: "echo: Your code is 918273"})
			cfg := smsConfig(gw.URL()+"/send", b64(tc.body))
			cfg.RequestConfig.Response = ""
			if tc.response != "" {
				cfg.RequestConfig.Response = b64(tc.response)
			}
			c, err := New(cfg)
			require.NoError(t, err)
			err = c.Send(context.Background(), "+14134242223", "Your code is 918273")
			require.ErrorIs(t, err, tc.wantClass)
			if tc.response == "" {
				gw.AssertCount(t, 0)
			}
			for _, secret := range []string{"918273", "Your code", "14134242223"} {
				assert.NotContains(t, err.Error(), secret)
			}
			assert.Contains(t, err.Error(), "[REDACTED]")
		})
	}
}

func TestWithholdKeepsOurOwnWords(t *testing.T) {
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", b64(`function(ctx) error 'no: ' + ctx.body`)))
	require.NoError(t, err)
	err = c.Send(context.Background(), "+1555", "smscourier template error 4711")
	require.ErrorIs(t, err, ErrTemplate)
	assert.True(t, strings.HasPrefix(err.Error(), "smscourier: template error"), err.Error())
	assert.NotContains(t, err.Error(), "4711")
}

func TestWithholdLeavesTheLocation(t *testing.T) {
	gw := newGateway(t, nil)
	path := filepath.Join(t.TempDir(), "verify.jsonnet")
	require.NoError(t, os.WriteFile(path, []byte("function(ctx)\n  error 'bad ' + ctx.body"), 0o600))
	c, err := New(smsConfig(gw.URL+"/send", "file://"+path))
	require.NoError(t, err)
	err = c.Send(context.Background(), "+1555", "verify 99887766")
	require.ErrorIs(t, err, ErrTemplate)
	assert.Equal(t, "smscourier: template error: verify.jsonnet:2:3: bad [REDACTED]", err.Error())
	assert.Empty(t, gw.got())
}

// TestTemplateErrorCutAfterWithholding: a code that the 512-byte cut of the
// message would split is still withheld, in-process and isolated alike.
func TestTemplateErrorCutAfterWithholding(t *testing.T) {
	src := `function(ctx) error std.join('', std.makeArray(503, function(i) 'a')) + ctx.body`
	gw := newGateway(t, nil)
	for _, isolated := range []bool{false, true} {
		var opts []Option
		if isolated {
			opts = append(opts, WithIsolatedTemplates(IsolationConfig{Timeout: 30 * time.Second}))
		}
		c, err := New(smsConfig(gw.URL+"/send", b64(src)), opts...)
		require.NoError(t, err)
		err = c.Send(context.Background(), "+1555", "code 987654")
		require.ErrorIs(t, err, ErrTemplate)
		assert.NotContains(t, err.Error(), "9876", "isolated: %v", isolated)
		assert.True(t, strings.HasSuffix(err.Error(), "... (514 bytes in all)"), "isolated %v: %s", isolated, err.Error()[len(err.Error())-40:])
	}
	assert.Empty(t, gw.got())
}

func TestTemplateErrorTextBounded(t *testing.T) {
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", b64(`function(ctx) error std.join('', std.makeArray(100000, function(i) 'é'))`)))
	require.NoError(t, err)
	err = c.Send(context.Background(), "+1555", "hi")
	require.ErrorIs(t, err, ErrTemplate)
	assert.Less(t, len(err.Error()), 700)
	assert.True(t, strings.HasSuffix(err.Error(), "... (200000 bytes in all)"), err.Error()[len(err.Error())-40:])
	assert.True(t, utf8.ValidString(err.Error()), "cut on a character boundary")
	assert.Empty(t, gw.got())
}
