//go:build linux && !race

package smscourier

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHardMemoryLimitSmall: a small MemoryLimit still runs an ordinary
// template; the kernel limit has slack for the runtime's own mappings.
func TestHardMemoryLimitSmall(t *testing.T) {
	g := newGateway(t, nil)
	src := b64(`function(ctx) local a = std.makeArray(2000, function(i) ctx.body + i); {to: ctx.to, n: std.length(std.join(',', a))}`)
	for _, limit := range []int64{4 << 20, 6 << 20, 8 << 20} {
		c, err := New(smsConfig(g.URL+"/send", src), WithIsolatedTemplates(IsolationConfig{MemoryLimit: limit, Timeout: 30 * time.Second}))
		require.NoError(t, err, "limit %d", limit)
		require.NoError(t, c.Send(context.Background(), "+1555", "hello"), "limit %d", limit)
	}
	assert.Len(t, g.got(), 3)
}
