// Command smscourier-template-worker evaluates one smscourier body template
// job and exits. It is the worker for hosts that cannot call
// smscourier.ServeTemplateWorker from their own main: install it and name it
// in IsolationConfig.Command.
//
//	go install github.com/smscourier/smscourier/cmd/smscourier-template-worker@latest
//
// It reads the job from standard input and writes the reply to standard
// output; it is not meant to be run by hand.
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
	smscourier.ServeTemplateWorker() // never returns in worker mode
	os.Exit(3)
}
