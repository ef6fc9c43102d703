package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/smscourier/smscourier/smstest"
)

// gatewayCommand serves a fake gateway for trying send and worker without
// an account.
var gatewayCommand = &command{
	name: "gateway",
	summary: `Usage: smscourier gateway [--addr 127.0.0.1:0] [--status 201] [--reply JSON]

Serves a fake SMS gateway (package smstest) and prints every request it
receives: method, path and query, headers with credentials redacted, and the
body decoded (form fields one a line, JSON indented). It answers each with
--status and --reply, by default 201 Created and {"id":"msg-N","status":"queued"}.
It runs until interrupted (SIGINT or SIGTERM).

Point a config's request_config.url at the address it prints, for example
with COURIER_SMS_REQUEST_CONFIG_URL, and send from another terminal:

  smscourier gateway --addr 127.0.0.1:8025
  COURIER_SMS_REQUEST_CONFIG_URL=http://127.0.0.1:8025/v1/messages \
    smscourier send --config kratos.yml --to +14134242223 --body 'Your code is 123456'
`,
	flags: func(fs *flag.FlagSet, in *invocation) {
		fs.StringVar(&in.addr, "addr", "127.0.0.1:0", "listen on `HOST:PORT` (port 0: any free port)")
		fs.IntVar(&in.status, "status", http.StatusCreated, "answer with this HTTP `status`, 200 to 999")
		fs.StringVar(&in.reply, "reply", "", "answer with this `JSON` body (default: a message id)")
	},
	run: runGateway,
}

func runGateway(in *invocation) int {
	if in.reply != "" && !json.Valid([]byte(in.reply)) {
		return in.usageError("--reply must be valid JSON")
	}
	l, err := net.Listen("tcp", in.addr)
	if err != nil {
		return in.fail(fmt.Errorf("smscourier gateway: %w", err))
	}
	var mu sync.Mutex // one request's lines together
	gw := smstest.NewServer(smstest.WithListener(l))
	defer gw.Close()
	gw.Respond(func(r smstest.Request) smstest.Reply {
		mu.Lock()
		fmt.Fprint(in.stdout, showReceived(r))
		mu.Unlock()
		body := in.reply
		if body == "" {
			body = fmt.Sprintf(`{"id":"msg-%d","status":"queued"}`, r.Index+1)
		}
		return smstest.Reply{
			Status: in.status,
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   body,
		}
	})
	fmt.Fprintf(in.stdout, "smscourier gateway: listening on %s (Ctrl-C stops it)\n", gw.URL())
	<-in.ctx.Done()
	fmt.Fprintln(in.stdout, "smscourier gateway: stopped")
	return exitOK
}

// showReceived describes a request the gateway received, ended by a blank
// line. Credentials are redacted as render redacts them; the body is shown,
// as seeing it is the point.
func showReceived(r smstest.Request) string {
	var b strings.Builder
	target := r.Path
	if r.RawQuery != "" {
		target += "?" + r.RawQuery
	}
	const base = "http://gateway"
	shown, ok := strings.CutPrefix(redactURL(base+target), base)
	if !ok {
		shown = "[REDACTED]"
	}
	fmt.Fprintf(&b, "%s %s\n", plain(r.Method), plain(shown))
	headers := redactHeaders(r.Header, "")
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  %s: %s\n", name, plain(headers[name]))
	}
	switch {
	case r.Form != nil:
		keys := make([]string, 0, len(r.Form))
		for k := range r.Form {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range r.Form[k] {
				fmt.Fprintf(&b, "  form %s = %s\n", plain(k), plain(v))
			}
		}
	case r.JSON != nil:
		js, _ := json.MarshalIndent(r.JSON, "  ", "  ")
		fmt.Fprintf(&b, "  json %s\n", js)
	case r.Body != "":
		fmt.Fprintf(&b, "  body %s\n", plain(r.Body))
	}
	b.WriteString("\n")
	return b.String()
}

// plain returns s as it is when it is valid UTF-8 with only printable
// characters, else quoted, so that what a client sends cannot write control
// sequences to the terminal.
func plain(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}
