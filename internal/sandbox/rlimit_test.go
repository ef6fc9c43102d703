//go:build linux && !race

package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHardMemoryLimit runs the worker's kernel limit, without the
// watchdog, in a child process that allocates 1 GiB in 16 MiB pieces under
// a 64 MiB limit: the kernel refuses a mapping long before the end. (A
// single 1 GiB allocation got through about one time in four on Linux
// 6.18; the watchdog stops those.)
func TestHardMemoryLimit(t *testing.T) {
	if os.Getenv("SMSCOURIER_TEST_HARD_LIMIT_CHILD") == "1" {
		setHardMemoryLimit(64 << 20)
		var kept [][]byte
		for range 64 {
			b := make([]byte, 16<<20)
			b[len(b)-1] = 1
			kept = append(kept, b)
		}
		fmt.Println("allocated", len(kept)*16<<20)
		os.Exit(0)
	}
	require.True(t, hardMemoryLimitSet)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHardMemoryLimit$")
	cmd.Env = append(os.Environ(), "SMSCOURIER_TEST_HARD_LIMIT_CHILD=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child survived: %s", out)
	assert.Equal(t, 2, exit.ExitCode())
	assert.NotContains(t, string(out), "allocated")
	// Depending on the mapping that failed, the runtime says "out of
	// memory" (for the heap or its metadata) or "cannot allocate memory"
	// (the host reports either as out of memory), or it faults on the
	// mapping it did not get.
	hint := crashHint(out, 64<<20)
	if !strings.Contains(hint, "SIGSEGV") {
		assert.Regexp(t, `fatal error: (runtime: )?(out of memory|cannot allocate memory)`, string(out))
		assert.Contains(t, hint, ": out of memory (limit 67108864 bytes; fatal error: ")
	}
}

// TestHardMemoryLimitValue checks the limit a worker sets: its mapped data
// at the start plus 1.25 times the memory limit, plus the growth allowed
// between jobs, plus the slack.
func TestHardMemoryLimitValue(t *testing.T) {
	if os.Getenv("SMSCOURIER_TEST_HARD_LIMIT_CHILD") == "value" {
		before, ok := mappedData()
		if !ok {
			os.Exit(3)
		}
		setHardMemoryLimit(100 << 20)
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_DATA, &lim) != nil {
			os.Exit(4)
		}
		fmt.Println(before, lim.Cur, lim.Max)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHardMemoryLimitValue$")
	cmd.Env = append(os.Environ(), "SMSCOURIER_TEST_HARD_LIMIT_CHILD=value")
	out, err := cmd.Output()
	require.NoError(t, err)
	var before, cur, max uint64
	_, err = fmt.Sscan(string(out), &before, &cur, &max)
	require.NoError(t, err, "%s", out)
	assert.Greater(t, before, uint64(0))
	assert.Equal(t, cur, max)
	// VmData may grow a little between the two readings.
	assert.GreaterOrEqual(t, cur, before+175<<20+hardLimitSlack)
	assert.Less(t, cur, before+175<<20+hardLimitSlack+16<<20)
}
