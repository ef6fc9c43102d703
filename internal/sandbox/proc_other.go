//go:build !unix

package sandbox

import (
	"os"
	"os/exec"
	"time"
)

// setProcAttr leaves the worker's process attributes as they are.
func setProcAttr(*exec.Cmd) {}

// ignoreStopSignals does nothing where there are no Unix signals.
func ignoreStopSignals() {}

// isBrokenPipe reports false: other systems report the write to a worker
// that exited differently, and the read that follows sees the end.
func isBrokenPipe(error) bool { return false }

// blockingPipe returns an ordinary pipe.
func blockingPipe() (r, w *os.File, err error) { return os.Pipe() }

// spinUntilReadable returns at once: elsewhere the reads sleep.
func spinUntilReadable(int, time.Duration) {}
