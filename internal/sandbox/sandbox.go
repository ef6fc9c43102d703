// Package sandbox evaluates templates in pooled worker processes: a
// worker that exceeds a job's wall-clock limit is killed, one that exceeds
// its memory limit dies, and either way the host goes on and the next job
// gets another worker. A worker is the host's own program re-executed with
// WorkerEnv=1 in its environment, which this package's init function turns
// into a worker before the program's main runs, or a program named in
// Config.Command that serves the same protocol.
//
// The protocol: each side writes frames, a 4-byte big-endian length and a
// JSON object. A worker first writes a hello reply, then answers each job
// frame with one reply frame, in order, until its standard input ends.
package sandbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smscourier/smscourier/internal/jsonnetutil"
)

const (
	// WorkerEnv is the environment variable that marks a process as a
	// worker: the host starts each worker with WorkerEnv=1.
	WorkerEnv = "SMSCOURIER_TEMPLATE_WORKER"
	// DefaultTimeout is the wall-clock limit of one job when
	// Config.Timeout is zero.
	DefaultTimeout = 2 * time.Second
	// DefaultMemoryLimit is the memory limit of one job when
	// Config.MemoryLimit is zero.
	DefaultMemoryLimit = 256 << 20
	// DefaultMaxOutput is the output limit of one job when
	// Config.MaxOutput is zero: 16 times the courier's default body limit.
	DefaultMaxOutput = 4 << 20
	// DefaultMaxJobs is how many jobs a worker serves before it is
	// replaced, when Config.MaxJobs is zero.
	DefaultMaxJobs = 10000
	// DefaultIdleTimeout is how long a worker may wait for a job before it
	// is stopped, when Config.IdleTimeout is zero.
	DefaultIdleTimeout = 30 * time.Second

	// maxWorkerStderr is how much of a dead worker's standard error the
	// host reads to explain the death: the Go runtime writes its fatal
	// error line first, then a short traceback (GOTRACEBACK=none).
	maxWorkerStderr = 64 << 10
	// maxJobFrame caps a job frame: the source and the context, both
	// bounded by the host, JSON-encoded.
	maxJobFrame = 4*jsonnetutil.MaxSource + 4<<20
	// startTimeout bounds how long a new worker may take to say hello.
	startTimeout = 10 * time.Second
)

// DefaultMaxWorkers is how many workers a pool runs at most when
// Config.MaxWorkers is zero: two per CPU the Go runtime uses, at least 4.
var DefaultMaxWorkers = max(4, 2*runtime.GOMAXPROCS(0))

// Config configures the workers of a Template. See the courier's
// IsolationConfig for what each field means.
type Config struct {
	Command     []string      // empty: the current executable
	Timeout     time.Duration // zero: DefaultTimeout
	MemoryLimit int64         // zero: DefaultMemoryLimit
	MaxOutput   int           // zero: DefaultMaxOutput
	MaxWorkers  int           // zero: DefaultMaxWorkers
	MaxJobs     int           // zero: DefaultMaxJobs
	IdleTimeout time.Duration // zero: DefaultIdleTimeout
}

// withDefaults checks c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Timeout < 0:
		return c, errors.New("field Timeout must not be negative")
	case c.MemoryLimit < 0:
		return c, errors.New("field MemoryLimit must not be negative")
	case c.MaxOutput < 0:
		return c, errors.New("field MaxOutput must not be negative")
	case c.MaxWorkers < 0:
		return c, errors.New("field MaxWorkers must not be negative")
	case c.MaxJobs < 0:
		return c, errors.New("field MaxJobs must not be negative")
	case c.IdleTimeout < 0:
		return c, errors.New("field IdleTimeout must not be negative")
	case len(c.Command) > 0 && c.Command[0] == "":
		return c, errors.New("field Command[0] is empty")
	}
	c.Command = append([]string(nil), c.Command...)
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = DefaultMaxWorkers
	}
	if c.MaxJobs == 0 {
		c.MaxJobs = DefaultMaxJobs
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c, nil
}

// Check checks cfg and resolves its Command, as New does, without
// starting a worker.
func Check(cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if len(cfg.Command) > 0 {
		_, _, err = program(cfg.Command)
	}
	return err
}

// maxGrowth is how much more memory than at its start a worker may hold
// after a job with memory limit memLimit and still serve the next one.
func maxGrowth(memLimit int64) int64 { return memLimit / 2 }

// maxReply caps a reply frame for an output limit: the output,
// JSON-escaped, plus room for the rest of the reply.
func maxReply(maxOutput int) int { return 2*maxOutput + 128<<10 }

// ErrUnavailable is wrapped by New when no worker can be started: the
// program cannot be re-executed, or what runs does not serve the protocol.
var ErrUnavailable = errors.New("template workers are unavailable")

// templateIDs numbers templates for the workers' caches.
var templateIDs atomic.Uint64

// Template evaluates a template in pooled worker processes. It is
// immutable and safe for concurrent use.
type Template struct {
	id   uint64
	name string // diagnostic name: a file name, never the template data
	src  []byte
	cfg  Config
	pool *pool
}

// New checks cfg and the source size, then has a worker of the pool for
// cfg parse the template, so that syntax errors and imports are reported
// now; the pool starts here if it has no worker yet. A worker that crashes
// while parsing (as on source nested too deep) is an error too. The
// parsing job gets at least DefaultTimeout. When no worker can be started
// the error wraps ErrUnavailable.
func New(name string, src []byte, cfg Config) (*Template, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("isolated templates: %w", err)
	}
	if err := jsonnetutil.CheckSize(name, src); err != nil {
		return nil, err
	}
	p, err := poolFor(cfg)
	if err != nil {
		return nil, err
	}
	t := &Template{id: templateIDs.Add(1), name: name, src: src, cfg: cfg, pool: p}
	reply, err := t.run(context.Background(), "compile", "", max(cfg.Timeout, DefaultTimeout))
	if err != nil {
		var we *WorkerError
		switch {
		case errors.Is(err, ErrUnavailable):
			return nil, err
		case errors.As(err, &we):
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

// Evaluate renders the template in a worker with ctxJSON, JSON code, bound
// to the top-level argument ctx, bounded by ctx and the configured
// Timeout. It returns the manifested JSON, or jsonnetutil.ErrCancel when
// the template evaluated error "cancel", a *jsonnetutil.Error for another
// runtime error, a *WorkerError when the worker failed to reply, or an
// error wrapping ctx.Err() when ctx ended first. Only this evaluation
// fails when its worker dies; the next one gets another worker.
func (t *Template) Evaluate(ctx context.Context, ctxJSON string) (string, error) {
	reply, err := t.run(ctx, "evaluate", ctxJSON, t.cfg.Timeout)
	if err != nil {
		return "", err
	}
	switch reply.Kind {
	case replyOK:
		return reply.Output, nil
	case replyCancel:
		return "", jsonnetutil.ErrCancel
	case replyTemplate:
		return "", jsonnetutil.NewError(reply.Where, reply.Message, reply.Size)
	default:
		return "", &WorkerError{fmt.Sprintf("worker replied %q to an evaluation job", reply.Kind)}
	}
}

// run has a worker of the pool do one job within ctx and limit.
func (t *Template) run(ctx context.Context, op, ctxJSON string, limit time.Duration) (workerReply, error) {
	job := workerJob{
		Op: op, ID: t.id, Name: t.name, Ctx: ctxJSON,
		MemoryLimit: t.cfg.MemoryLimit, TimeoutMS: limit.Milliseconds(), MaxOutput: t.cfg.MaxOutput,
	}
	return t.pool.do(ctx, &job, t.src, limit)
}

// WorkerError is a worker that failed to reply: it crashed, was killed at
// its time limit, or replied nonsense. Msg never holds template source or
// message data.
type WorkerError struct{ Msg string }

// Error returns Msg.
func (e *WorkerError) Error() string { return e.Msg }

// writeFrame writes v as one frame in one write.
func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	frame := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(frame, uint32(len(b)))
	_, err = w.Write(append(frame, b...))
	return err
}

// errFrameTooLarge is a frame over the reader's limit.
var errFrameTooLarge = errors.New("frame too large")

// readFrame reads one frame of at most limit bytes into v. A clean end of
// r before the frame is io.EOF.
func readFrame(r io.Reader, limit int, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if uint64(size) > uint64(limit) {
		return errFrameTooLarge
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return json.Unmarshal(b, v)
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
