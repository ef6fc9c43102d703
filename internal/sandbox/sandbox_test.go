package sandbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smscourier/smscourier/internal/jsonnetutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

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
		{name: "output limit", src: "function(ctx) local s(x, n) = if n == 0 then x else s(x + x, n - 1); { s: s('\"', 22) }", wantErr: &jsonnetutil.Error{}, errText: "over the worker limit of 4194304"},
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

// TestNotAWorker checks that a worker program that does not serve the
// protocol is reported as ErrUnavailable, with how it ended.
func TestNotAWorker(t *testing.T) {
	t.Parallel()
	_, err := New("t", []byte("function(ctx) ctx.to"), Config{Command: []string{"true"}})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "not a template worker of this version (it exited: exit status 0)")
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

// testConfig returns a Config with a pool of its own: pools are shared by
// Configs with the same lifecycle settings, and IdleTimeout tells them
// apart.
func testConfig(t *testing.T, cfg Config) Config {
	t.Helper()
	testPools.Lock()
	testPools.n++
	n := testPools.n
	testPools.Unlock()
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = time.Hour + time.Duration(n)*time.Millisecond
	}
	return cfg
}

var testPools struct {
	sync.Mutex
	n int
}

// newTemplate makes a template with its own pool.
func newTemplate(t *testing.T, src string, cfg Config) *Template {
	t.Helper()
	tpl, err := New("t", []byte(src), testConfig(t, cfg))
	require.NoError(t, err)
	return tpl
}

func evaluate(t *testing.T, tpl *Template) (string, error) {
	t.Helper()
	return tpl.Evaluate(context.Background(), `{"to": "+1555"}`)
}

// TestWorkersAreReused checks that one worker parses the template and
// serves every later evaluation.
func TestWorkersAreReused(t *testing.T) {
	t.Parallel()
	tpl := newTemplate(t, "function(ctx) ctx.to", Config{})
	for range 20 {
		out, err := evaluate(t, tpl)
		require.NoError(t, err)
		assert.Equal(t, "\"+1555\"\n", out)
	}
	assert.EqualValues(t, 1, tpl.pool.started.Load())
}

// TestWorkerReplacedAfterMaxJobs checks that a worker serves at most
// MaxJobs jobs, the compile job included.
func TestWorkerReplacedAfterMaxJobs(t *testing.T) {
	t.Parallel()
	tpl := newTemplate(t, "function(ctx) ctx.to", Config{MaxJobs: 3})
	for range 8 { // 9 jobs with the compile job
		_, err := evaluate(t, tpl)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, tpl.pool.started.Load())
}

// TestWorkerReplacedWhenItGrew checks that a worker holding more than half
// the memory limit beyond its start after a job is replaced.
func TestWorkerReplacedWhenItGrew(t *testing.T) {
	t.Parallel()
	// Over 32 MiB of arrays and thunks, under the 64 MiB limit.
	tpl := newTemplate(t, "function(ctx) std.length(std.makeArray(200000, function(i) i))", Config{MemoryLimit: 64 << 20, Timeout: time.Minute})
	for range 3 {
		out, err := evaluate(t, tpl)
		require.NoError(t, err)
		assert.Equal(t, "200000\n", out)
	}
	assert.Greater(t, tpl.pool.started.Load(), int64(2))

	small := newTemplate(t, "function(ctx) ctx.to", Config{MemoryLimit: 64 << 20})
	for range 3 {
		_, err := evaluate(t, small)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, small.pool.started.Load())
}

// TestCrashFailsOnlyItsJob checks that a worker's death fails the
// evaluation it ran and that the next evaluation, in the same pool, works.
func TestCrashFailsOnlyItsJob(t *testing.T) {
	t.Parallel()
	// A generous time limit: under -race, filling the stack takes a while.
	cfg := testConfig(t, Config{MaxWorkers: 1, Timeout: time.Minute})
	bomb, err := New("bomb", []byte("function(ctx) local f(x) = f(x + 1) tailstrict; f(0)"), cfg)
	require.NoError(t, err)
	ok, err := New("ok", []byte("function(ctx) ctx.to"), cfg)
	require.NoError(t, err)
	for range 2 {
		_, err = evaluate(t, bomb)
		var we *WorkerError
		require.ErrorAs(t, err, &we)
		assert.Contains(t, err.Error(), "worker died")
		out, err := evaluate(t, ok)
		require.NoError(t, err)
		assert.Equal(t, "\"+1555\"\n", out)
	}
}

// TestTimeoutKillsTheWorker checks that a job past its time limit fails
// and the pool goes on with another worker.
func TestTimeoutKillsTheWorker(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, Config{Timeout: 300 * time.Millisecond, MaxWorkers: 1})
	slow, err := New("slow", []byte("function(ctx) local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1); f(60)"), cfg)
	require.NoError(t, err)
	start := time.Now()
	_, err = evaluate(t, slow)
	var we *WorkerError
	require.ErrorAs(t, err, &we)
	assert.Contains(t, err.Error(), "worker exceeded its time limit of 300ms")
	assert.Less(t, time.Since(start), 30*time.Second)
	ok, err := New("ok", []byte("function(ctx) ctx.to"), cfg)
	require.NoError(t, err)
	_, err = evaluate(t, ok)
	require.NoError(t, err)
}

// TestCallerCancelStopsTheJob checks that ending the caller's context
// mid-job returns at once with the context's error, and that the pool
// goes on.
func TestCallerCancelStopsTheJob(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, Config{Timeout: time.Minute, MaxWorkers: 1})
	slow, err := New("slow", []byte("function(ctx) local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1); f(60)"), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = slow.Evaluate(ctx, `{}`)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	ok, err := New("ok", []byte("function(ctx) ctx.to"), cfg)
	require.NoError(t, err)
	_, err = evaluate(t, ok)
	require.NoError(t, err)
}

// TestIdleWorkersExit checks that a worker idle past IdleTimeout is
// stopped, and that the next job starts another.
func TestIdleWorkersExit(t *testing.T) {
	t.Parallel()
	tpl := newTemplate(t, "function(ctx) ctx.to", Config{IdleTimeout: 50 * time.Millisecond})
	idle := func() int {
		tpl.pool.mu.Lock()
		defer tpl.pool.mu.Unlock()
		return len(tpl.pool.idle)
	}
	require.Eventually(t, func() bool { return idle() == 0 }, 10*time.Second, 10*time.Millisecond)
	_, err := evaluate(t, tpl)
	require.NoError(t, err)
	assert.EqualValues(t, 2, tpl.pool.started.Load())
}

// TestConcurrentEvaluations checks that concurrent evaluations all succeed
// on at most MaxWorkers workers.
func TestConcurrentEvaluations(t *testing.T) {
	t.Parallel()
	tpl := newTemplate(t, "function(ctx) ctx.to", Config{MaxWorkers: 3})
	var wg sync.WaitGroup
	errs := make(chan error, 16*10)
	for range 16 {
		wg.Go(func() {
			for range 10 {
				out, err := evaluate(t, tpl)
				if err == nil && out != "\"+1555\"\n" {
					err = errors.New("wrong output " + out)
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, tpl.pool.started.Load(), int64(3))
}

// TestGCPercent checks a worker's GOGC: 400 at the default limit, and a
// heap goal under a quarter of smaller limits.
func TestGCPercent(t *testing.T) {
	for limit, want := range map[int64]int{DefaultMemoryLimit: 400, 64 << 20: 400, 32 << 20: 200, 16 << 20: 100, 4 << 20: 100} {
		got := gcPercent(limit)
		assert.Equal(t, want, got, "limit %d", limit)
		if limit >= 16<<20 {
			assert.LessOrEqual(t, int64(4<<20)*int64(got)/100, limit/4, "limit %d: heap goal", limit)
		}
	}
}
