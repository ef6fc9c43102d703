// Command smscourier-template-worker is a template worker for hosts that
// do not want their own binary re-executed as one (see
// smscourier.IsolationConfig): install it, of the same version as the
// library, and name it in IsolationConfig.Command.
//
//	go install github.com/smscourier/smscourier/cmd/smscourier-template-worker@latest
//
// It answers evaluation jobs on standard input and output until its
// standard input ends; it is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/smscourier/smscourier"
)

func main() {
	if err := os.Setenv(smscourier.TemplateWorkerEnv, "1"); err != nil {
		fmt.Fprintln(os.Stderr, "smscourier-template-worker:", err)
		os.Exit(3)
	}
	smscourier.ServeTemplateWorker() // never returns in a worker
	os.Exit(3)
}
