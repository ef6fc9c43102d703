package guard

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
)

// benchNumbers are 1,000 valid GB mobile numbers over 10 ranges.
var benchNumbers = func() []string {
	out := make([]string, 1000)
	for i := range out {
		out[i] = fmt.Sprintf("+4474%02d%06d", i%100, i)
	}
	return out
}()

// benchConfig is RecommendedConfig's policy with its 5 limits (all is
// false) or all 10, at caps that benchClock's pace through benchNumbers
// never reaches: every message is checked and counted against each of
// them. Admissions are remembered for 100 s of benchClock's time, so
// that after 100,000 sends the Store holds a steady 100,000 of them (a
// day's admissions of a service sending 100,000 codes a day) and ns/op
// does not grow with b.N.
func benchConfig(all bool) Config {
	cfg := RecommendedConfig()
	cfg.Remember = 100 * time.Second
	cfg.Limits = Limits{
		Recipient: RecipientLimits{Cooldown: 100 * time.Millisecond, PerHour: 1_000_000, PerDay: 10_000_000},
		Prefix:    PrefixLimits{PerWindow: 1_000_000},
		Requester: RequesterLimits{PerHour: 1_000_000},
	}
	if all {
		cfg.Limits.Country = CountryLimits{PerHour: 100_000_000}
		cfg.Limits.Global = GlobalLimits{MessagesPerHour: 100_000_000, MessagesPerDay: 100_000_000, SegmentsPerHour: 100_000_000, SegmentsPerDay: 100_000_000}
	}
	return cfg
}

// benchClock moves a millisecond on at each reading: each number of
// benchNumbers, sent to once in 1,000 sends, is a second apart.
func benchClock() func() time.Time {
	var n atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

// benchMessage returns the message that goroutine (of 8) sends at its
// i-th turn. Each goroutine sends to numbers of its own, in turn, so that
// none sends to a number within its cooldown however the goroutines are
// scheduled: at least 125 clock readings pass between two sends to a
// number.
func benchMessage(goroutine, i int) smscourier.Message {
	k := (goroutine + 8*i) % len(benchNumbers)
	return smscourier.Message{To: benchNumbers[k], Body: "Your code is 123456", Requester: benchNumbers[(k*7)%len(benchNumbers)]}
}

// runBench runs send as b's loop: seq from one goroutine, par8 from 8.
func runBench(b *testing.B, par bool, send func(goroutine, i int) error) {
	b.ReportAllocs()
	if !par {
		for i := 0; b.Loop(); i++ {
			if err := send(0, i); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	var goroutines atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		id := int(goroutines.Add(1)-1) % 8
		for i := 0; pb.Next(); i++ {
			if err := send(id, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCheck measures the guard's check-and-count of one message in
// memory, policy and limits, what SendMessage does before it hands the
// message on: with the 5 limits of RecommendedConfig and with all 10, from
// one goroutine and from 8, for numbers seen before (libphonenumber's
// answers are cached); and, new-number, for numbers never seen, which
// libphonenumber classifies.
func BenchmarkCheck(b *testing.B) {
	c, _ := newCourier(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name      string
		all, par  bool
		newNumber bool
	}{
		{name: "recommended/seq"},
		{name: "recommended/par8", par: true},
		{name: "all-limits/seq", all: true},
		{name: "all-limits/par8", all: true, par: true},
		{name: "new-number/seq", all: true, newNumber: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := New(c, benchConfig(bc.all), WithClock(benchClock()))
			if err != nil {
				b.Fatal(err)
			}
			for _, to := range benchNumbers {
				g.inspect(to)
			}
			runBench(b, bc.par, func(goroutine, i int) error {
				m := benchMessage(goroutine, i)
				if bc.newNumber {
					m.To = fmt.Sprintf("+447%09d", 100_000_000+i)
				}
				m.IdempotencyKey = smscourier.NewIdempotencyKey()
				return g.admit(ctx, &m, true)
			})
		})
	}
}

// BenchmarkGuardSend measures a Guard's overhead on a send to a loopback
// gateway: Courier.SendMessage, and Guard.SendMessage (benchConfig: the 5
// limits of RecommendedConfig or all 10, in memory) in front of a Courier
// configured alike, in pairs, in alternating order, so that both see the
// same machine at the same moment. It reports each one's mean time per
// send (courier-ns/send, guard-ns/send) and the guard's overhead
// (overhead-%); ns/op is the pair's. From one goroutine it also reports
// two figures that the stalls of a shared machine (here a send in a
// hundred, on either side, takes ten times the median or more) move far
// less than they move the means: the overhead of the mean send over the
// pairs in which neither send took ten times its median or more
// (trimmed-overhead-%: it keeps the guard's own occasional work, such as
// rebuilding a table, which costs a few times a send at most), and that
// of the median send (median-overhead-%).
func BenchmarkGuardSend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		all, par bool
	}{
		{name: "recommended/seq"},
		{name: "recommended/par8", par: true},
		{name: "all-limits/seq", all: true},
		{name: "all-limits/par8", all: true, par: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := benchGateway(b)
			plain, guarded := benchCourier(b, srv.URL), benchCourier(b, srv.URL)
			g, err := New(guarded, benchConfig(bc.all), WithClock(benchClock()))
			if err != nil {
				b.Fatal(err)
			}
			for _, to := range benchNumbers {
				g.inspect(to)
			}
			ctx := context.Background()
			var courierNs, guardNs atomic.Int64
			var courierSends, guardSends []time.Duration // from one goroutine
			runBench(b, bc.par, func(goroutine, i int) error {
				m := benchMessage(goroutine, i)
				for k := range 2 {
					start := time.Now()
					if (k == 0) == (i%2 == 0) { // the guard first every other pair
						if _, err := g.SendMessage(ctx, m); err != nil {
							return err
						}
						d := time.Since(start)
						guardNs.Add(int64(d))
						if !bc.par {
							guardSends = append(guardSends, d)
						}
						continue
					}
					if _, err := plain.SendMessage(ctx, m); err != nil {
						return err
					}
					d := time.Since(start)
					courierNs.Add(int64(d))
					if !bc.par {
						courierSends = append(courierSends, d)
					}
				}
				return nil
			})
			cn, gn := float64(courierNs.Load())/float64(b.N), float64(guardNs.Load())/float64(b.N)
			b.ReportMetric(cn, "courier-ns/send")
			b.ReportMetric(gn, "guard-ns/send")
			b.ReportMetric(100*(gn-cn)/cn, "overhead-%")
			if !bc.par {
				trimmed, median := robustOverheads(courierSends, guardSends)
				b.ReportMetric(trimmed, "trimmed-overhead-%")
				b.ReportMetric(median, "median-overhead-%")
			}
		})
	}
}

// benchGateway is a loopback gateway that drains the request and answers
// 201 with a small JSON body, as Twilio does (the core's benchmarks use
// one alike, in their own module).
func benchGateway(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchCourier returns a Courier of the Twilio form template (the fast
// path, where the guard's share is largest) sending to gatewayURL.
func benchCourier(b *testing.B, gatewayURL string) *smscourier.Courier {
	b.Helper()
	c, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL:     gatewayURL + "/2010-04-01/Accounts/AC123/Messages.json",
			Method:  http.MethodPost,
			Body:    "base64://" + base64.StdEncoding.EncodeToString([]byte(twilioForm)),
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Auth:    smscourier.AuthConfig{Type: smscourier.AuthBasicAuth, Config: smscourier.AuthParams{User: "AC123", Password: "token"}},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// robustOverheads returns, in percent, the overhead of the guard's sends
// (gs) over the courier's (cs), paired by index: of the mean send over the
// pairs in which neither send took ten times its side's median or more,
// and of the median send.
func robustOverheads(cs, gs []time.Duration) (trimmed, median float64) {
	mc, mg := medianDuration(cs), medianDuration(gs)
	var tc, tg time.Duration
	for i := range cs {
		if cs[i] < 10*mc && gs[i] < 10*mg {
			tc += cs[i]
			tg += gs[i]
		}
	}
	return 100 * float64(tg-tc) / float64(tc), 100 * float64(mg-mc) / float64(mc)
}

// medianDuration returns the median of ds.
func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// evictBuf is memory BenchmarkCheckEvicted writes to evict the caches.
var evictBuf = make([]byte, 4<<20)

// BenchmarkCheckEvicted measures BenchmarkCheck's all-limits/seq check on
// data out of the caches, as a send's HTTP work leaves them: before each
// check it writes a line of every 64 bytes of 1 MiB or 4 MiB (the code
// stays cached), and it reports the check's mean time (check-ns).
func BenchmarkCheckEvicted(b *testing.B) {
	c, _ := newCourier(b)
	ctx := context.Background()
	for _, size := range []int{1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			g, err := New(c, benchConfig(true), WithClock(benchClock()))
			if err != nil {
				b.Fatal(err)
			}
			for _, to := range benchNumbers {
				g.inspect(to)
			}
			var total time.Duration
			n := 0
			for i := 0; b.Loop(); i++ {
				for j := 0; j < size; j += 64 {
					evictBuf[j]++
				}
				m := benchMessage(0, i)
				m.IdempotencyKey = smscourier.NewIdempotencyKey()
				start := time.Now()
				if err := g.admit(ctx, &m, true); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				n++
			}
			b.ReportMetric(float64(total)/float64(n), "check-ns")
		})
	}
}

// BenchmarkCheckInSend measures the check of BenchmarkCheck where
// BenchmarkGuardSend runs it, among sends: each check is followed by a
// Courier's send of its message to a loopback gateway, and it reports the
// check's median time (check-ns) and the mean of its fastest 99%
// (check-mean99-ns), less the median of two clock readings with nothing
// between them (clock-ns, reported too). Unlike BenchmarkGuardSend, which
// takes a small difference of two long sends, it times the check alone,
// so that a change to it shows in a few runs.
func BenchmarkCheckInSend(b *testing.B) {
	for _, bc := range []struct {
		name string
		all  bool
	}{{name: "recommended"}, {name: "all-limits", all: true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := benchGateway(b)
			plain := benchCourier(b, srv.URL)
			g, err := New(benchCourier(b, srv.URL), benchConfig(bc.all), WithClock(benchClock()))
			if err != nil {
				b.Fatal(err)
			}
			for _, to := range benchNumbers {
				g.inspect(to)
			}
			ctx := context.Background()
			var checks, clock []time.Duration
			for i := 0; b.Loop(); i++ {
				m := benchMessage(0, i)
				m.IdempotencyKey = smscourier.NewIdempotencyKey()
				start := time.Now()
				err := g.admit(ctx, &m, true)
				checked := time.Now()
				end := time.Now()
				checks, clock = append(checks, checked.Sub(start)), append(clock, end.Sub(checked))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := plain.SendMessage(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(checks)
			c := float64(medianDuration(clock))
			fastest := checks[:max(1, len(checks)*99/100)]
			var sum time.Duration
			for _, d := range fastest {
				sum += d
			}
			b.ReportMetric(float64(checks[len(checks)/2])-c, "check-ns")
			b.ReportMetric(float64(sum)/float64(len(fastest))-c, "check-mean99-ns")
			b.ReportMetric(c, "clock-ns")
		})
	}
}
