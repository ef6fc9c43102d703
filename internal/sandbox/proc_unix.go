//go:build unix

package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setProcAttr puts a worker in a process group of its own, so that a
// terminal's signals (Ctrl-C) reach the host, which may be draining, and
// not its workers.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// ignoreStopSignals makes a worker outlive signals meant to stop its
// host, such as a service manager's SIGTERM to every process of the
// service: the host stops its workers by closing their standard input,
// when it is done with them or when it exits.
func ignoreStopSignals() {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
}

// isBrokenPipe reports whether err is a write to a worker that exited.
func isBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }

// blockingPipe returns a pipe whose ends block, close on exec, and do not
// use the network poller.
func blockingPipe() (r, w *os.File, err error) {
	var fds [2]int
	syscall.ForkLock.RLock()
	err = syscall.Pipe(fds[:])
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}

// spinUntilReadable polls fd, without sleeping, until it has data or is
// closed, or limit passes, and lets other goroutines run between polls.
func spinUntilReadable(fd int, limit time.Duration) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(limit)
	for {
		n, err := unix.Poll(fds, 0)
		if n != 0 || (err != nil && err != unix.EINTR) || !time.Now().Before(deadline) {
			return
		}
		runtime.Gosched()
	}
}
