package sandbox

import (
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
	"github.com/smscourier/smscourier/internal/jsonnetutil"
)

const (
	// workerMemoryPoll is how often a worker checks its memory use.
	workerMemoryPoll = 5 * time.Millisecond
	// workerProtocol identifies replies of this protocol version.
	workerProtocol = "smscourier-template-worker/1"
)

// hookCalled records that Serve ran in this process, so that
// re-executing the current binary is known to reach it.
var hookCalled atomic.Bool

// Serve makes the current program its own worker. In a process started as
// a worker (WorkerEnv=1 in its environment) it reads one job from standard
// input, parses the template and, for an evaluation job, evaluates it,
// writes the reply to standard output and exits the process; it never
// returns. In any other process it records that the hook is in place and
// returns at once. A worker applies its memory limit before it parses.
func Serve() {
	hookCalled.Store(true)
	if os.Getenv(WorkerEnv) != "1" {
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
		memLimit = DefaultMemoryLimit
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
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
	if len(out) > maxOutput {
		return workerReply{Kind: replyTemplate, Message: fmt.Sprintf("%s: rendered output is %d bytes, over the limit of %d in isolated mode", job.Name, len(out), maxOutput)}
	}
	return workerReply{Kind: replyOK, Output: out}
}
