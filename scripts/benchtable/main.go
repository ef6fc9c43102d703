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

type stats struct {
	ns, bytes, allocs, rss []float64
	metrics                map[string][]float64 // custom metrics by unit
}

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

var (
	line = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+-?[\d.]+ [a-z%-]+(?:/send)?)*\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)
	// rssLine is a line of BenchmarkFirstRender or BenchmarkHostMemory,
	// which report no allocations, and the latter a peak RSS.
	// metric is a custom metric reported with b.ReportMetric.
	metric  = regexp.MustCompile(`\s(-?[\d.]+) ([a-z-]+-ns/send|(?:median|trimmed)-overhead-%)`)
	rssLine = regexp.MustCompile(`^(Benchmark(?:FirstRender|HostMemory)\S*?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) host-peak-RSS-MiB)?`)
)

func main() {
	rounds := flag.Int("rounds", 0, "rounds run, for the caption")
	benchtime := flag.String("benchtime", "", "benchtime, for the caption")
	flag.Parse()
	all := map[string]*stats{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			if m = rssLine.FindStringSubmatch(sc.Text()); m != nil {
				s := all[m[1]]
				if s == nil {
					s = &stats{}
					all[m[1]] = s
				}
				ns, _ := strconv.ParseFloat(m[3], 64)
				s.ns = append(s.ns, ns)
				if m[4] != "" {
					rss, _ := strconv.ParseFloat(m[4], 64)
					s.rss = append(s.rss, rss)
				}
			}
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
		for _, mm := range metric.FindAllStringSubmatch(sc.Text(), -1) {
			if s.metrics == nil {
				s.metrics = map[string][]float64{}
			}
			v, _ := strconv.ParseFloat(mm[1], 64)
			s.metrics[mm[2]] = append(s.metrics[mm[2]], v)
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
	for _, mode := range []string{"seq", "par8"} {
		s := all["BenchmarkRouterOverhead/"+mode]
		if s == nil || len(s.metrics["courier-ns/send"]) == 0 {
			fmt.Fprintf(os.Stderr, "benchtable: no results for BenchmarkRouterOverhead/%s\n", mode)
			os.Exit(1)
		}
		// Each line pairs the two under the same conditions: the target is
		// judged on the median of the per-round ratios; the ratio of the
		// medians is shown beside it.
		cs, rs := s.metrics["courier-ns/send"], s.metrics["router-ns/send"]
		ratios := make([]float64, len(cs))
		for i := range cs {
			ratios[i] = rs[i] / cs[i]
		}
		courier, router, paired := median(cs), median(rs), median(ratios)
		fmt.Printf("| Send through a one-gateway Router within 5%% of Courier.Send (median of paired rounds) | twilio-form, %s | %.1f µs/send | %.1f µs/send | %+.1f%% (ratio of medians %+.1f%%) | %s |\n",
			mode, router/1000, courier/1000, (paired-1)*100, (router/courier-1)*100, mark(paired <= 1.05))
	}
	for _, mode := range []string{"recommended/seq", "recommended/par8", "all-limits/seq", "all-limits/par8"} {
		s := all["BenchmarkGuardSend/"+mode]
		if s == nil || len(s.metrics["courier-ns/send"]) == 0 {
			fmt.Fprintf(os.Stderr, "benchtable: no results for BenchmarkGuardSend/%s\n", mode)
			os.Exit(1)
		}
		cs, gs := s.metrics["courier-ns/send"], s.metrics["guard-ns/send"]
		ratios := make([]float64, len(cs))
		for i := range cs {
			ratios[i] = gs[i] / cs[i]
		}
		courier, guarded, paired := median(cs), median(gs), median(ratios)
		if ts := s.metrics["trimmed-overhead-%"]; len(ts) > 0 {
			// From one goroutine: judged on the trimmed mean (see
			// BenchmarkGuardSend), which the machine's stalls move far
			// less than the plain mean, shown beside it.
			trimmed := median(ts)
			fmt.Printf("| Send through the guard (in memory) within 5%% of Courier.Send (median of paired rounds; mean send, stalls of ten times the median left out) | twilio-form, %s | %.1f µs/send | %.1f µs/send | %+.1f%% (plain mean %+.1f%%, median send %+.1f%%) | %s |\n",
				mode, guarded/1000, courier/1000, trimmed, (paired-1)*100, median(s.metrics["median-overhead-%"]), mark(trimmed <= 5))
			continue
		}
		fmt.Printf("| Send through the guard (in memory) within 5%% of Courier.Send (median of paired rounds) | twilio-form, %s | %.1f µs/send | %.1f µs/send | %+.1f%% (ratio of medians %+.1f%%) | %s |\n",
			mode, guarded/1000, courier/1000, (paired-1)*100, (guarded/courier-1)*100, mark(paired <= 1.05))
	}
	for _, mode := range []string{"recommended/seq", "recommended/par8", "all-limits/seq", "all-limits/par8"} {
		ns, allocs := get("BenchmarkCheck/" + mode)
		if strings.HasSuffix(mode, "par8") { // throughput of 8 goroutines on GOMAXPROCS CPUs: no target
			fmt.Printf("| guard check in memory, wall time per check from 8 goroutines (no target) | %s | %.2f µs, %.0f allocs | | | |\n", mode, ns/1000, allocs)
			continue
		}
		fmt.Printf("| guard check in memory <= 2 µs, a handful of allocs (the benchmark's 1 is its idempotency key) | %s | %.2f µs, %.0f allocs | | %.2f µs, %.0f allocs | %s |\n",
			mode, ns/1000, allocs, ns/1000, allocs, mark(ns <= 2000 && allocs <= 5))
	}
	route, routeAllocs := get("BenchmarkRoute")
	fmt.Printf("| choosing a route <= 1 µs, 0 allocs | 1,000 prefixes | %.0f ns, %.0f allocs | | %.0f ns, %.0f allocs | %s |\n",
		route, routeAllocs, route, routeAllocs, mark(route <= 1000 && routeAllocs == 0))
	for _, tc := range []string{"twilio-form", "json"} {
		ns, allocs := get("BenchmarkRender/" + tc + "/smscourier")
		fmt.Printf("| render <= 3 µs, <= 20 allocs | %s | %.2f µs, %.0f allocs | | %.2f µs, %.0f allocs | %s |\n",
			tc, ns/1000, allocs, ns/1000, allocs, mark(ns <= 3000 && allocs <= 20))
	}
	workers, _ := get("BenchmarkRender/jsonnet/smscourier")
	trusted, _ := get("BenchmarkRender/jsonnet/trusted")
	pre, _ := get("BenchmarkRender/jsonnet/preparsed")
	fmt.Printf("| warm render outside the fast path, in a worker (default) <= 2x in-process and <= 1 ms | jsonnet | %.1f µs | %.1f µs (trusted) | %.2fx | %s |\n",
		workers/1000, trusted/1000, workers/trusted, mark(workers/trusted <= 2 && workers <= 1e6))
	fmt.Printf("| render in-process (trusted) <= 1.1x go-jsonnet on a pre-parsed AST | jsonnet | %.1f µs | %.1f µs | %.2fx | %s |\n",
		trusted/1000, pre/1000, trusted/pre, mark(trusted/pre <= 1.1))
	first, _ := get("BenchmarkFirstRender")
	fmt.Printf("| New and first render, worker start included, <= 50 ms | jsonnet | %.1f ms | | %.1f ms | %s |\n",
		first/1e6, first/1e6, mark(first <= 50e6))
	for _, mode := range []string{"seq", "par8"} {
		w, _ := get("BenchmarkSend/jsonnet/" + mode + "/smscourier")
		t, _ := get("BenchmarkSend/jsonnet/" + mode + "/trusted")
		fmt.Printf("| Send outside the fast path, workers vs in-process (no target) | jsonnet, %s | %.1f µs/op | %.1f µs/op | %.2fx the time | |\n",
			mode, w/1000, t/1000, w/t)
	}
	for _, name := range []string{"workers/idle", "workers/8-concurrent", "trusted/8-concurrent"} {
		s := all["BenchmarkHostMemory/"+name]
		if s == nil || len(s.rss) == 0 {
			fmt.Fprintf(os.Stderr, "benchtable: no RSS for %s\n", name)
			os.Exit(1)
		}
		fmt.Printf("| host peak RSS (no target) | heavy template, %s | %.0f MiB | | | |\n", name, median(s.rss))
	}

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
		if len(s.bytes) == 0 {
			continue // in the rows above
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f |\n", strings.TrimPrefix(n, "Benchmark"), median(s.ns), median(s.bytes), median(s.allocs))
	}
}
