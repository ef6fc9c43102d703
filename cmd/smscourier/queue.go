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
// first), the environment, stdin and the output streams, forwarding SIGINT
// and SIGTERM to it, and returns its exit status.
func runQueue(args, environ []string, stdout, stderr io.Writer) int {
	path, err := exec.LookPath(queueProgram)
	if err != nil {
		fmt.Fprintf(stderr, "smscourier %s: %s is not installed (%v).\n"+
			"The queue commands are in the queue module, which keeps River out of this one:\n  %s\n",
			args[0], queueProgram, errors.Unwrap(err), queueInstall)
		return exitFailure
	}
	cmd := exec.Command(path, args...)
	cmd.Env = environ
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "smscourier %s: %v\n", args[0], err)
		return exitFailure
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-signals:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
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
