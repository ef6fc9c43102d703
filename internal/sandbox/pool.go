package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxKnown and maxKnownBytes bound the templates a worker keeps
	// parsed: a worker that holds more is replaced.
	maxKnown      = 64
	maxKnownBytes = 8 << 20
	// closeWait is how long a retired worker may take to exit after its
	// standard input is closed before it is killed.
	closeWait = 2 * time.Second
	// stderrWait bounds the read of a dead worker's standard error, which
	// a process it started could hold open.
	stderrWait = 100 * time.Millisecond

	// hostSpin is how long the host polls for a reply before it sleeps in
	// the read, and workerSpin how long a worker polls for its next job
	// after a reply, when spinning is allowed (see spinAllowed).
	hostSpin   = 2 * time.Millisecond
	workerSpin = 200 * time.Microsecond
)

// busyJobs counts the jobs that workers are running for this process,
// across pools.
var busyJobs atomic.Int32

// spinAllowed reports whether a job that makes busy jobs in flight may
// spin: poll its pipe instead of sleeping in a read. Waking a process that
// sleeps costs its CPU a wake-up, about 80 microseconds each way on the
// virtual machines we measured, as much as the evaluation of a small
// template. Spinning keeps both CPUs awake: the worker's and the host's.
// So a job spins only while its spinning and its worker, two CPUs per job,
// fit in GOMAXPROCS; a busier host sleeps, and so does one with a single
// CPU.
func spinAllowed(busy int32) bool { return 2*int(busy) <= runtime.GOMAXPROCS(0) }

// poolKey identifies a pool: the worker program, the memory limit (a
// worker's kernel limit is set once), and the settings of the workers'
// lives. A job's other limits travel with the job.
type poolKey struct {
	command     string
	memoryLimit int64
	maxWorkers  int
	maxJobs     int
	idleTimeout time.Duration
}

// pools holds the pools of this process, made on first use and kept.
var pools struct {
	sync.Mutex
	m map[poolKey]*pool
}

// pool runs jobs on worker processes. A worker is busy with one job or
// idle; busy workers hold one of the pool's slots, so at most MaxWorkers
// run jobs and at most MaxWorkers live. Idle workers wait, most recently
// used first, until their idle timer stops them. An idle worker holds no
// goroutine in the host.
type pool struct {
	path        string
	args        []string
	env         []string
	maxJobs     int
	idleTimeout time.Duration
	slots       chan struct{}
	started     atomic.Int64 // workers started, for tests and stats

	mu   sync.Mutex
	idle []*process
}

// poolFor returns the pool for cfg, which has its defaults, making it if
// this process has none yet.
func poolFor(cfg Config) (*pool, error) {
	key := poolKey{strings.Join(cfg.Command, "\x00"), cfg.MemoryLimit, cfg.MaxWorkers, cfg.MaxJobs, cfg.IdleTimeout}
	pools.Lock()
	defer pools.Unlock()
	if p := pools.m[key]; p != nil {
		return p, nil
	}
	path, args, err := program(cfg.Command)
	if err != nil {
		return nil, err
	}
	p := &pool{
		path: path, args: args, env: workerEnv(),
		maxJobs: cfg.MaxJobs, idleTimeout: cfg.IdleTimeout,
		slots: make(chan struct{}, cfg.MaxWorkers),
	}
	if pools.m == nil {
		pools.m = make(map[poolKey]*pool)
	}
	pools.m[key] = p
	return p, nil
}

// program resolves the worker program: command, through PATH, or else the
// running executable.
func program(command []string) (path string, args []string, err error) {
	if len(command) > 0 {
		path, err := exec.LookPath(command[0])
		if err == nil {
			path, err = filepath.Abs(path)
		}
		if err != nil {
			return "", nil, fmt.Errorf("worker command: %v", err)
		}
		return path, command, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("%w: cannot find the current executable to re-execute: %v", ErrUnavailable, err)
	}
	path = exe
	if runtime.GOOS == "linux" {
		// The running binary itself, even if a deploy replaced the file.
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			path = "/proc/self/exe"
		}
	}
	return path, []string{exe}, nil
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

// do runs job on a worker within ctx and limit, sending src with it if
// that worker has not parsed the template yet. When ctx ends first the
// error wraps ctx.Err(); a worker that cannot start is an error wrapping
// ErrUnavailable; every other failure is a *WorkerError.
func (p *pool) do(ctx context.Context, job *workerJob, src []byte, limit time.Duration) (workerReply, error) {
	if err := ctx.Err(); err != nil {
		// A worker could answer before the kill that ctx orders lands.
		return workerReply{}, fmt.Errorf("no template worker started: %w", err)
	}
	w, err := p.acquire(ctx)
	if err != nil {
		return workerReply{}, err
	}
	reply, err := w.do(ctx, job, src, limit)
	keep := err == nil && !w.stale && w.jobs < p.maxJobs &&
		reply.InUse <= w.base+uint64(maxGrowth(job.MemoryLimit)) &&
		len(w.known) <= maxKnown && w.knownBytes <= maxKnownBytes
	p.release(w, keep)
	return reply, err
}

// acquire takes a slot, then the most recently used idle worker or a new
// one.
func (p *pool) acquire(ctx context.Context) (*process, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("no template worker free: %w", ctx.Err())
	}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.timer.Stop()
		return w, nil
	}
	p.mu.Unlock()
	w, err := p.start(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return w, nil
}

// release makes w idle again, or retires it, and frees its slot.
func (p *pool) release(w *process, keep bool) {
	if keep {
		p.mu.Lock()
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		w.timer.Reset(p.idleTimeout)
	} else if !w.dead {
		go w.close()
	}
	<-p.slots
}

// expire stops w if it is still idle.
func (p *pool) expire(w *process) {
	p.mu.Lock()
	found := false
	for i, x := range p.idle {
		if x == w {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			found = true
			break
		}
	}
	p.mu.Unlock()
	if found {
		w.close()
	}
}

// process is the host's side of one worker.
type process struct {
	cmd        *exec.Cmd
	in         *os.File // the worker's standard input
	out        *os.File // its standard output
	errs       *os.File // its standard error
	rd         *bufio.Reader
	outFD      int    // the descriptor of out, for polling
	base       uint64 // the worker's memory in use at its start
	known      map[uint64]bool
	knownBytes int
	jobs       int
	timer      *time.Timer // stops the worker when it idles too long
	stale      bool        // killed just after its reply: not to be used again
	dead       bool
}

// start starts a worker and waits, within ctx and startTimeout, for its
// hello.
func (p *pool) start(ctx context.Context) (*process, error) {
	// The job and reply pipes block: a goroutine blocked in a read wakes as
	// soon as the other side writes, without a round through the network
	// poller. Time limits kill the worker instead, which ends the read.
	// Standard error is read only after a death, with a deadline.
	var files [6]*os.File // in (r, w), out (r, w), errs (r, w)
	for i := 0; i < len(files); i += 2 {
		var r, w *os.File
		var err error
		if i < 4 {
			r, w, err = blockingPipe()
		} else {
			r, w, err = os.Pipe()
		}
		if err != nil {
			closeAll(files[:i]...)
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		files[i], files[i+1] = r, w
	}
	cmd := exec.Command(p.path)
	cmd.Args = p.args
	cmd.Env = p.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
	setProcAttr(cmd)
	err := cmd.Start()
	closeAll(files[0], files[3], files[5])
	if err != nil {
		closeAll(files[1], files[2], files[4])
		return nil, fmt.Errorf("%w: cannot start a worker: %v", ErrUnavailable, err)
	}
	p.started.Add(1)
	w := &process{
		cmd: cmd, in: files[1], out: files[2], errs: files[4],
		rd:    bufio.NewReaderSize(files[2], 16<<10),
		outFD: int(files[2].Fd()),
		known: make(map[uint64]bool),
	}
	stop := w.bound(ctx, startTimeout)
	var hello workerReply
	err = readFrame(w.rd, 1<<10, &hello)
	fired := stop()
	if err == nil && fired == 0 && hello.Kind == replyHello && hello.Protocol == workerProtocol {
		w.base = hello.InUse
		w.timer = time.AfterFunc(time.Hour, func() { p.expire(w) })
		w.timer.Stop()
		return w, nil
	}
	state, stderr := w.kill()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("template worker start: %w", ctx.Err())
	}
	why := "exited: " + state + crashHint(stderr, 0)
	switch {
	case fired == limitFired:
		why = fmt.Sprintf("did not say hello within %s", startTimeout)
	case err == nil:
		why = "said something else than hello"
	}
	return nil, fmt.Errorf("%w: the re-executed program is not a template worker of this version (it %s)", ErrUnavailable, why)
}

// Why a worker was killed during a job.
const (
	limitFired   = 1 // the time limit
	contextFired = 2 // the caller's context ended
)

// bound kills the worker when limit passes or ctx ends, whichever comes
// first. stop disarms both and returns which fired, or 0; a worker that
// was killed must not be used again.
func (w *process) bound(ctx context.Context, limit time.Duration) (stop func() int32) {
	var fired atomic.Int32
	kill := func(why int32) {
		if fired.CompareAndSwap(0, why) {
			_ = w.cmd.Process.Kill()
		}
	}
	t := time.AfterFunc(limit, func() { kill(limitFired) })
	unregister := context.AfterFunc(ctx, func() { kill(contextFired) })
	return func() int32 {
		stopped, unregistered := t.Stop(), unregister()
		if !stopped || !unregistered {
			// A callback ran or is running: make sure it is decided.
			fired.CompareAndSwap(0, limitFired)
		}
		return fired.Load()
	}
}

// do sends one job and reads its reply. On failure the worker is killed.
func (w *process) do(ctx context.Context, job *workerJob, src []byte, limit time.Duration) (workerReply, error) {
	job.Source = nil
	if !w.known[job.ID] {
		job.Source = src
	}
	spin := spinAllowed(busyJobs.Add(1))
	defer busyJobs.Add(-1)
	job.SpinMicros = 0
	if spin {
		job.SpinMicros = workerSpin.Microseconds()
	}
	stop := w.bound(ctx, limit)
	var reply workerReply
	err := writeFrame(w.in, job)
	if err == nil && spin && w.rd.Buffered() == 0 {
		// A kill at the time limit ends the spin too: the pipe closes.
		spinUntilReadable(w.outFD, hostSpin)
	}
	if err == nil {
		err = readFrame(w.rd, maxReply(job.MaxOutput), &reply)
	}
	fired := stop()
	if err == nil {
		w.jobs++
		if job.Source != nil {
			w.known[job.ID] = true
			w.knownBytes += len(job.Source)
		}
		// A kill that came just after the reply leaves a dead worker.
		w.stale = fired != 0
		return reply, nil
	}
	state, stderr := w.kill()
	switch {
	case fired == contextFired || ctx.Err() != nil:
		return workerReply{}, fmt.Errorf("template worker stopped: %w", ctx.Err())
	case fired == limitFired:
		return workerReply{}, &WorkerError{fmt.Sprintf("worker exceeded its time limit of %s", limit)}
	case errors.Is(err, errFrameTooLarge):
		return workerReply{}, &WorkerError{fmt.Sprintf("worker reply is over %d bytes", maxReply(job.MaxOutput))}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrClosed), isBrokenPipe(err):
		return workerReply{}, &WorkerError{"worker died: " + state + crashHint(stderr, job.MemoryLimit)}
	default:
		return workerReply{}, &WorkerError{"worker replied something that is not a reply of this protocol"}
	}
}

// kill kills the worker, waits for it, and returns how it ended and the
// start of its standard error.
func (w *process) kill() (state string, stderr []byte) {
	w.dead = true
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	_ = w.errs.SetReadDeadline(time.Now().Add(stderrWait))
	stderr, _ = io.ReadAll(io.LimitReader(w.errs, maxWorkerStderr))
	closeAll(w.in, w.out, w.errs)
	return w.cmd.ProcessState.String(), stderr
}

// close retires an idle worker: its standard input ends, so it exits; one
// that does not exit within closeWait is killed.
func (w *process) close() {
	w.dead = true
	_ = w.in.Close()
	t := time.AfterFunc(closeWait, func() { _ = w.cmd.Process.Kill() })
	_ = w.cmd.Wait()
	t.Stop()
	closeAll(w.out, w.errs)
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}
