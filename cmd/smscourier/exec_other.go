//go:build !unix

package main

// execProgram cannot replace the process on this system.
func execProgram(string, []string, []string) error { return errNoExec }
