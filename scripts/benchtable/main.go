// Command benchtable reads `go test -bench` output of bench_test.go and
// prints the benchmark table of docs/performance.md: each target beside the
// measured figure (medians over the rounds). It is run by scripts/bench.sh.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type stats struct{ ns, bytes, allocs []float64 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

func main() {
	rounds := flag.Int("rounds", 0, "rounds run, for the caption")
	benchtime := flag.String("benchtime", "", "benchtime, for the caption")
	flag.Parse()
	all := map[string]*stats{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := all[m[1]]
		if s == nil {
			s = &stats{}
			all[m[1]] = s
		}
		for i, dst := range []*[]float64{&s.ns, &s.bytes, &s.allocs} {
			v, _ := strconv.ParseFloat(m[3+i], 64)
			*dst = append(*dst, v)
		}
	}
	get := func(name string) (ns, allocs float64) {
		s := all[name]
		if s == nil {
			fmt.Fprintf(os.Stderr, "benchtable: no results for %s\n", name)
			os.Exit(1)
		}
		return median(s.ns), median(s.allocs)
	}
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}

	fmt.Printf("Medians of %d interleaved rounds, `-benchtime %s`, `scripts/bench.sh`; raw output in `bench/raw.txt`, benchstat summary in `bench/benchstat.txt`.\n\n", *rounds, *benchtime)
	fmt.Println("| target | case | smscourier | baseline | measured | result |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, tc := range []string{"twilio-form", "json"} {
		for _, mode := range []string{"seq", "par8"} {
			ours, oursAllocs := get("BenchmarkSend/" + tc + "/" + mode + "/smscourier")
			hand, handAllocs := get("BenchmarkSend/" + tc + "/" + mode + "/handwritten")
			ratio := hand / ours
			fmt.Printf("| Send throughput >= 0.9x handwritten | %s, %s | %.1f µs/op | %.1f µs/op | %.2fx | %s |\n",
				tc, mode, ours/1000, hand/1000, ratio, mark(ratio >= 0.9))
			fmt.Printf("| Send allocs <= handwritten + 25 | %s, %s | %.0f | %.0f | %+.0f | %s |\n",
				tc, mode, oursAllocs, handAllocs, oursAllocs-handAllocs, mark(oursAllocs-handAllocs <= 25))
		}
	}
	for _, tc := range []string{"twilio-form", "json"} {
		ns, allocs := get("BenchmarkRender/" + tc + "/smscourier")
		fmt.Printf("| render <= 3 µs, <= 20 allocs | %s | %.2f µs, %.0f allocs | | %.2f µs, %.0f allocs | %s |\n",
			tc, ns/1000, allocs, ns/1000, allocs, mark(ns <= 3000 && allocs <= 20))
	}
	ours, _ := get("BenchmarkRender/jsonnet/smscourier")
	pre, _ := get("BenchmarkRender/jsonnet/preparsed")
	fmt.Printf("| render outside the fast path <= 1.1x go-jsonnet on a pre-parsed AST | jsonnet | %.1f µs | %.1f µs | %.2fx | %s |\n",
		ours/1000, pre/1000, ours/pre, mark(ours/pre <= 1.1))

	fmt.Print("\nAll figures (medians):\n\n")
	fmt.Println("| benchmark | ns/op | B/op | allocs/op |")
	fmt.Println("|---|---|---|---|")
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := all[n]
		fmt.Printf("| %s | %.0f | %.0f | %.0f |\n", strings.TrimPrefix(n, "Benchmark"), median(s.ns), median(s.bytes), median(s.allocs))
	}
}
