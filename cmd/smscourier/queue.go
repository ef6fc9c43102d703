package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// queueProgram is the queue module's command. The queue commands live there
// so that this module does not depend on River or the database drivers;
// smscourier runs it for them.
const queueProgram = "smscourier-queue"

// queueCommands are the commands smscourier hands to queueProgram.
var queueCommands = map[string]bool{"migrate": true, "worker": true, "enqueue": true}

const queueInstall = "go install github.com/smscourier/smscourier/queue/cmd/smscourier-queue@latest"

// runQueue runs smscourier-queue, found on PATH, with args (the command
// first) and the environment, and returns its exit status. Where it can
// (Unix, and the process's own output streams), the process becomes
// smscourier-queue (exec), so that signals reach the worker once and
// directly: a terminal's Ctrl-C and a service manager's stop signal the
// whole process group, and the worker takes a second SIGINT as "stop at
// once". Otherwise it runs as a child that receives the signals itself,
// smscourier ignoring them while it waits.
func runQueue(args, environ []string, stdout, stderr io.Writer) int {
	path, err := exec.LookPath(queueProgram)
	if err != nil {
		fmt.Fprintf(stderr, "smscourier %s: %s is not installed (%v).\n"+
			"The queue commands are in the queue module, which keeps River out of this one:\n  %s\n",
			args[0], queueProgram, errors.Unwrap(err), queueInstall)
		return exitFailure
	}
	if stdout == io.Writer(os.Stdout) && stderr == io.Writer(os.Stderr) {
		err := execProgram(path, args, environ) // returns only on failure
		if !errors.Is(err, errNoExec) {
			fmt.Fprintf(stderr, "smscourier %s: %v\n", args[0], err)
			return exitFailure
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Env = environ
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	// The child gets the terminal's and the service manager's signals
	// itself; smscourier must outlive it to report its status.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	defer signal.Reset(os.Interrupt, syscall.SIGTERM)
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(stderr, "smscourier %s: %v\n", args[0], err)
		return exitFailure
	}
}

// errNoExec is returned by execProgram where the process cannot be
// replaced.
var errNoExec = errors.New("exec is not supported here")
