package smscourier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileModeOptions select the template mode that
// TestHostileTemplatesDefaultMode attacks: New gets them for the hostile
// and the ordinary courier of every case. nil is the default mode. Setting
// them to WithTrustedTemplates() shows what the suite catches: in-process
// evaluation fails every case it does not refuse at New or stop by
// Jsonnet's stack limit (the host is stopped at hostileChildMemoryCap, or
// the send runs into its deadline).
var hostileModeOptions []Option

const (
	// hostileCaseEnv names, in a child process, the case it runs.
	hostileCaseEnv = "SMSCOURIER_HOSTILE_CASE"
	// hostileResultPrefix starts the child's result line on its stdout.
	hostileResultPrefix = "smscourier-hostile-result: "
	// hostileSendDeadline is the deadline of the hostile send: far past the
	// 2 s wall-clock limit of a worker, so that the send fails by the
	// mode's own limits, not the caller's deadline.
	hostileSendDeadline = 10 * time.Second
	// hostileRSSBound bounds how far the host's peak RSS may rise above
	// its RSS before the hostile courier is built. With worker processes
	// the host only starts processes and reads short replies: it grew by
	// 2.5 MiB a case (6 MiB under -race), and by 6.4 MiB (13.5 MiB under
	// -race) for the 100k-deep source, which New encodes and hands to a
	// worker. In process the deep data and the bombs take GiBs.
	hostileRSSBound = 32 << 20
	// hostileChildMemoryCap is where a child stops itself, exiting 3,
	// when its Go runtime has mapped that much more memory than at the
	// start: a mode that lets a bomb grow the host fails its case there,
	// without taking the machine's memory (two children run at once, each
	// more under -race, whose detector maps shadow memory besides).
	hostileChildMemoryCap = 512 << 20
	// hostileParallel is how many children run at once.
	hostileParallel = 2
	// hostileChildTimeout bounds one child; it ends in seconds.
	hostileChildTimeout = 90 * time.Second
)

// Deep data built at run time by a builtin: a million nested arrays or
// objects. go-jsonnet compares and sorts such values by Go recursion,
// unbounded by its stack of 500 frames (comparing the arrays takes 2.2 GiB
// in process, most of it Go stack); it manifests and stringifies them
// within its depth guards, but building them alone takes 0.7 and 1.2 GiB.
// A worker with the default limits runs out of memory or time first.
const (
	hostileDeepArrays  = "std.foldl(function(acc, i) [acc], std.range(1, 1000000), [])"
	hostileDeepObjects = "std.foldl(function(acc, i) {a: acc}, std.range(1, 1000000), {})"
)

// hostileCase is a template that attacks the process evaluating it.
type hostileCase struct {
	name string
	// body is the body template's source; "" means an ordinary body
	// template, with response the hostile one.
	body     string
	response string
	// refusedAtNew: New must fail with ErrInvalidConfig (the source is
	// the attack); mayBeRefusedAtNew: New may, as refusing a template is as
	// safe as failing its sends.
	refusedAtNew, mayBeRefusedAtNew bool
}

var hostileCases = []hostileCase{
	{name: "deep arrays compared with ==", body: "function(ctx) local a = " + hostileDeepArrays + "; {eq: a == a}"},
	{name: "deep arrays compared with <", body: "function(ctx) local a = " + hostileDeepArrays + "; {lt: a < a}"},
	{name: "deep objects compared with ==", body: "function(ctx) local a = " + hostileDeepObjects + "; {eq: a == a}"},
	{name: "deep arrays sorted", body: "function(ctx) local a = " + hostileDeepArrays + "; {n: std.length(std.sort([a, a, a]))}"},
	{name: "deep arrays manifested as the body", body: "function(ctx) {a: " + hostileDeepArrays + "}"},
	{name: "deep objects stringified by std.toString", body: "function(ctx) {n: std.length(std.toString(" + hostileDeepObjects + "))}"},
	{name: "deep arrays stringified by std.manifestJson", body: "function(ctx) {n: std.length(std.manifestJson(" + hostileDeepArrays + "))}"},
	{name: "runaway recursion", body: "function(ctx) local f(x) = f(x + 1) + 1; {a: f(0)}"},
	{name: "runaway tailstrict recursion", body: isoTailstrictBomb, mayBeRefusedAtNew: true},
	{name: "string bomb", body: isoStringBomb},
	{name: "array bomb", body: isoArrayBomb},
	// A comprehension over two short ranges: 10^8 fields.
	{name: "object bomb", body: "function(ctx) {n: std.length({['' + (i * 10000 + j)]: i for i in std.range(1, 1e4) for j in std.range(1, 1e4)})}"},
	{name: "endless evaluation", body: isoSlowTemplate},
	{name: "100 MB string as the body", body: "function(ctx) {text: std.repeat('x', 100 * 1024 * 1024)}"},
	{name: "100 MB array as the body", body: "function(ctx) std.makeArray(15 * 1000 * 1000, function(i) 0)"},
	{name: "100k-deep source", body: isoDeepSource, refusedAtNew: true},
	{name: "response template comparing deep arrays", response: "function(ctx) local a = " + hostileDeepArrays + "; {ok: a == a, message_id: ctx.body.id}"},
	{name: "response template string bomb", response: "function(ctx) local s(x, n) = if n == 0 then x else s(x + x, n - 1); {ok: std.length(s('ab', 40)) > 0}"},
}

// Ordinary templates, outside the fast path (std.split, std.length), so
// that the ordinary send after an attack evaluates in the mode under test.
const (
	hostileOrdinaryBody     = "function(ctx) {to: ctx.to, body: ctx.body, words: std.length(std.split(ctx.body, ' '))}"
	hostileOrdinaryResponse = "function(ctx) {ok: ctx.status == 201, message_id: ctx.body.id}"
)

// hostileResult is what a child reports on its stdout, as one JSON line.
type hostileResult struct {
	NewErr           string `json:"new_err,omitempty"` // New's error for the hostile courier
	NewInvalidConfig bool   `json:"new_invalid_config"`
	NewMS            int64  `json:"new_ms"`
	Err              string `json:"err,omitempty"` // the hostile send's error
	Template         bool   `json:"template"`      // errors.Is(Err, ErrTemplate)
	OutcomeUnknown   bool   `json:"outcome_unknown"`
	ContextEnded     bool   `json:"context_ended"` // Err wraps the deadline's error
	SendMS           int64  `json:"send_ms"`
	Requests         int    `json:"requests"` // gateway requests of the hostile send
	OrdinaryErr      string `json:"ordinary_err,omitempty"`
	OrdinaryRequests int    `json:"ordinary_requests"`
	OrdinaryBody     string `json:"ordinary_body"`
	OrdinaryID       string `json:"ordinary_id"`
	// RSS figures of the child, in KiB: before the hostile courier is
	// built (the peak is reset to it) and the peak at the end. RSSNote says
	// why they are missing.
	RSSBaselineKiB int64  `json:"rss_baseline_kib"`
	RSSPeakKiB     int64  `json:"rss_peak_kib"`
	RSSNote        string `json:"rss_note,omitempty"`
}

// TestHostileTemplatesDefaultMode runs each hostile template in a child
// process (this test binary, re-executed) with the options of
// hostileModeOptions, and checks that the host survives, that the send
// fails with ErrTemplate well within its deadline and sends nothing (a
// hostile response template: fails with ErrOutcomeUnknown after exactly
// one request), that an ordinary send works afterwards, and that the
// host's peak RSS stays within hostileRSSBound of where it was.
func TestHostileTemplatesDefaultMode(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	slots := make(chan struct{}, hostileParallel)
	for _, hc := range hostileCases {
		t.Run(hc.name, func(t *testing.T) {
			t.Parallel()
			slots <- struct{}{}
			defer func() { <-slots }()
			res := runHostileChild(t, exe, hc.name)
			outcome := res.Err

			switch {
			case hc.refusedAtNew, hc.mayBeRefusedAtNew && res.NewErr != "":
				outcome = res.NewErr
				require.True(t, res.NewInvalidConfig, "New must refuse the template with ErrInvalidConfig; it returned %q", res.NewErr)
				assert.Less(t, res.NewMS, hostileSendDeadline.Milliseconds(), "New took %d ms", res.NewMS)
				assert.Zero(t, res.Requests, "requests sent")
			default:
				require.Empty(t, res.NewErr, "New")
				assert.False(t, res.ContextEnded, "the send ran into its deadline of %s: the mode did not stop the template by its own limits", hostileSendDeadline)
				assert.Less(t, res.SendMS, hostileSendDeadline.Milliseconds(), "the send took %d ms", res.SendMS)
				if hc.response == "" {
					assert.True(t, res.Template, "the send must fail with ErrTemplate; it returned %q", res.Err)
					assert.Zero(t, res.Requests, "requests sent")
				} else {
					// The reply was 201: the gateway may have taken the
					// message, so the failed response template makes the
					// outcome unknown (the template error is its cause),
					// and without an idempotency key there is no retry.
					assert.True(t, res.OutcomeUnknown, "the send must fail with ErrOutcomeUnknown; it returned %q", res.Err)
					assert.True(t, res.Template, "the error must wrap ErrTemplate: %q", res.Err)
					assert.Equal(t, 1, res.Requests, "requests sent")
				}
			}
			assert.Empty(t, res.OrdinaryErr, "the ordinary send after the attack")
			assert.Equal(t, 1, res.OrdinaryRequests, "requests of the ordinary send")
			assert.Contains(t, res.OrdinaryBody, `"words": 2`, "the ordinary body")
			assert.Equal(t, "msg-1", res.OrdinaryID, "the ordinary reply's message id, from the response template")

			if res.RSSNote != "" {
				t.Logf("New %d ms, send %d ms, peak RSS not checked: %s; %s", res.NewMS, res.SendMS, res.RSSNote, outcome)
				return
			}
			grew := (res.RSSPeakKiB - res.RSSBaselineKiB) << 10
			t.Logf("New %d ms, send %d ms, RSS %.1f MiB, peak %.1f MiB (+%.1f MiB); %s",
				res.NewMS, res.SendMS, hostileMiB(res.RSSBaselineKiB<<10), hostileMiB(res.RSSPeakKiB<<10), hostileMiB(grew), outcome)
			assert.Less(t, grew, int64(hostileRSSBound), "the host's peak RSS rose by %.1f MiB", hostileMiB(grew))
		})
	}
}

// runHostileChild runs the case named name in a child process and returns
// its result. The child must exit 0, that is survive the attack.
func runHostileChild(t *testing.T, exe, name string) hostileResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hostileChildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestHostileTemplateChild$", "-test.count=1", "-test.timeout="+hostileChildTimeout.String())
	cmd.Env = hostileChildEnv(name)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	require.NoError(t, err, "the host died (or the child test failed) after %s\nstdout: %s\nstderr: %s", time.Since(start).Round(time.Millisecond), hostileTail(stdout.String()), hostileTail(stderr.String()))
	for line := range strings.Lines(stdout.String()) {
		if rest, ok := strings.CutPrefix(line, hostileResultPrefix); ok {
			var res hostileResult
			require.NoError(t, json.Unmarshal([]byte(rest), &res))
			return res
		}
	}
	t.Fatalf("the child reported no result\nstdout: %s\nstderr: %s", hostileTail(stdout.String()), hostileTail(stderr.String()))
	return hostileResult{}
}

// hostileChildEnv returns this process's environment for a child running
// case name: not a template worker, and without the race detector's pause
// at exit.
func hostileChildEnv(name string) []string {
	var env []string
	gorace := ""
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case TemplateWorkerEnv, hostileCaseEnv:
		case "GORACE":
			gorace = v
		default:
			env = append(env, kv)
		}
	}
	if !strings.Contains(gorace, "atexit_sleep_ms") {
		gorace = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
	}
	return append(env, hostileCaseEnv+"="+name, "GORACE="+gorace)
}

// TestHostileTemplateChild is the child side of
// TestHostileTemplatesDefaultMode: it runs the case named by hostileCaseEnv
// and prints its result. Without hostileCaseEnv it does nothing.
func TestHostileTemplateChild(t *testing.T) {
	name := os.Getenv(hostileCaseEnv)
	if name == "" {
		return
	}
	var hc *hostileCase
	for i := range hostileCases {
		if hostileCases[i].name == name {
			hc = &hostileCases[i]
		}
	}
	require.NotNil(t, hc, "no hostile case %q", name)
	stop := hostileCapMemory()
	defer stop()
	res := runHostileCase(t, *hc)
	line, err := json.Marshal(res)
	require.NoError(t, err)
	fmt.Printf("%s%s\n", hostileResultPrefix, line)
}

// runHostileCase builds a courier with the hostile template and sends one
// message with it, then sends an ordinary message through a second courier
// built with the same options, recording what happened and the RSS.
func runHostileCase(t *testing.T, hc hostileCase) hostileResult {
	var res hostileResult
	baseline, note := hostileResetPeakRSS()
	res.RSSBaselineKiB, res.RSSNote = baseline, note

	gw := smstest.New(t) // replies 201 with {"id":"msg-N","status":"queued"}
	body, response := hc.body, hostileOrdinaryResponse
	if hc.response != "" {
		body, response = hostileOrdinaryBody, hc.response
	}
	cfg := smsConfig(gw.Endpoint("/send"), b64(body))
	cfg.RequestConfig.Response = b64(response)
	start := time.Now()
	c, err := New(cfg, hostileModeOptions...)
	res.NewMS = time.Since(start).Milliseconds()
	if err != nil {
		res.NewErr, res.NewInvalidConfig = err.Error(), errors.Is(err, ErrInvalidConfig)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), hostileSendDeadline)
		start = time.Now()
		err = c.Send(ctx, "+14134242223", "hostile")
		res.SendMS = time.Since(start).Milliseconds()
		cancel()
		if err != nil {
			res.Err = err.Error()
		}
		res.Template, res.OutcomeUnknown = errors.Is(err, ErrTemplate), errors.Is(err, ErrOutcomeUnknown)
		res.ContextEnded = errors.Is(err, context.DeadlineExceeded)
	}
	res.Requests = gw.Count()

	ordinary := smstest.New(t)
	cfg = smsConfig(ordinary.Endpoint("/send"), b64(hostileOrdinaryBody))
	cfg.RequestConfig.Response = b64(hostileOrdinaryResponse)
	if c, err := New(cfg, hostileModeOptions...); err != nil {
		res.OrdinaryErr = err.Error()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), hostileSendDeadline)
		r, err := c.SendMessage(ctx, Message{To: "+14134242223", Body: "still alive"})
		cancel()
		if err != nil {
			res.OrdinaryErr = err.Error()
		}
		res.OrdinaryID = r.MessageID
	}
	got := ordinary.Requests()
	res.OrdinaryRequests = len(got)
	if len(got) > 0 {
		res.OrdinaryBody = got[0].Body
	}

	if res.RSSNote == "" {
		if peak, ok := hostileProcStatusKiB("VmHWM"); ok {
			res.RSSPeakKiB = peak
		} else {
			res.RSSNote = "no VmHWM in /proc/self/status"
		}
	}
	return res
}

// hostileResetPeakRSS resets the peak RSS of this process (VmHWM) to its
// current RSS and returns that RSS in KiB, or a note saying why it cannot.
func hostileResetPeakRSS() (int64, string) {
	if runtime.GOOS != "linux" {
		return 0, "RSS is read from /proc/self/status, on Linux only; this is " + runtime.GOOS
	}
	// Writing 5 to clear_refs resets VmHWM to VmRSS (Linux 4.0 and later).
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, "cannot reset the peak RSS: " + err.Error()
	}
	rss, ok := hostileProcStatusKiB("VmRSS")
	if !ok {
		return 0, "no VmRSS in /proc/self/status"
	}
	if hwm, ok := hostileProcStatusKiB("VmHWM"); !ok || hwm > rss+1024 {
		return 0, fmt.Sprintf("the peak RSS was not reset: VmHWM %d kB, VmRSS %d kB", hwm, rss)
	}
	return rss, ""
}

// hostileProcStatusKiB returns the field of /proc/self/status given in kB.
func hostileProcStatusKiB(field string) (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(rest), " kB")
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(kb), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// hostileCapMemory makes the process exit with status 3 once its Go runtime
// maps more than hostileChildMemoryCap bytes beyond what it maps now,
// checking every 5 ms. It returns a function that stops the check.
func hostileCapMemory() (stop func()) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	inUse := func() uint64 {
		metrics.Read(samples)
		return samples[0].Value.Uint64() - samples[1].Value.Uint64()
	}
	base := inUse()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if used := inUse(); used > base && used-base > hostileChildMemoryCap {
					fmt.Fprintf(os.Stderr, "hostile template child: the host's memory grew by over %d bytes: stopped\n", hostileChildMemoryCap)
					os.Exit(3)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// hostileTail returns the end of a child's output, enough to see how it died.
func hostileTail(s string) string {
	const keep = 3 << 10
	if len(s) > keep {
		return "..." + s[len(s)-keep:]
	}
	return s
}

// hostileMiB converts bytes to MiB.
func hostileMiB(bytes int64) float64 { return float64(bytes) / (1 << 20) }
