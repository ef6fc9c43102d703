package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/smscourier/smscourier/internal/jsonnetutil"
)

const (
	// workerMemoryPoll is how often a worker checks its memory use while
	// it runs a job.
	workerMemoryPoll = 5 * time.Millisecond
	// workerProtocol identifies the frames of this protocol version.
	workerProtocol = "smscourier-template-worker/2"
)

// The worker entry. A Go program runs the init functions of the packages
// it imports before its main, so a host re-executed with WorkerEnv=1
// becomes a worker here, before its own main runs, and never returns.
func init() {
	if os.Getenv(WorkerEnv) == "1" {
		os.Exit(serveWorker(os.Stdin, os.Stdout))
	}
}

// Serve serves as a worker, and never returns, in a process whose
// environment has WorkerEnv=1; in any other process it returns at once.
// The package's init function already does this before main runs, so
// Serve matters only to a worker program that sets WorkerEnv itself.
func Serve() {
	if os.Getenv(WorkerEnv) == "1" {
		os.Exit(serveWorker(os.Stdin, os.Stdout))
	}
}

// workerJob is one frame from the host.
type workerJob struct {
	Op          string `json:"op"` // "compile" or "evaluate"
	ID          uint64 `json:"id"` // the template, unique in the host
	Name        string `json:"name,omitempty"`
	Source      []byte `json:"source,omitempty"` // sent once per template and worker
	Ctx         string `json:"ctx,omitempty"`
	MemoryLimit int64  `json:"memory_limit"`
	TimeoutMS   int64  `json:"timeout_ms"`
	MaxOutput   int    `json:"max_output"`
	// SpinMicros is how long the worker may poll for its next job after
	// this reply before it sleeps in the read: the host allows it when it
	// has CPUs to spare.
	SpinMicros int64 `json:"spin_us,omitempty"`
}

// Reply kinds.
const (
	replyOK       = "ok"
	replyCancel   = "cancel"   // the template evaluated error "cancel"
	replyTemplate = "template" // a runtime error: Where is "NAME:LINE:COL", Message the text (or Message is "NAME: text")
	replyInvalid  = "invalid"  // the template does not compile; Message is as New reports it
	replyHello    = "hello"    // the first frame of a worker
)

// workerReply is one frame from a worker.
type workerReply struct {
	Protocol string `json:"protocol,omitempty"` // set in the hello frame
	Kind     string `json:"kind"`
	Output   string `json:"output,omitempty"`
	Message  string `json:"message,omitempty"`
	// Where is set with Message for a runtime error of the template: the
	// location ("NAME:LINE:COL"), while Message is the engine's text alone
	// (its first 64 KiB) and Size the text's whole length.
	Where string `json:"where,omitempty"`
	Size  int    `json:"size,omitempty"`
	// InUse is the memory the worker's Go runtime holds after the job (in
	// the hello frame: at the start), for the host's growth check.
	InUse uint64 `json:"in_use"`
}

// compiled is a template a worker has parsed: its AST, or why it does not
// compile.
type compiled struct {
	name string
	node ast.Node
	err  error
}

// worker is the state of a worker process between jobs.
type worker struct {
	templates map[uint64]*compiled
	vm        *jsonnet.VM
	watch     memoryWatch
	memLimit  int64 // the limit the kernel limit was set for, at the first job
	soft      int64 // the Go runtime's soft memory limit set last
}

// serveWorker answers jobs from r on w until r ends, and returns the exit
// code.
func serveWorker(r io.Reader, w io.Writer) int {
	ignoreStopSignals()
	wk := &worker{templates: make(map[uint64]*compiled), vm: jsonnetutil.NewVM()}
	wk.watch.start()
	if err := writeFrame(w, &workerReply{Protocol: workerProtocol, Kind: replyHello, InUse: inUse()}); err != nil {
		return 3
	}
	br := bufio.NewReaderSize(r, 64<<10)
	inFD := -1
	if f, ok := r.(*os.File); ok {
		inFD = int(f.Fd())
	}
	// After a reply the worker may spin for the next job, when the host
	// allowed it in the last job and the last wait for a job was no longer
	// than the spin: a host whose jobs come further apart gets no spinning,
	// after one spin at most, until they come close again.
	var spin, lastWait time.Duration
	var replied time.Time
	for {
		if spin > 0 && lastWait <= spin && inFD >= 0 && br.Buffered() == 0 {
			spinUntilReadable(inFD, spin)
		}
		var job workerJob
		if err := readFrame(br, maxJobFrame, &job); err != nil {
			if errors.Is(err, io.EOF) {
				return 0 // the host closed the pipe: retired or gone
			}
			fmt.Fprintln(os.Stderr, "smscourier template worker: cannot read the job")
			return 3
		}
		if !replied.IsZero() {
			lastWait = time.Since(replied)
		}
		spin = min(time.Duration(job.SpinMicros)*time.Microsecond, time.Millisecond)
		reply := wk.run(&job)
		reply.InUse = inUse()
		if err := writeFrame(w, &reply); err != nil {
			return 3
		}
		replied = time.Now()
	}
}

// run applies the job's limits, runs it, and lifts the limits.
func (wk *worker) run(job *workerJob) workerReply {
	memLimit, timeout := job.MemoryLimit, time.Duration(job.TimeoutMS)*time.Millisecond
	if memLimit <= 0 {
		memLimit = DefaultMemoryLimit
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if wk.memLimit == 0 {
		// The same for every job of this worker.
		setHardMemoryLimit(memLimit)
		debug.SetMaxStack(int(min(max(memLimit/4, 16<<20), 1<<30)))
		debug.SetGCPercent(gcPercent(memLimit))
		wk.memLimit = memLimit
	}
	base := inUse()
	// The soft limit follows the base, when it moved by more than 1 MiB.
	if soft := int64(base) + memLimit - memLimit/8; soft > wk.soft+1<<20 || soft < wk.soft-1<<20 {
		debug.SetMemoryLimit(soft)
		wk.soft = soft
	}
	wk.watch.begin(base, uint64(memLimit), time.Now().Add(timeout+time.Second))
	reply := wk.runJob(job)
	wk.watch.end()
	return reply
}

// gcPercent is the GOGC of a worker whose jobs have memory limit
// memLimit. A worker's live heap is small, a few MiB, and go-jsonnet
// allocates about 100 KiB for a small template, so at Go's default of 100
// a worker collects every 40 or so evaluations; each collection wakes the
// runtime's other threads and scans the whole program's globals, and a
// warm render cost about a third more. At 400 the heap goal is about
// 16 MiB, collections come 5 times less often, and the growth check
// (maxGrowth, half the limit) still has room: the percent is lowered for
// limits under 64 MiB so that the goal stays under a quarter of the limit.
func gcPercent(memLimit int64) int {
	return int(min(max(memLimit*100/(16<<20), 100), 400))
}

// runJob compiles the job's template, unless this worker has it already,
// and, for an evaluation, evaluates it the way the in-process evaluator
// does, except that tailstrict is allowed and the source is not
// depth-checked: this process may crash.
func (wk *worker) runJob(job *workerJob) (reply workerReply) {
	defer func() {
		if recover() != nil {
			// The panic value could hold template data: leave it out.
			reply = workerReply{Kind: replyTemplate, Message: job.Name + ": internal error of the template engine"}
			if job.Op == "compile" {
				reply.Kind, reply.Message = replyInvalid, "template "+reply.Message
			}
		}
	}()
	t := wk.templates[job.ID]
	if t == nil {
		if job.Source == nil {
			return workerReply{Kind: replyTemplate, Message: job.Name + ": worker does not have the template"}
		}
		t = compile(job.Name, job.Source)
		wk.templates[job.ID] = t
	}
	if t.err != nil {
		if job.Op == "compile" {
			return workerReply{Kind: replyInvalid, Message: t.err.Error()}
		}
		return workerReply{Kind: replyTemplate, Message: strings.TrimPrefix(t.err.Error(), "template ")}
	}
	if job.Op == "compile" {
		return workerReply{Kind: replyOK}
	}
	// The context as an AST, not JSON text for go-jsonnet's parser: the
	// host bounded its depth.
	dec := json.NewDecoder(strings.NewReader(job.Ctx))
	dec.UseNumber()
	var ctx any
	if err := dec.Decode(&ctx); err != nil {
		return workerReply{Kind: replyTemplate, Message: t.name + ": the worker got a context that is not JSON"}
	}
	wk.vm.TLANode("ctx", jsonnetutil.ValueNode(ctx))
	out, err := wk.vm.Evaluate(t.node)
	wk.vm.TLAReset()
	if err != nil {
		var je *jsonnetutil.Error
		if errors.As(jsonnetutil.EvalError(t.name, err), &je) {
			return workerReply{Kind: replyTemplate, Where: je.Where, Message: je.Msg, Size: je.Size}
		}
		return workerReply{Kind: replyCancel} // the only other outcome of EvalError
	}
	maxOut := job.MaxOutput
	if maxOut <= 0 {
		maxOut = DefaultMaxOutput
	}
	if len(out) > maxOut {
		return workerReply{Kind: replyTemplate, Message: fmt.Sprintf("%s: rendered output is %d bytes, over the worker limit of %d", t.name, len(out), maxOut)}
	}
	return workerReply{Kind: replyOK, Output: out}
}

// compile parses a template and refuses imports.
func compile(name string, src []byte) *compiled {
	node, err := jsonnet.SnippetToAST(name, string(src))
	if err == nil {
		err = jsonnetutil.RefuseConstructs(name, node, true) // a worker may overflow its stack
	} else {
		err = jsonnetutil.StaticError(name, err)
	}
	return &compiled{name: name, node: node, err: err}
}

// memoryWatch exits the worker when a job makes the Go runtime hold more
// than its limit beyond what it held when the job began, and when a job
// runs past its backstop, a second after its time limit, in case the host
// is gone and cannot kill the worker. It polls every workerMemoryPoll
// while jobs come, and sleeps when none came for watchIdle, so that a
// busy worker pays no wake-up per job and an idle one no polling.
type memoryWatch struct {
	base, limit atomic.Uint64
	backstop    atomic.Int64 // unix nanoseconds
	lastEnd     atomic.Int64 // unix nanoseconds
	running     atomic.Bool
	parked      atomic.Bool
	wake        chan struct{}
}

// watchIdle is how long the watch polls after the last job.
const watchIdle = time.Second

func (m *memoryWatch) start() {
	m.wake = make(chan struct{}, 1)
	go m.loop()
}

func (m *memoryWatch) begin(base, limit uint64, backstop time.Time) {
	m.base.Store(base)
	m.limit.Store(limit)
	m.backstop.Store(backstop.UnixNano())
	m.running.Store(true)
	if m.parked.CompareAndSwap(true, false) {
		m.wake <- struct{}{}
	}
}

func (m *memoryWatch) end() {
	m.running.Store(false)
	m.lastEnd.Store(time.Now().UnixNano())
}

func (m *memoryWatch) loop() {
	for {
		m.parked.Store(true)
		if !m.running.Load() || !m.parked.CompareAndSwap(true, false) {
			<-m.wake
		}
		tick := time.NewTicker(workerMemoryPoll)
		for now := range tick.C {
			if !m.running.Load() {
				if now.UnixNano()-m.lastEnd.Load() > int64(watchIdle) {
					break
				}
				continue
			}
			base, limit := m.base.Load(), m.limit.Load()
			if used := inUse(); m.running.Load() && used > base && used-base > limit {
				fmt.Fprintf(os.Stderr, "smscourier template worker: out of memory: over the limit of %d bytes\n", limit)
				os.Exit(2)
			}
			if m.running.Load() && now.UnixNano() > m.backstop.Load() {
				fmt.Fprintln(os.Stderr, "smscourier template worker: time limit exceeded")
				os.Exit(2)
			}
		}
		tick.Stop()
	}
}

// inUse returns the memory the Go runtime holds from the system and has
// not released.
func inUse() uint64 {
	samples := [2]metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(samples[:])
	return samples[0].Value.Uint64() - samples[1].Value.Uint64()
}
