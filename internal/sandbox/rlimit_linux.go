//go:build linux && !race

package sandbox

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// hardMemoryLimitSet reports whether setHardMemoryLimit applies a kernel
// limit in this build.
const hardMemoryLimitSet = true

// hardLimitSlack is added to the kernel limit: the Go runtime maps heap and
// its metadata in steps of several MiB, so a small MemoryLimit alone would
// stop templates the watchdog lets through.
const hardLimitSlack = 64 << 20

// setHardMemoryLimit sets RLIMIT_DATA of the worker process to the data
// memory it mapped at its first job, plus 1.25 times memLimit, plus the
// growth a worker may keep between jobs (maxGrowth), plus hardLimitSlack:
// a backstop behind the watchdog, which polls every few milliseconds and
// so can be outrun by a burst of allocation. Past the kernel limit the Go
// runtime cannot map more heap and the worker dies with "runtime: out of
// memory". Race builds skip it: the race detector maps far more memory
// than the program.
//
// It sets the hard limit too, which the kernel needs to enforce it here, and
// which no process can raise again: every job of a worker has the same
// memory limit (it is part of the pool's key).
func setHardMemoryLimit(memLimit int64) {
	data, ok := startData()
	if !ok {
		return
	}
	limit := uint64(data) + uint64(memLimit) + uint64(memLimit)/4 + uint64(maxGrowth(memLimit)) + hardLimitSlack
	_ = syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: limit, Max: limit})
}

// startData is the worker's mapped data when it first set its limit.
var startData = sync.OnceValues(mappedData)

// mappedData returns VmData of /proc/self/status in bytes: the private
// writable memory RLIMIT_DATA counts.
func mappedData() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmData:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest) // "12345 kB"
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil || kb < 0 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
