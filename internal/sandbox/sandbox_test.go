package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smscourier/smscourier/internal/jsonnetutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary is its own worker: re-executed with WorkerEnv=1 it
// serves one job from this init function, which runs before TestMain, and
// exits.
func init() { Serve() }

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestEvaluate runs one worker per case and checks what Evaluate returns
// for each kind of reply.
func TestEvaluate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		ctx       context.Context
		want      string // the output
		wantErr   error  // matched with errors.Is, or by type for *WorkerError and *jsonnetutil.Error
		errText   string
	}{
		{name: "output", src: "function(ctx) {to: ctx.to}", want: "{\n   \"to\": \"+1555\"\n}\n"},
		{name: "cancel", src: "function(ctx) error 'cancel'", wantErr: jsonnetutil.ErrCancel},
		{name: "runtime error", src: "function(ctx)\n  error 'no route for ' + ctx.to", wantErr: &jsonnetutil.Error{}, errText: "t:2:3: no route for +1555"},
		{name: "output limit", src: "function(ctx) local s(x, n) = if n == 0 then x else s(x + x, n - 1); { s: s('\"', 22) }", wantErr: &jsonnetutil.Error{}, errText: "over the limit of 4194304 in isolated mode"},
		{name: "worker dies", src: "function(ctx) local f(x) = f(x + 1) tailstrict; f(0)", wantErr: &WorkerError{}, errText: "worker died: exit status 2 (fatal error: stack overflow)"},
		{name: "context ended", src: "function(ctx) ctx.to", ctx: cancelled(), wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tpl, err := New("t", []byte(tc.src), Config{Timeout: 30 * time.Second})
			require.NoError(t, err)
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			out, err := tpl.Evaluate(ctx, `{"to": "+1555"}`)
			switch want := tc.wantErr.(type) {
			case nil:
				require.NoError(t, err)
				assert.Equal(t, tc.want, out)
			case *jsonnetutil.Error:
				require.ErrorAs(t, err, &want)
			case *WorkerError:
				require.ErrorAs(t, err, &want)
			default:
				require.ErrorIs(t, err, want)
			}
			if tc.errText != "" {
				assert.Contains(t, err.Error(), tc.errText)
			}
		})
	}
}

// cancelled returns a context that has ended.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestNewReportsCompileErrors checks that New has a worker parse the
// template and reports what it refuses.
func TestNewReportsCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src, want string }{
		{"syntax error", "function(ctx) {\n  to: ,\n}", "template t:2:"},
		{"import", "local x = import 'x';\nfunction(ctx) x", "template t:1:11: import is not allowed in templates"},
		{"too large", "'" + strings.Repeat("x", jsonnetutil.MaxSource) + "'", "over the limit of 262144"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New("t", []byte(tc.src), Config{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.False(t, errors.Is(err, jsonnetutil.ErrCancel))
		})
	}
}

// TestIsolatedNeedsHook checks that, with an empty Command, New refuses to
// re-execute a program that never called Serve: it would run the
// program's main instead of a worker. Not parallel: it clears the flag.
func TestIsolatedNeedsHook(t *testing.T) {
	hookCalled.Store(false)
	defer hookCalled.Store(true)
	_, err := New("t", []byte("function(ctx) ctx.to"), Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must call smscourier.ServeTemplateWorker")
}

func TestCrashHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ stderr, want string }{
		{"", ""},
		{"runtime: goroutine stack exceeds 67108864-byte limit\nruntime: sp=0x1 stack=[0x1, 0x2]\nfatal error: stack overflow\n\nruntime stack:\n", " (fatal error: stack overflow)"},
		{"fatal error: runtime: out of memory\n", ": out of memory (limit 100 bytes; fatal error: runtime: out of memory)"},
		{"smscourier template worker: out of memory: over the limit of 100 bytes\n", ": out of memory (limit 100 bytes)"},
		{"==1==ERROR: ThreadSanitizer failed to allocate 0x8000000 (134217728) bytes\n", ": out of memory (limit 100 bytes)"},
		{"SIGSEGV: segmentation violation\nPC=0x435add m=3 sigcode=1 addr=0x0\n", " (SIGSEGV: segmentation violation)"},
		{"panic: secret message text\n", ""},
		{"fatal error: " + strings.Repeat("x", 300), " (fatal error: " + strings.Repeat("x", 107) + "...)"},
	} {
		assert.Equal(t, tc.want, crashHint([]byte(tc.stderr), 100), "%q", tc.stderr)
	}
}
