//go:build unix

package sandbox

import (
	"errors"
	"os/exec"
	"os/signal"
	"syscall"
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
