package smscourier

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-jsonnet"
)

// Benchmarks compare the courier with two baselines in the same process:
// "handwritten", a net/http client making the identical request with no
// template at all, and "fresh-vm", the reference's way of rendering: a new
// go-jsonnet VM evaluating the template source for every message.
// scripts/bench.sh runs them and writes the table in docs/performance.md.

// benchCase is one template under benchmark.
type benchCase struct {
	name        string
	src         string
	contentType string
	// body builds the same body by hand, for the handwritten baseline.
	body func(to, from, text string) []byte
}

var benchCases = []benchCase{
	{
		name:        "twilio-form",
		src:         "function(ctx) {\n  From: ctx.from,\n  To: ctx.to,\n  Body: ctx.body,\n}\n",
		contentType: "application/x-www-form-urlencoded",
		body: func(to, from, text string) []byte {
			return []byte(url.Values{"From": {from}, "To": {to}, "Body": {text}}.Encode())
		},
	},
	{
		name:        "json",
		src:         "function(ctx) {\n  from: ctx.from,\n  to: std.lstripChars(ctx.to, '+'),\n  text: ctx.body,\n  channel: 'sms',\n}\n",
		contentType: "application/json",
		body: func(to, from, text string) []byte {
			b, _ := json.Marshal(map[string]string{"from": from, "to": strings.TrimLeft(to, "+"), "text": text, "channel": "sms"})
			return b
		},
	},
	{
		// Outside the fast path: go-jsonnet renders it.
		name:        "jsonnet",
		src:         "function(ctx) {\n  local digits = std.lstripChars(ctx.to, '+'),\n  from: ctx.from,\n  to: digits,\n  text: if std.length(ctx.body) > 0 then ctx.body else 'empty',\n}\n",
		contentType: "application/json",
		body: func(to, from, text string) []byte {
			b, _ := json.Marshal(map[string]string{"from": from, "to": strings.TrimLeft(to, "+"), "text": text})
			return b
		},
	},
}

const (
	benchTo   = "+14134242223"
	benchFrom = "+13104661805"
	benchText = "Your verification code is 123456"
)

func benchCourier(b *testing.B, bc benchCase, gatewayURL string, opts ...Option) *Courier {
	b.Helper()
	cfg := SMSConfig{
		Enabled: true,
		From:    benchFrom,
		RequestConfig: RequestConfig{
			URL:     gatewayURL + "/2010-04-01/Accounts/AC123/Messages.json",
			Method:  http.MethodPost,
			Body:    "base64://" + base64.StdEncoding.EncodeToString([]byte(bc.src)),
			Headers: map[string]string{"Content-Type": bc.contentType},
			Auth:    AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "AC123", Password: "token"}},
		},
	}
	c, err := New(cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	if (bc.name == "jsonnet") != (c.fast == nil) {
		b.Fatalf("%s: fast path is %v", bc.name, c.fast != nil)
	}
	return c
}

// freshVMBody renders the way the reference does: parse and evaluate the
// source with a new VM for every message.
func freshVMBody(bc benchCase, ctxJSON string) ([]byte, error) {
	vm := jsonnet.MakeVM()
	vm.TLACode("ctx", ctxJSON)
	out, err := vm.EvaluateAnonymousSnippet("t", bc.src)
	if err != nil {
		return nil, err
	}
	return encodeBody(encodingFor(bc.contentType), out)
}

func benchCtxJSON(b *testing.B) string {
	s, err := marshalContext(&templateContext{
		From: benchFrom, To: benchTo, Body: benchText, Recipient: benchTo, MessageType: "sms",
		TemplateData: struct{}{}, RequestHeaders: http.Header{}, IdempotencyKey: "5f0c2a8e-8a43-4b0e-9d7e-3a1f2f0c9b11",
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRender measures rendering the body only: template and ctx to body
// bytes. "preparsed" is go-jsonnet evaluating the already parsed AST with
// the ctx already encoded: the floor for templates outside the fast path.
// Outside the fast path, "smscourier" renders in a warm worker process (the
// default) and "trusted" in-process (WithTrustedTemplates).
func BenchmarkRender(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			c := benchCourier(b, bc, "http://127.0.0.1:1")
			m := Message{To: benchTo, Body: benchText}
			ctx := context.Background()
			render := func(c *Courier) func(b *testing.B) {
				return func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := c.renderBody(ctx, &m, "5f0c2a8e-8a43-4b0e-9d7e-3a1f2f0c9b11"); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.Run("smscourier", render(c))
			if c.fast == nil {
				b.Run("trusted", render(benchCourier(b, bc, "http://127.0.0.1:1", WithTrustedTemplates())))
			}
			ctxJSON := benchCtxJSON(b)
			b.Run("preparsed", func(b *testing.B) {
				node, err := jsonnet.SnippetToAST("t", bc.src)
				if err != nil {
					b.Fatal(err)
				}
				vm := jsonnet.MakeVM()
				b.ReportAllocs()
				for b.Loop() {
					vm.TLACode("ctx", ctxJSON)
					if _, err := vm.Evaluate(node); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("fresh-vm", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := freshVMBody(bc, ctxJSON); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// newBenchGateway is a loopback gateway that drains the request and answers
// 201 with a small JSON body, as Twilio does.
func newBenchGateway(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// handwrittenClient is configured like the courier's default client.
func handwrittenClient() *http.Client {
	return newDefaultClient()
}

// sendHandwritten is the baseline: the identical request, built by hand.
func sendHandwritten(client *http.Client, endpoint, contentType string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.SetBasicAuth("AC123", "token")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return &GatewayError{StatusCode: resp.StatusCode}
	}
	return nil
}

// BenchmarkSend measures whole sends to a loopback gateway, sequentially and
// from 8 goroutines (RunParallel with parallelism 4 on 2 cores).
func BenchmarkSend(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			for _, mode := range []string{"seq", "par8"} {
				run := func(b *testing.B, send func() error) {
					b.ReportAllocs()
					if mode == "seq" {
						for b.Loop() {
							if err := send(); err != nil {
								b.Fatal(err)
							}
						}
						return
					}
					b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := send(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.Run(mode, func(b *testing.B) {
					srv := newBenchGateway(b)
					endpoint := srv.URL + "/2010-04-01/Accounts/AC123/Messages.json"
					c := benchCourier(b, bc, srv.URL)
					ctx := context.Background()
					b.Run("smscourier", func(b *testing.B) {
						run(b, func() error { return c.Send(ctx, benchTo, benchText) })
					})
					if c.fast == nil {
						trusted := benchCourier(b, bc, srv.URL, WithTrustedTemplates())
						b.Run("trusted", func(b *testing.B) {
							run(b, func() error { return trusted.Send(ctx, benchTo, benchText) })
						})
						trusted.client.CloseIdleConnections()
					}
					client := handwrittenClient()
					b.Run("handwritten", func(b *testing.B) {
						run(b, func() error {
							return sendHandwritten(client, endpoint, bc.contentType, bc.body(benchTo, benchFrom, benchText))
						})
					})
					ctxJSON := benchCtxJSON(b)
					b.Run("fresh-vm", func(b *testing.B) {
						run(b, func() error {
							body, err := freshVMBody(bc, ctxJSON)
							if err != nil {
								return err
							}
							return sendHandwritten(client, endpoint, bc.contentType, body)
						})
					})
					client.CloseIdleConnections()
					c.client.CloseIdleConnections()
				})
			}
		})
	}
}

// benchRouter is a Router of one gateway configured as benchCourier's.
func benchRouter(b *testing.B, bc benchCase, gatewayURL string) *Router {
	b.Helper()
	cfg := SMSConfig{
		Enabled: true,
		From:    benchFrom,
		RequestConfig: RequestConfig{
			URL:     gatewayURL + "/2010-04-01/Accounts/AC123/Messages.json",
			Method:  http.MethodPost,
			Body:    "base64://" + base64.StdEncoding.EncodeToString([]byte(bc.src)),
			Headers: map[string]string{"Content-Type": bc.contentType},
			Auth:    AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "AC123", Password: "token"}},
		},
	}
	r, err := NewRouter(RoutingConfig{Gateways: map[string]SMSConfig{"gw": cfg}, Default: Route{Gateways: []RouteStep{{Gateway: "gw"}}}})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkRouterOverhead measures a one-gateway Router's Send against
// Courier.Send, configured alike, in pairs: each iteration sends once
// through each, in alternating order, and times both, so that both see the
// same machine at the same moment. It reports each one's mean time per
// send (courier-ns/send, router-ns/send); ns/op is the pair's.
func BenchmarkRouterOverhead(b *testing.B) {
	bc := benchCases[0] // twilio-form: the fast path, where the router's share is largest
	for _, mode := range []string{"seq", "par8"} {
		b.Run(mode, func(b *testing.B) {
			srv := newBenchGateway(b)
			c := benchCourier(b, bc, srv.URL)
			r := benchRouter(b, bc, srv.URL)
			ctx := context.Background()
			var courierNs, routerNs atomic.Int64
			pair := func(routerFirst bool) error {
				for i := range 2 {
					start := time.Now()
					if (i == 0) == routerFirst {
						if err := r.Send(ctx, benchTo, benchText); err != nil {
							return err
						}
						routerNs.Add(int64(time.Since(start)))
						continue
					}
					if err := c.Send(ctx, benchTo, benchText); err != nil {
						return err
					}
					courierNs.Add(int64(time.Since(start)))
				}
				return nil
			}
			b.ReportAllocs()
			if mode == "seq" {
				n := 0
				for b.Loop() {
					if err := pair(n%2 == 0); err != nil {
						b.Fatal(err)
					}
					n++
				}
			} else {
				b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					n := 0
					for pb.Next() {
						if err := pair(n%2 == 0); err != nil {
							b.Error(err)
							return
						}
						n++
					}
				})
			}
			b.ReportMetric(float64(courierNs.Load())/float64(b.N), "courier-ns/send")
			b.ReportMetric(float64(routerNs.Load())/float64(b.N), "router-ns/send")
			c.client.CloseIdleConnections()
			r.Gateway("gw").client.CloseIdleConnections()
		})
	}
}

// BenchmarkRoute measures choosing the route and its first gateway for a
// recipient in a table of 1,000 prefixes of 2 to 6 digits, a share among
// them.
func BenchmarkRoute(b *testing.B) {
	cfg := RoutingConfig{
		Gateways: map[string]SMSConfig{
			"a": smsConfig("http://127.0.0.1:1/send", ""),
			"b": smsConfig("http://127.0.0.1:1/send", ""),
		},
		Default: Route{Gateways: []RouteStep{{Gateway: "a"}}},
	}
	seen := map[string]bool{}
	for i := 0; len(cfg.Routes) < 1000; i++ {
		p := "+" + strconv.Itoa(100000 + i*7919%899999)[:2+i%5]
		if seen[p] {
			continue
		}
		seen[p] = true
		rt := Route{Prefixes: []string{p}, Gateways: []RouteStep{{Gateway: "a"}}}
		if i%2 == 0 {
			rt.Gateways = []RouteStep{{Share: map[string]int{"a": 70, "b": 30}}}
		}
		cfg.Routes = append(cfg.Routes, rt)
	}
	r, err := NewRouter(cfg)
	if err != nil {
		b.Fatal(err)
	}
	tos := []string{"+14134242223", "+447012345678", "+33612345678", "+8613812345678", "+5511987654321", "+27821234567"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if r.lookup(tos[i%len(tos)]).first(true) == nil {
			b.Fatal("no gateway")
		}
		i++
	}
}

// BenchmarkFirstRender measures New and the first render after it for a
// template outside the fast path, in a pool of its own: the worker's start,
// its parse of the template and one evaluation.
func BenchmarkFirstRender(b *testing.B) {
	bc := benchCases[2]
	m := Message{To: benchTo, Body: benchText}
	i := 0
	for b.Loop() {
		i++
		// A distinct IdleTimeout makes a new pool, so a new worker starts;
		// it exits soon after.
		iso := IsolationConfig{IdleTimeout: time.Second + time.Duration(i)*time.Microsecond}
		c := benchCourier(b, bc, "http://127.0.0.1:1", WithIsolatedTemplates(iso))
		if _, err := c.renderBody(context.Background(), &m, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// heavyTemplate builds and measures about 16 MB of Jsonnet values per
// message, so that where evaluations run shows in the host's memory.
const heavyTemplate = "function(ctx) { n: std.length(std.makeArray(100000, function(i) ctx.to + i)), to: ctx.to }"

// BenchmarkHostMemory reports the host process's peak resident memory
// (host-peak-RSS-MiB, from VmHWM after resetting it) while 8 goroutines
// render heavyTemplate, in worker processes (the default) and in-process
// (trusted), and with the pool idle. Linux only.
func BenchmarkHostMemory(b *testing.B) {
	if !resetPeakRSS() {
		b.Skip("needs Linux's /proc/self/clear_refs")
	}
	src := "base64://" + base64.StdEncoding.EncodeToString([]byte(heavyTemplate))
	for _, mode := range []string{"workers", "trusted"} {
		var opts []Option
		if mode == "trusted" {
			opts = append(opts, WithTrustedTemplates())
		}
		cfg := SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: "http://127.0.0.1:1/send", Method: http.MethodPost, Body: src}}
		c, err := New(cfg, opts...)
		if err != nil {
			b.Fatal(err)
		}
		m := Message{To: benchTo, Body: benchText}
		if mode == "workers" {
			b.Run("workers/idle", func(b *testing.B) {
				for range 8 {
					if _, err := c.renderBody(context.Background(), &m, "k"); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				resetPeakRSS()
				for b.Loop() {
					time.Sleep(10 * time.Millisecond) // the pool idles
				}
				b.ReportMetric(peakRSSMiB(), "host-peak-RSS-MiB")
			})
		}
		b.Run(mode+"/8-concurrent", func(b *testing.B) {
			runtime.GC()
			resetPeakRSS()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.renderBody(context.Background(), &m, "k"); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(peakRSSMiB(), "host-peak-RSS-MiB")
		})
	}
}

// resetPeakRSS resets this process's VmHWM to its current RSS.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSMiB returns this process's VmHWM in MiB.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscan(rest, &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}
