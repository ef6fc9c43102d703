package smscourier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/smscourier/smscourier/internal/jsonnetutil"
)

// Defaults and limits of isolated template evaluation.
const (
	// DefaultIsolationTimeout is the wall-clock limit of one worker when
	// IsolationConfig.Timeout is zero.
	DefaultIsolationTimeout = 2 * time.Second
	// DefaultIsolationMemoryLimit is the memory limit of one worker when
	// IsolationConfig.MemoryLimit is zero.
	DefaultIsolationMemoryLimit = 256 << 20

	// TemplateWorkerEnv is the environment variable that marks a process as
	// a template worker: the host starts each worker with
	// TemplateWorkerEnv=1, and ServeTemplateWorker serves a job only then.
	TemplateWorkerEnv = "SMSCOURIER_TEMPLATE_WORKER"

	// maxIsolatedOutput caps the output a worker renders: 16 times
	// DefaultMaxBodySize. A larger output is an ErrTemplate error.
	maxIsolatedOutput = 16 * DefaultMaxBodySize
	// maxWorkerReply caps how much of a worker's standard output the host
	// keeps: the output, JSON-escaped, plus room for the rest of the reply.
	maxWorkerReply = 2*maxIsolatedOutput + 64<<10
	// maxWorkerStderr is how much of the start of a worker's standard
	// error the host keeps to explain a crash: the Go runtime writes its
	// fatal error line first, then a traceback.
	maxWorkerStderr = 4 << 10
	// workerWaitDelay bounds how long the host waits for a killed worker's
	// pipes to close (they could be held by a process the worker started).
	workerWaitDelay = time.Second
	// workerMemoryPoll is how often a worker checks its memory use.
	workerMemoryPoll = 5 * time.Millisecond
	// workerProtocol identifies replies of this protocol version.
	workerProtocol = "smscourier-template-worker/1"
)

// IsolationConfig configures isolated template evaluation (see
// WithIsolatedTemplates): each evaluation runs in a worker process that is
// killed when it exceeds its wall-clock limit and dies when it exceeds its
// memory limit, so no template, however hostile, can crash, stall or
// exhaust the host. The zero value is ready to use.
type IsolationConfig struct {
	// Command is the worker program and its arguments. Empty (the default)
	// means the current executable, re-executed: its main function (or, in
	// a test binary, an init function) must call ServeTemplateWorker
	// before anything else, or New fails. Otherwise Command[0] is a program
	// that serves the protocol of ServeTemplateWorker, such as the
	// command github.com/smscourier/smscourier/cmd/smscourier-template-worker;
	// it is resolved through PATH once, in New. Either way the worker gets
	// the host's environment and working directory, with TemplateWorkerEnv=1
	// added. Templates cannot read either: imports are refused, and
	// Jsonnet has no access to the environment.
	Command []string
	// Timeout is the wall-clock limit of one worker, from start to reply;
	// default DefaultIsolationTimeout (2 s). A worker past it is killed and
	// the evaluation fails with ErrTemplate. A caller's context deadline
	// that comes sooner applies too, and then the error wraps the
	// context's error instead. The worker that New starts to parse the
	// template gets at least DefaultIsolationTimeout.
	Timeout time.Duration
	// MemoryLimit bounds, in bytes, the memory a worker may use beyond what
	// its program uses when it starts the job; default
	// DefaultIsolationMemoryLimit (256 MiB). A worker over it dies and the
	// evaluation fails with ErrTemplate ("out of memory"). The worker
	// watches its Go runtime's memory use every 5 ms, sets the runtime's
	// soft limit a little lower so that the collector works hard first,
	// and caps each goroutine stack at a quarter of MemoryLimit (at least
	// 16 MiB). The runtime counts memory when it maps it, before it is
	// filled, so a worker that asks for far too much is stopped within
	// about 5 ms of asking. On Linux a kernel limit backs this: the
	// worker's RLIMIT_DATA is set to its mapped data plus 1.25x
	// MemoryLimit plus 64 MiB for the runtime's own mappings, so even a
	// burst faster than the watchdog cannot take more (not in binaries built with -race, whose detector maps far
	// more memory than the program). A worker stopped by the kernel limit
	// may report a runtime fault rather than "out of memory".
	MemoryLimit int64
}

// WithIsolatedTemplates makes the Courier evaluate its body template in
// worker processes configured by cfg, one per evaluation, instead of in the
// host process. Use it for templates the host does not trust: a template
// that would overflow the stack, loop forever or allocate without bound
// fails with ErrTemplate and leaves the host running. Because the worker
// survives those inputs, New does not apply the in-process nesting limit
// and allows tailstrict; the source size limit still applies and imports
// are still refused. New starts one worker to parse the template, so syntax
// errors are still reported by New. An evaluation costs a process start,
// a few milliseconds, instead of tens of microseconds. Outputs over 4 MiB
// fail with ErrTemplate. At most 2*GOMAXPROCS (at least 4)
// workers run at once in a process, across all couriers; further
// evaluations wait for a slot within their context.
func WithIsolatedTemplates(cfg IsolationConfig) Option {
	return optionFunc(func(o *options) { o.isolation = &cfg })
}

// workerHookCalled records that ServeTemplateWorker ran in this process, so
// that re-executing the current binary is known to reach it.
var workerHookCalled atomic.Bool

// workerSlots bounds how many workers run at once in this process.
var workerSlots = make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))

// ServeTemplateWorker is the hook that lets the current program serve as its
// own template worker (IsolationConfig.Command empty). Call it first thing
// in main, before flags are parsed or anything is started:
//
//	func main() {
//		smscourier.ServeTemplateWorker()
//		// ... the program as usual
//	}
//
// In a process started as a worker (TemplateWorkerEnv=1 in its
// environment) it reads one job from standard input, parses the template
// and, for an evaluation job, evaluates it, writes the reply to standard
// output and exits the process; it never returns. In any other process it
// only records that the hook is in place and returns at once. A worker
// applies its memory limit before it parses, so a hostile template can only
// crash the worker; the host turns the crash into an error. Package init
// functions of the program run in every worker, so they should be cheap
// and must not depend on the worker's standard input or output.
//
// In tests of a package that uses isolated templates with an empty Command,
// the test binary is the program re-executed. Call the hook from an init
// function of a _test.go file, which runs before TestMain and flag parsing:
//
//	func init() { smscourier.ServeTemplateWorker() }
func ServeTemplateWorker() {
	workerHookCalled.Store(true)
	if os.Getenv(TemplateWorkerEnv) != "1" {
		return
	}
	os.Exit(serveWorker(os.Stdin, os.Stdout))
}

// workerJob is what the host writes to a worker's standard input.
type workerJob struct {
	Op          string `json:"op"` // "compile" or "evaluate"
	Name        string `json:"name"`
	Source      []byte `json:"source"`
	Ctx         string `json:"ctx,omitempty"`
	MemoryLimit int64  `json:"memory_limit"`
	TimeoutMS   int64  `json:"timeout_ms"`
}

// Worker reply kinds.
const (
	replyOK       = "ok"
	replyCancel   = "cancel"   // the template evaluated error "cancel"
	replyTemplate = "template" // a runtime error: Where is "NAME:LINE:COL", Message the text (or Message is "NAME: text")
	replyInvalid  = "invalid"  // the template does not compile; Message is as New reports it
)

// workerReply is what a worker writes to its standard output.
type workerReply struct {
	Protocol string `json:"protocol"`
	Kind     string `json:"kind"`
	Output   string `json:"output,omitempty"`
	Message  string `json:"message,omitempty"`
	// Where is set with Message for a runtime error of the template: the
	// location ("NAME:LINE:COL"), while Message is the engine's text alone
	// (its first 64 KiB) and Size the text's whole length.
	Where string `json:"where,omitempty"`
	Size  int    `json:"size,omitempty"`
}

// serveWorker runs the worker side of one job and returns the exit code.
func serveWorker(r io.Reader, w io.Writer) int {
	var job workerJob
	if err := json.NewDecoder(r).Decode(&job); err != nil {
		fmt.Fprintln(os.Stderr, "smscourier template worker: cannot read the job")
		return 3
	}
	applyWorkerLimits(job.MemoryLimit, time.Duration(job.TimeoutMS)*time.Millisecond)
	reply := runJob(&job)
	reply.Protocol = workerProtocol
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(reply); err != nil {
		fmt.Fprintln(os.Stderr, "smscourier template worker: cannot write the reply")
		return 3
	}
	return 0
}

// applyWorkerLimits limits the worker process. Memory: a watchdog stops
// the worker once the Go runtime uses more than memLimit bytes beyond what
// it used at the start (a clean "out of memory" report); the Go runtime's
// soft limit makes the collector work hard before that; each goroutine
// stack may use a quarter of memLimit; on Linux, a kernel limit
// (RLIMIT_DATA) backs the watchdog. Time: the worker exits a second
// after its timeout, a backstop in case the host is gone and cannot kill
// it.
func applyWorkerLimits(memLimit int64, timeout time.Duration) {
	if memLimit <= 0 {
		memLimit = DefaultIsolationMemoryLimit
	}
	if timeout <= 0 {
		timeout = DefaultIsolationTimeout
	}
	setHardMemoryLimit(memLimit)
	debug.SetMemoryLimit(memLimit - memLimit/8)
	debug.SetMaxStack(int(min(max(memLimit/4, 16<<20), 1<<30)))
	time.AfterFunc(timeout+time.Second, func() {
		fmt.Fprintln(os.Stderr, "smscourier template worker: time limit exceeded")
		os.Exit(2)
	})
	go watchMemory(uint64(memLimit))
}

// watchMemory exits the process when the Go runtime uses more than limit
// bytes beyond what it used when the watch began.
func watchMemory(limit uint64) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	inUse := func() uint64 {
		metrics.Read(samples)
		return samples[0].Value.Uint64() - samples[1].Value.Uint64()
	}
	base := inUse()
	tick := time.NewTicker(workerMemoryPoll)
	for range tick.C {
		if used := inUse(); used > base && used-base > limit {
			fmt.Fprintf(os.Stderr, "smscourier template worker: out of memory: over the limit of %d bytes\n", limit)
			os.Exit(2)
		}
	}
}

// runJob compiles and, for an evaluation, evaluates the job's template the
// way the in-process evaluator does, except that tailstrict is allowed and
// the source is not depth-checked: this process may crash.
func runJob(job *workerJob) (reply workerReply) {
	defer func() {
		if recover() != nil {
			// The panic value could hold template data: leave it out.
			reply = workerReply{Kind: replyTemplate, Message: job.Name + ": internal error of the template engine"}
			if job.Op == "compile" {
				reply.Kind, reply.Message = replyInvalid, "template "+reply.Message
			}
		}
	}()
	node, err := jsonnet.SnippetToAST(job.Name, string(job.Source))
	if err == nil {
		err = jsonnetutil.RefuseConstructs(job.Name, node, true) // a worker may overflow its stack
	} else {
		err = jsonnetutil.StaticError(job.Name, err)
	}
	if err != nil {
		if job.Op == "compile" {
			return workerReply{Kind: replyInvalid, Message: err.Error()}
		}
		return workerReply{Kind: replyTemplate, Message: strings.TrimPrefix(err.Error(), "template ")}
	}
	if job.Op == "compile" {
		return workerReply{Kind: replyOK}
	}
	vm := jsonnetutil.NewVM()
	vm.TLACode("ctx", job.Ctx)
	out, err := vm.Evaluate(node)
	if err != nil {
		var je *jsonnetutil.Error
		if errors.As(jsonnetutil.EvalError(job.Name, err), &je) {
			return workerReply{Kind: replyTemplate, Where: je.Where, Message: je.Msg, Size: je.Size}
		}
		return workerReply{Kind: replyCancel} // the only other outcome of EvalError
	}
	if len(out) > maxIsolatedOutput {
		return workerReply{Kind: replyTemplate, Message: fmt.Sprintf("%s: rendered output is %d bytes, over the limit of %d in isolated mode", job.Name, len(out), maxIsolatedOutput)}
	}
	return workerReply{Kind: replyOK, Output: out}
}

// isolatedTemplate evaluates a template in worker processes, one per
// evaluation. It is immutable and safe for concurrent use.
type isolatedTemplate struct {
	name string // diagnostic name: a file name, never the template data
	src  []byte
	path string   // the worker program
	args []string // its arguments, Args[0] included
	env  []string
	cfg  IsolationConfig
}

// newIsolatedTemplate checks the isolation settings and the source size,
// then has one worker parse the template, so that syntax errors and imports
// are reported now. A worker that crashes while parsing (as on source
// nested too deep) is an error too.
func newIsolatedTemplate(name string, src []byte, cfg IsolationConfig) (*isolatedTemplate, error) {
	switch {
	case cfg.Timeout < 0:
		return nil, errors.New("isolated templates: Timeout must not be negative")
	case cfg.MemoryLimit < 0:
		return nil, errors.New("isolated templates: MemoryLimit must not be negative")
	case len(cfg.Command) > 0 && cfg.Command[0] == "":
		return nil, errors.New("isolated templates: Command[0] is empty")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultIsolationTimeout
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultIsolationMemoryLimit
	}
	cfg.Command = append([]string(nil), cfg.Command...)
	if err := jsonnetutil.CheckSize(name, src); err != nil {
		return nil, err
	}
	t := &isolatedTemplate{name: name, src: src, cfg: cfg, env: workerEnv()}
	if len(cfg.Command) == 0 {
		if os.Getenv(TemplateWorkerEnv) == "1" {
			// A worker got here: its main did not call the hook first.
			return nil, errors.New("isolated templates: this process is a template worker that did not call smscourier.ServeTemplateWorker first")
		}
		if !workerHookCalled.Load() {
			return nil, errors.New("isolated templates: with an empty Command the program must call smscourier.ServeTemplateWorker first thing in main (in tests, from an init function)")
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("isolated templates: cannot find the current executable: %v", err)
		}
		t.path, t.args = exe, []string{exe}
		if runtime.GOOS == "linux" {
			// The running binary itself, even if a deploy replaced the file.
			if _, err := os.Stat("/proc/self/exe"); err == nil {
				t.path = "/proc/self/exe"
			}
		}
	} else {
		path, err := exec.LookPath(cfg.Command[0])
		if err == nil {
			path, err = filepath.Abs(path)
		}
		if err != nil {
			return nil, fmt.Errorf("isolated templates: worker command: %v", err)
		}
		t.path, t.args = path, cfg.Command
	}
	reply, err := t.run(context.Background(), workerJob{Op: "compile"}, max(cfg.Timeout, DefaultIsolationTimeout))
	if err != nil {
		var we *workerError
		if errors.As(err, &we) {
			return nil, fmt.Errorf("template %s: parsing in a worker: %s", name, we.msg)
		}
		return nil, fmt.Errorf("template %s: %v", name, err)
	}
	switch reply.Kind {
	case replyOK:
		return t, nil
	case replyInvalid:
		return nil, errors.New(reply.Message)
	default:
		return nil, fmt.Errorf("template %s: worker replied %q to a compile job", name, reply.Kind)
	}
}

// workerEnv returns the host's environment with the worker marker set, a
// terse crash report, no GOMEMLIMIT (the worker sets its own), and no
// pause at exit under the race detector.
func workerEnv() []string {
	env := os.Environ()
	kept := env[:0:0]
	gorace := ""
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case TemplateWorkerEnv, "GOTRACEBACK", "GOMEMLIMIT":
		case "GORACE":
			gorace = strings.TrimPrefix(kv, "GORACE=")
		default:
			kept = append(kept, kv)
		}
	}
	// A program built with -race sleeps a second at exit unless told not to.
	if !strings.Contains(gorace, "atexit_sleep_ms") {
		gorace = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
	}
	return append(kept, TemplateWorkerEnv+"=1", "GOTRACEBACK=none", "GORACE="+gorace)
}

// evaluate renders the template in a new worker process, bounded by ctx and
// the configured Timeout, and maps the worker's reply or fate to the
// evaluator contract.
func (t *isolatedTemplate) evaluate(ctx context.Context, arg templateArg) (string, error) {
	ctxJSON, err := arg.jsonCode()
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("smscourier: template %s not evaluated: %w", t.name, err)
	}
	reply, err := t.run(ctx, workerJob{Op: "evaluate", Ctx: ctxJSON}, t.cfg.Timeout)
	if err != nil {
		var we *workerError
		if errors.As(err, &we) {
			return "", fmt.Errorf("%w: %s: %s", ErrTemplate, t.name, we.msg)
		}
		return "", fmt.Errorf("smscourier: template %s: %w", t.name, err)
	}
	switch reply.Kind {
	case replyOK:
		return reply.Output, nil
	case replyCancel:
		return "", ErrCancel
	case replyTemplate:
		// A worker of an older version sends the location inside Message.
		return "", newTemplateError(reply.Where, reply.Message, reply.Size)
	default:
		return "", fmt.Errorf("%w: %s: worker replied %q to an evaluation job", ErrTemplate, t.name, reply.Kind)
	}
}

// workerError is a worker that failed to reply: it crashed, was killed at
// its time limit, could not be started, or replied nonsense. msg never
// holds template source or message data.
type workerError struct{ msg string }

func (e *workerError) Error() string { return e.msg }

// run starts one worker for job, waits for it within ctx and limit,
// and returns its reply. When ctx ends first the error wraps ctx.Err();
// every other failure is a *workerError.
func (t *isolatedTemplate) run(ctx context.Context, job workerJob, limit time.Duration) (workerReply, error) {
	select {
	case workerSlots <- struct{}{}:
		defer func() { <-workerSlots }()
	case <-ctx.Done():
		return workerReply{}, fmt.Errorf("no worker slot free: %w", ctx.Err())
	}
	job.Name, job.Source = t.name, t.src
	job.MemoryLimit, job.TimeoutMS = t.cfg.MemoryLimit, limit.Milliseconds()
	in, err := json.Marshal(&job)
	if err != nil {
		return workerReply{}, &workerError{"cannot encode the worker job"}
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(wctx, t.path)
	cmd.Args = t.args
	cmd.Env = t.env
	cmd.Stdin = bytes.NewReader(in)
	stdout := &cappedBuffer{max: maxWorkerReply}
	stderr := &cappedBuffer{max: maxWorkerStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = workerWaitDelay
	err = cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return workerReply{}, fmt.Errorf("worker stopped: %w", ctx.Err())
		case wctx.Err() != nil:
			return workerReply{}, &workerError{fmt.Sprintf("worker exceeded its time limit of %s", limit)}
		case errors.As(err, &ee):
			return workerReply{}, &workerError{"worker died: " + ee.ProcessState.String() + crashHint(stderr.buf.Bytes(), t.cfg.MemoryLimit)}
		default:
			return workerReply{}, &workerError{fmt.Sprintf("worker failed: %v", err)}
		}
	}
	if stdout.over {
		return workerReply{}, &workerError{fmt.Sprintf("worker reply is over %d bytes", maxWorkerReply)}
	}
	var reply workerReply
	if err := json.Unmarshal(stdout.buf.Bytes(), &reply); err != nil || reply.Protocol != workerProtocol {
		return workerReply{}, &workerError{"worker exited without a valid reply (is it a template worker that calls smscourier.ServeTemplateWorker?)"}
	}
	return reply, nil
}

// crashHint explains a crashed worker from the start of its standard
// error: ": out of memory (limit N bytes)" when the worker's watchdog, the
// Go runtime or the race detector's runtime reports running out of memory,
// and the Go runtime's "fatal error:" or fatal signal line, shortened, if
// there is one;
// "" when there is nothing to go on. Other output is left out: it could
// echo data.
func crashHint(stderr []byte, memLimit int64) string {
	var fatal string
	oom := false
	for line := range strings.Lines(string(stderr)) {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "out of memory") || strings.Contains(line, "cannot allocate memory") ||
			strings.Contains(line, "ThreadSanitizer failed to allocate") || strings.Contains(line, "pthread_create failed") {
			oom = true
		}
		msg, ok := strings.CutPrefix(line, "fatal error: ")
		if ok {
			msg = "fatal error: " + msg
		} else if sig, _, found := strings.Cut(line, ": "); found && strings.HasPrefix(sig, "SIG") && sig == strings.ToUpper(sig) {
			msg, ok = line, true // the Go runtime's report of a fatal signal
		}
		if ok && fatal == "" {
			if len(msg) > 120 {
				msg = msg[:120] + "..."
			}
			fatal = strings.ToValidUTF8(msg, "")
		}
	}
	switch {
	case oom && fatal != "":
		return fmt.Sprintf(": out of memory (limit %d bytes; %s)", memLimit, fatal)
	case oom:
		return fmt.Sprintf(": out of memory (limit %d bytes)", memLimit)
	case fatal != "":
		return " (" + fatal + ")"
	}
	return ""
}

// cappedBuffer keeps the first max bytes written to it and notes whether
// more came. It never fails a write, so the worker is not blocked.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		b.buf.Write(p[:max(room, 0)])
	} else {
		b.buf.Write(p)
	}
	return len(p), nil
}
