//go:build unix

package main

import "syscall"

// execProgram replaces the process with the program at path, args[0] being
// the first argument after its name. It returns only on failure.
func execProgram(path string, args, environ []string) error {
	return syscall.Exec(path, append([]string{path}, args...), environ)
}
