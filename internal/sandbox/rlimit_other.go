//go:build !linux || race

package sandbox

// hardMemoryLimitSet reports whether setHardMemoryLimit applies a kernel
// limit in this build: only on Linux, and not in race builds.
const hardMemoryLimitSet = false

// setHardMemoryLimit does nothing here; the watchdog and the Go runtime's
// limits still apply.
func setHardMemoryLimit(int64) {}
