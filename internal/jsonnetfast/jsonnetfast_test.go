package jsonnetfast

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxSource is the largest template source the courier accepts.
const maxSource = 256 << 10

// parse returns the AST of src.
func parse(t testing.TB, src string) ast.Node {
	t.Helper()
	node, err := jsonnet.SnippetToAST("t", src)
	require.NoError(t, err)
	return node
}

// reference renders node with go-jsonnet for a JSON body, with c bound to
// ctx as the courier binds a message.
func reference(t testing.TB, node ast.Node, c *Ctx) string {
	t.Helper()
	ctx := map[string]any{"template_data": map[string]any{}, "request_headers": map[string]any{}}
	for name, f := range ctxFields {
		ctx[name] = c[f]
	}
	ctxJSON, err := json.Marshal(ctx)
	require.NoError(t, err)
	vm := jsonnet.MakeVM()
	vm.TLACode("ctx", string(ctxJSON))
	out, err := vm.Evaluate(node)
	require.NoError(t, err)
	return out
}

// plusChain returns a template of at most size bytes: head, then the
// parts, cycled, each after a +, then tail.
func plusChain(size int, head string, parts []string, tail string) string {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; b.Len()+1+len(parts[i%len(parts)])+len(tail) <= size; i++ {
		b.WriteByte('+')
		b.WriteString(parts[i%len(parts)])
	}
	b.WriteString(tail)
	return b.String()
}

// chainShapes are templates inside the subset whose compile walks one long
// + chain, which parses as a left-deep tree as deep as the chain is long:
// string operands, a format literal joined by +, and an operand of ==.
var chainShapes = []struct {
	name  string
	head  string
	parts []string
	tail  string
}{
	{"ctx fields and literals", `function(ctx) {Body: ctx.body`, []string{`'x'`, `ctx.to`, `''`, `"y"`}, `}`},
	{"format literal", `function(ctx) {Body: std.format('%s'`, []string{`'a'`, `''`, `'%%'`}, `, ctx.to)}`},
	{"comparison operand", `function(ctx) {Same: ctx.to == ctx.from`, []string{`''`, `ctx.body`}, `}`},
}

// compileCost compiles node with Compile and returns the CPU time (see
// threadTime) and the bytes allocated it took, after a collection so that
// no earlier garbage is collected during it.
func compileCost(t testing.TB, node ast.Node) (time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.ReadMemStats(&before)
	start := threadTime()
	ft := Compile(node, JSON)
	d := threadTime() - start
	runtime.ReadMemStats(&after)
	require.NotNil(t, ft, "inside the subset")
	return d, after.TotalAlloc - before.TotalAlloc
}

// TestFastPathCompileChainLinear checks that Compile takes time and memory
// linear in the length of a + chain.
//
// The chain grows 16 times, from 16 KiB to 256 KiB (a wider step than 8
// times separates linear from quadratic growth better: 16x against 256x).
// Three checks, each robust on a small machine shared with other work:
//   - Bytes allocated, the fewest of several runs (another goroutine can
//     only add to them), grow at most 32 times: linear growth is 16 times
//     plus the rounding of slice and builder growth (18x to 23x measured);
//     the quadratic copying this guards against grows about 256 times.
//   - Time, the shortest of interleaved runs, grows at most 64 times. It
//     is the CPU time of the compiling thread where the platform tells it
//     (Linux), which the other test processes of go test ./... do not
//     inflate, else wall-clock time, interleaved so that a burst of load
//     hits both sizes alike: linear plus a margin of 4
//     for cache effects (a 256 KiB chain's AST outgrows the caches) and
//     noise (17x to 41x measured); quadratic is about 256 times. The ratio
//     is tried up to three times, since noise can make one try fail; a
//     quadratic compile fails all three.
//   - Each 256 KiB compile takes under a second: it takes about 10 ms
//     (40 ms with -race), the quadratic compile 8 to 14 s.
func TestFastPathCompileChainLinear(t *testing.T) {
	const small, large = 16 << 10, maxSource
	const runs, tries = 5, 3
	for _, sh := range chainShapes {
		t.Run(sh.name, func(t *testing.T) {
			s := parse(t, plusChain(small, sh.head, sh.parts, sh.tail))
			l := parse(t, plusChain(large, sh.head, sh.parts, sh.tail))

			fc := Ctx{"+13104661805", "+14134242223", "Your code is 123456", "+14134242223", "sms", "", "", "key"}
			assert.Equal(t, reference(t, s, &fc), string(Compile(s, JSON).Render(&fc, nil)), "the fast path renders what go-jsonnet renders")

			var ratio float64
			for try := 0; try < tries; try++ {
				minSmall, minLarge := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
				bytesSmall, bytesLarge := uint64(math.MaxUint64), uint64(math.MaxUint64)
				for range runs {
					d, b := compileCost(t, s)
					minSmall, bytesSmall = min(minSmall, d), min(bytesSmall, b)
					d, b = compileCost(t, l)
					require.Less(t, d, time.Second, "compiling a %d-byte chain", large)
					minLarge, bytesLarge = min(minLarge, d), min(bytesLarge, b)
				}
				require.Less(t, float64(bytesLarge)/float64(bytesSmall), 32.0,
					"bytes allocated: %d for %d bytes of chain, %d for %d", bytesLarge, large, bytesSmall, small)
				ratio = float64(minLarge) / float64(minSmall)
				t.Logf("try %d: %v for %d bytes of chain, %v for %d: %.1fx; bytes allocated %.1fx",
					try+1, minLarge, large, minSmall, small, ratio, float64(bytesLarge)/float64(bytesSmall))
				if ratio < 64 {
					break
				}
			}
			assert.Less(t, ratio, 64.0, "compile time grows with the chain faster than linearly")
		})
	}
}

// BenchmarkFastPathCompileChain measures Compile on a + chain of string
// operands at two lengths; linear compile time makes ns/op grow 16 times
// from the first to the second.
func BenchmarkFastPathCompileChain(b *testing.B) {
	sh := chainShapes[0]
	for _, size := range []int{16 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			node := parse(b, plusChain(size, sh.head, sh.parts, sh.tail))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if Compile(node, JSON) == nil {
					b.Fatal("outside the subset")
				}
			}
		})
	}
}
