package smscourier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smscourier/smscourier/internal/jsonnetutil"
	"github.com/smscourier/smscourier/internal/sandbox"
)

// Isolated template evaluation: the defaults and the worker marker.
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
func ServeTemplateWorker() { sandbox.Serve() }

// isolatedTemplate evaluates a template in worker processes, one per
// evaluation. It is immutable and safe for concurrent use.
type isolatedTemplate struct {
	name    string // diagnostic name: a file name, never the template data
	workers *sandbox.Template
}

// newIsolatedTemplate checks the isolation settings and the source size,
// then has one worker parse the template, so that syntax errors and imports
// are reported now.
func newIsolatedTemplate(name string, src []byte, cfg IsolationConfig) (*isolatedTemplate, error) {
	w, err := sandbox.New(name, src, sandbox.Config{Command: cfg.Command, Timeout: cfg.Timeout, MemoryLimit: cfg.MemoryLimit})
	if err != nil {
		return nil, err
	}
	return &isolatedTemplate{name: name, workers: w}, nil
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
	out, err := t.workers.Evaluate(ctx, ctxJSON)
	var we *sandbox.WorkerError
	var je *jsonnetutil.Error
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, jsonnetutil.ErrCancel), errors.As(err, &je):
		return "", engineError(err)
	case errors.As(err, &we):
		return "", fmt.Errorf("%w: %s: %s", ErrTemplate, t.name, we.Msg)
	default: // ctx ended
		return "", fmt.Errorf("smscourier: template %s: %w", t.name, err)
	}
}
