// Package sandbox evaluates templates in worker processes, one per
// evaluation: a worker that exceeds its wall-clock limit is killed, one
// that exceeds its memory limit dies, and either way the host goes on. A
// worker is the host's own program re-executed with WorkerEnv=1 in its
// environment (its main calls Serve first), or a program named in
// Config.Command that serves the same protocol.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/smscourier/smscourier/internal/jsonnetutil"
)

const (
	// WorkerEnv is the environment variable that marks a process as a
	// worker: the host starts each worker with WorkerEnv=1.
	WorkerEnv = "SMSCOURIER_TEMPLATE_WORKER"
	// DefaultTimeout is the wall-clock limit of one worker when
	// Config.Timeout is zero.
	DefaultTimeout = 2 * time.Second
	// DefaultMemoryLimit is the memory limit of one worker when
	// Config.MemoryLimit is zero.
	DefaultMemoryLimit = 256 << 20

	// maxOutput caps the output a worker renders: 16 times the courier's
	// DefaultMaxBodySize. A larger output is a template error.
	maxOutput = 4 << 20
	// maxWorkerReply caps how much of a worker's standard output the host
	// keeps: the output, JSON-escaped, plus room for the rest of the reply.
	maxWorkerReply = 2*maxOutput + 64<<10
	// maxWorkerStderr is how much of the start of a worker's standard
	// error the host keeps to explain a crash: the Go runtime writes its
	// fatal error line first, then a traceback.
	maxWorkerStderr = 4 << 10
	// workerWaitDelay bounds how long the host waits for a killed worker's
	// pipes to close (they could be held by a process the worker started).
	workerWaitDelay = time.Second
)

// Config configures the workers of a Template. See the courier's
// IsolationConfig for what each field means.
type Config struct {
	Command     []string      // empty: the current executable
	Timeout     time.Duration // zero: DefaultTimeout
	MemoryLimit int64         // zero: DefaultMemoryLimit
}

// workerSlots bounds how many workers run at once in this process.
var workerSlots = make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))

// Template evaluates a template in worker processes, one per evaluation.
// It is immutable and safe for concurrent use.
type Template struct {
	name string // diagnostic name: a file name, never the template data
	src  []byte
	path string   // the worker program
	args []string // its arguments, Args[0] included
	env  []string
	cfg  Config
}

// New checks cfg and the source size, then has one worker parse the
// template, so that syntax errors and imports are reported now. A worker
// that crashes while parsing (as on source nested too deep) is an error
// too. The parsing worker gets at least DefaultTimeout.
func New(name string, src []byte, cfg Config) (*Template, error) {
	switch {
	case cfg.Timeout < 0:
		return nil, errors.New("isolated templates: Timeout must not be negative")
	case cfg.MemoryLimit < 0:
		return nil, errors.New("isolated templates: MemoryLimit must not be negative")
	case len(cfg.Command) > 0 && cfg.Command[0] == "":
		return nil, errors.New("isolated templates: Command[0] is empty")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	cfg.Command = append([]string(nil), cfg.Command...)
	if err := jsonnetutil.CheckSize(name, src); err != nil {
		return nil, err
	}
	t := &Template{name: name, src: src, cfg: cfg, env: workerEnv()}
	if len(cfg.Command) == 0 {
		if os.Getenv(WorkerEnv) == "1" {
			// A worker got here: its main did not call the hook first.
			return nil, errors.New("isolated templates: this process is a template worker that did not call smscourier.ServeTemplateWorker first")
		}
		if !hookCalled.Load() {
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
	reply, err := t.run(context.Background(), workerJob{Op: "compile"}, max(cfg.Timeout, DefaultTimeout))
	if err != nil {
		var we *WorkerError
		if errors.As(err, &we) {
			return nil, fmt.Errorf("template %s: parsing in a worker: %s", name, we.Msg)
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
		case WorkerEnv, "GOTRACEBACK", "GOMEMLIMIT":
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
	return append(kept, WorkerEnv+"=1", "GOTRACEBACK=none", "GORACE="+gorace)
}

// Evaluate renders the template in a new worker process with ctxJSON, JSON
// code, bound to the top-level argument ctx, bounded by ctx and the
// configured Timeout. It returns the manifested JSON, or
// jsonnetutil.ErrCancel when the template evaluated error "cancel", a
// *jsonnetutil.Error for another runtime error, a *WorkerError when the
// worker failed to reply, or an error wrapping ctx.Err() when ctx ended
// first.
func (t *Template) Evaluate(ctx context.Context, ctxJSON string) (string, error) {
	reply, err := t.run(ctx, workerJob{Op: "evaluate", Ctx: ctxJSON}, t.cfg.Timeout)
	if err != nil {
		return "", err
	}
	switch reply.Kind {
	case replyOK:
		return reply.Output, nil
	case replyCancel:
		return "", jsonnetutil.ErrCancel
	case replyTemplate:
		// A worker of an older version sends the location inside Message.
		return "", jsonnetutil.NewError(reply.Where, reply.Message, reply.Size)
	default:
		return "", &WorkerError{fmt.Sprintf("worker replied %q to an evaluation job", reply.Kind)}
	}
}

// WorkerError is a worker that failed to reply: it crashed, was killed at
// its time limit, could not be started, or replied nonsense. Msg never
// holds template source or message data.
type WorkerError struct{ Msg string }

// Error returns Msg.
func (e *WorkerError) Error() string { return e.Msg }

// run starts one worker for job, waits for it within ctx and limit,
// and returns its reply. When ctx ends first the error wraps ctx.Err();
// every other failure is a *WorkerError.
func (t *Template) run(ctx context.Context, job workerJob, limit time.Duration) (workerReply, error) {
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
		return workerReply{}, &WorkerError{"cannot encode the worker job"}
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
			return workerReply{}, &WorkerError{fmt.Sprintf("worker exceeded its time limit of %s", limit)}
		case errors.As(err, &ee):
			return workerReply{}, &WorkerError{"worker died: " + ee.ProcessState.String() + crashHint(stderr.buf.Bytes(), t.cfg.MemoryLimit)}
		default:
			return workerReply{}, &WorkerError{fmt.Sprintf("worker failed: %v", err)}
		}
	}
	if stdout.over {
		return workerReply{}, &WorkerError{fmt.Sprintf("worker reply is over %d bytes", maxWorkerReply)}
	}
	var reply workerReply
	if err := json.Unmarshal(stdout.buf.Bytes(), &reply); err != nil || reply.Protocol != workerProtocol {
		return workerReply{}, &WorkerError{"worker exited without a valid reply (is it a template worker that calls smscourier.ServeTemplateWorker?)"}
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
