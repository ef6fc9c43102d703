//go:build !linux

package jsonnetfast

import "time"

var epoch = time.Now()

// threadTime returns the wall-clock time since the tests began: no
// portable way reads a thread's CPU time.
func threadTime() time.Duration { return time.Since(epoch) }
