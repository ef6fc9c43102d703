//go:build unix

package sandbox

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSpinUntilReadable checks the three ways a spin ends: data, a closed
// writer, and the limit.
func TestSpinUntilReadable(t *testing.T) {
	r, w, err := blockingPipe()
	require.NoError(t, err)
	defer r.Close()

	start := time.Now()
	spinUntilReadable(int(r.Fd()), 20*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "returned before the limit with nothing to read")

	_, err = w.Write([]byte{1})
	require.NoError(t, err)
	start = time.Now()
	spinUntilReadable(int(r.Fd()), time.Minute)
	assert.Less(t, time.Since(start), 30*time.Second, "did not see the data")
	_, err = r.Read(make([]byte, 1))
	require.NoError(t, err)

	require.NoError(t, w.Close())
	start = time.Now()
	spinUntilReadable(int(r.Fd()), time.Minute)
	assert.Less(t, time.Since(start), 30*time.Second, "did not see the writer close")
}

// TestSpinAllowed checks that jobs spin only while two CPUs per job fit.
func TestSpinAllowed(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	assert.True(t, spinAllowed(1))
	assert.True(t, spinAllowed(2))
	assert.False(t, spinAllowed(3))
	runtime.GOMAXPROCS(1)
	assert.False(t, spinAllowed(1), "a single CPU must never spin")
}
