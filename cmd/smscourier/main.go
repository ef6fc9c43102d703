// Command smscourier checks, previews and sends SMS with the courier settings
// of an Ory Kratos config file: courier.sms (the layout of the Kratos SMS
// courier docs) or the courier.channels entry with id sms (current Kratos).
//
//	go install github.com/smscourier/smscourier/cmd/smscourier@latest
//
//	smscourier validate --config kratos.yml
//	smscourier render   --config kratos.yml --to +14134242223 --body 'Your code is 123456'
//	smscourier send     --config kratos.yml --to +14134242223 --body 'Your code is 123456'
//
// validate checks the whole config and its body template and prints a
// one-line summary; render prints the exact HTTP request a send would make,
// credentials redacted, and sends nothing; send sends one SMS and prints the
// outcome. Relative file:// template paths are relative to the working
// directory, as in Kratos: run it from the directory Kratos runs in.
// Kratos-style COURIER_* environment variables override keys of the file,
// as in Kratos (see smscourier.ParseConfigEnv); --env=false ignores them.
//
// Exit status: 0 on success, 1 when the config is invalid or the message
// could not be rendered or sent, 2 on a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
	"sigs.k8s.io/yaml"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const mainUsage = `smscourier checks, previews and sends SMS with the courier settings of an
Ory Kratos config file: courier.sms, or the courier.channels entry with id sms.

Usage:
  smscourier validate --config FILE [--env=false]
  smscourier render   --config FILE --to NUMBER --body TEXT [--from SENDER] [--json] [--env=false] [flags]
  smscourier send     --config FILE --to NUMBER --body TEXT [--from SENDER] [--env=false] [--timeout 30s] [flags]
  smscourier migrate  [--database URL]
  smscourier worker   --config FILE [--database URL] [flags]
  smscourier enqueue  --config FILE --to NUMBER --body TEXT [--database URL] [flags]
  smscourier help [COMMAND]

Commands:
  validate  check the config and its body template; print a one-line summary
  render    print the HTTP request a send would make, credentials redacted; send nothing
  send      send one SMS and print the outcome
  migrate   create or upgrade River's tables in the queue database
  worker    send queued messages until SIGINT or SIGTERM
  enqueue   queue one message for the workers

Run "smscourier COMMAND --help" for the flags of a command.

migrate, worker and enqueue run smscourier-queue, the queue module's command
(it keeps River out of this module), which must be on PATH:
  ` + queueInstall + `

Relative file:// template paths are relative to the working directory, as in
Kratos: run smscourier from the directory Kratos runs in.

Environment variables override keys of the file as Kratos' do: the key path
upper-cased, joined by underscores, list indexes as numbers, for example
COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD or
COURIER_CHANNELS_0_REQUEST_CONFIG_URL. Headers cannot be set this way.
--env=false ignores the environment.

Exit status: 0 success; 1 invalid config, or the message could not be
rendered or sent; 2 usage error.
`

// command is one subcommand.
type command struct {
	name    string
	summary string // usage lines and description, before the flags
	run     func(*invocation) int
	flags   func(*flag.FlagSet, *invocation)
}

var commands = []*command{
	{
		name: "validate",
		summary: `Usage: smscourier validate --config FILE [--env=false]

Checks the config (every problem, each with its key path, one per line) and
loads and parses the body template as the library does before sending. On
success prints one line: the layout, whether it is enabled, the method and
host, the auth type, where the body template comes from and the content
type. No credentials are printed. An http(s):// template is fetched.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
		},
		run: runValidate,
	},
	{
		name: "render",
		summary: `Usage: smscourier render --config FILE --to NUMBER --body TEXT [--from SENDER] [--json] [--env=false] [flags]

Prints the exact HTTP request a send would make first: method, URL, the
headers the courier sets (sorted) and the body. Nothing is sent. When
sending, net/http also adds Content-Length, User-Agent and Accept-Encoding.

Credentials are redacted: the Authorization value keeps its scheme
("Basic [REDACTED]"), the api_key header value and every cookie value become
"[REDACTED]", and a password in the URL becomes "xxxxx". Other configured
headers, the URL's query and the body are shown as they are.

The text form prints the body as is and ends it with a newline; --json
prints {"method", "url", "headers", "body"} with the body exact.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			in.messageFlags(fs)
			fs.BoolVar(&in.json, "json", false, "print a JSON object {method, url, headers, body} instead of text")
		},
		run: runRender,
	},
	{
		name: "send",
		summary: `Usage: smscourier send --config FILE --to NUMBER --body TEXT [--from SENDER] [--env=false] [--timeout 30s] [flags]

Sends one SMS and prints the outcome, one "name: value" a line: status,
class (ok, not_sent, refused, outcome_unknown, rejected, cancelled,
invalid_message, template, disabled, other), attempts, idempotency_key, and
when known message_id, segments, error_code and retry_after. The reply
body and the gateway's error message are printed only with --show-reply. Failures that are safe to retry are
retried (--attempts). Exits 0 when the gateway replied 2xx, 1 otherwise.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			in.messageFlags(fs)
			fs.IntVar(&in.attempts, "attempts", 0, "at most `N` HTTP requests, the first included; 1 turns retries off (default 3)")
			fs.BoolVar(&in.showReply, "show-reply", false, "also print the gateway's reply body (it may echo the message text)")
		},
		run: runSend,
	},
}

// invocation holds the flags and environment of one run.
type invocation struct {
	cmd            *command
	environ        []string
	stdout, stderr io.Writer

	config         string
	env            bool
	verbose        bool
	timeout        time.Duration
	to, body, from string
	idempotencyKey string
	json           bool
	attempts       int
	showReply      bool
}

func (in *invocation) configFlags(fs *flag.FlagSet) {
	fs.StringVar(&in.config, "config", "", "the Kratos config `FILE`, YAML or JSON (required)")
	fs.BoolVar(&in.env, "env", true, "apply COURIER_* environment variable overrides, as Kratos does; --env=false ignores them")
}

func (in *invocation) messageFlags(fs *flag.FlagSet) {
	fs.StringVar(&in.to, "to", "", "the recipient `NUMBER` (required)")
	fs.StringVar(&in.body, "body", "", "the message `TEXT` (required)")
	fs.StringVar(&in.from, "from", "", "the `SENDER`, overriding the config's from")
	fs.StringVar(&in.idempotencyKey, "idempotency-key", "", "the message's idempotency `KEY` (default: a random one)")
	fs.DurationVar(&in.timeout, "timeout", 30*time.Second, "give up after this `duration`")
	fs.BoolVar(&in.verbose, "verbose", false, "log what the courier does to stderr (never the text or credentials)")
}

// run executes the command line args and returns the exit status.
func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if args[0] != "help" || len(args) == 1 {
			fmt.Fprint(stdout, mainUsage)
			return exitOK
		}
		if len(args) > 2 {
			fmt.Fprintf(stderr, "smscourier help: one command at most\n\n%s", mainUsage)
			return exitUsage
		}
		if queueCommands[args[1]] {
			return runQueue([]string{args[1], "--help"}, environ, stdout, stderr)
		}
		cmd := lookup(args[1])
		if cmd == nil {
			fmt.Fprintf(stderr, "smscourier help: unknown command %q\n\n%s", args[1], mainUsage)
			return exitUsage
		}
		printUsage(stdout, cmd)
		return exitOK
	}
	if queueCommands[args[0]] {
		return runQueue(args, environ, stdout, stderr)
	}
	cmd := lookup(args[0])
	if cmd == nil {
		fmt.Fprintf(stderr, "smscourier: unknown command %q\n\n%s", args[0], mainUsage)
		return exitUsage
	}
	in := &invocation{cmd: cmd, environ: environ, stdout: stdout, stderr: stderr}
	fs := newFlagSet(cmd, in)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, cmd)
			return exitOK
		}
		return in.usageError("%v", err)
	}
	if fs.NArg() > 0 {
		return in.usageError("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"config", "to", "body"} {
		if fs.Lookup(name) != nil && !set[name] {
			return in.usageError("--%s is required", name)
		}
	}
	if in.config == "" {
		return in.usageError("--config must not be empty")
	}
	if in.attempts < 0 {
		return in.usageError("--attempts must not be negative")
	}
	if set["timeout"] && in.timeout <= 0 {
		return in.usageError("--timeout must be positive")
	}
	return cmd.run(in)
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// newFlagSet returns cmd's flags bound to in. Parse reports errors without
// printing anything; run prints them.
func newFlagSet(cmd *command, in *invocation) *flag.FlagSet {
	fs := flag.NewFlagSet("smscourier "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cmd.flags(fs, in)
	return fs
}

// usageFooter ends the usage text of every command.
const usageFooter = `
Relative file:// template paths are relative to the working directory, as in
Kratos: run smscourier from the directory Kratos runs in.

Environment variables override keys of the file as in Kratos: the key path
upper-cased and joined by underscores, list indexes as numbers
(COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD,
COURIER_CHANNELS_0_REQUEST_CONFIG_URL). Headers cannot be set this way.
--env=false ignores the environment.

Exit status: 0 success; 1 failure; 2 usage error.
`

func printUsage(w io.Writer, cmd *command) {
	fmt.Fprint(w, cmd.summary)
	fmt.Fprint(w, "\nFlags (-flag and --flag are the same):\n")
	fs := newFlagSet(cmd, &invocation{})
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, usageFooter)
}

func (in *invocation) usageError(format string, args ...any) int {
	fmt.Fprintf(in.stderr, "smscourier %s: %s\nRun \"smscourier %s --help\" for usage.\n", in.cmd.name, fmt.Sprintf(format, args...), in.cmd.name)
	return exitUsage
}

// fail prints err and returns exitFailure. A *ConfigError is printed one
// problem a line.
func (in *invocation) fail(err error) int {
	var ce *smscourier.ConfigError
	if errors.As(err, &ce) {
		fmt.Fprintf(in.stderr, "smscourier: %s: invalid config:\n", in.config)
		for _, p := range ce.Problems {
			fmt.Fprintf(in.stderr, "  %s\n", p)
		}
		return exitFailure
	}
	fmt.Fprintln(in.stderr, err)
	return exitFailure
}

// loaded is a parsed config and where in the document it was found.
type loaded struct {
	cfg    smscourier.SMSConfig
	layout string // courier.sms or courier.channels[N]
}

// load reads the config, with environment overrides unless --env=false.
func (in *invocation) load() (loaded, error) {
	data, err := os.ReadFile(in.config)
	if err != nil {
		return loaded{}, fmt.Errorf("smscourier: load config: %w", err)
	}
	var cfg smscourier.SMSConfig
	if in.env {
		cfg, err = smscourier.ParseConfigEnv(data, in.environ)
	} else {
		cfg, err = smscourier.ParseConfig(data)
	}
	if err != nil {
		return loaded{}, err
	}
	var environ []string
	if in.env {
		environ = in.environ
	}
	return loaded{cfg: cfg, layout: layoutOf(data, environ)}, nil
}

// newCourier builds the courier for l. New reports key paths under
// courier.sms; they are moved to the layout the document uses.
func (in *invocation) newCourier(l loaded) (*smscourier.Courier, error) {
	var opts []smscourier.Option
	if in.verbose {
		opts = append(opts, smscourier.WithLogger(slog.New(slog.NewTextHandler(in.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	if in.attempts > 0 {
		opts = append(opts, smscourier.WithRetryPolicy(smscourier.RetryPolicy{MaxAttempts: in.attempts}))
	}
	c, err := smscourier.New(l.cfg, opts...)
	var ce *smscourier.ConfigError
	if errors.As(err, &ce) && l.layout != "courier.sms" {
		// The error is ours alone: edit it in place, keeping what it wraps.
		for i, p := range ce.Problems {
			if rest, ok := strings.CutPrefix(p.Path, "courier.sms"); ok && (rest == "" || rest[0] == '.') {
				ce.Problems[i].Path = l.layout + rest
			}
		}
		return nil, err
	}
	return c, err
}

// layoutOf names the block of the document that holds the SMS settings of
// a config that parsed: courier.sms, or courier.channels[N] for the entry
// whose id is sms. COURIER_CHANNELS_N_ID variables in environ are taken
// into account.
func layoutOf(data []byte, environ []string) string {
	const sms = "courier.sms"
	var doc map[string]any
	if js, err := yaml.YAMLToJSON(data); err != nil || json.Unmarshal(js, &doc) != nil {
		return sms
	}
	courier, _ := doc["courier"].(map[string]any)
	if _, ok := courier["sms"]; ok {
		return sms
	}
	list, _ := courier["channels"].([]any)
	ids := make([]string, max(1, len(list)))
	for i, item := range list {
		m, _ := item.(map[string]any)
		ids[i], _ = m["id"].(string)
	}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		digits, ok := strings.CutPrefix(strings.ToUpper(name), "COURIER_CHANNELS_")
		if !ok {
			continue
		}
		digits, ok = strings.CutSuffix(digits, "_ID")
		if i, err := strconv.Atoi(digits); ok && err == nil && i >= 0 && i < len(ids) && digits == strconv.Itoa(i) {
			ids[i] = value
		}
	}
	for i, id := range ids {
		if id == "sms" {
			return fmt.Sprintf("courier.channels[%d]", i)
		}
	}
	return sms // created by the environment
}

func runValidate(in *invocation) int {
	l, err := in.load()
	if err != nil {
		return in.fail(err)
	}
	if _, err := in.newCourier(l); err != nil {
		return in.fail(err)
	}
	fmt.Fprintln(in.stdout, summary(l))
	return exitOK
}

// summary describes a valid config on one line, without credentials.
func summary(l loaded) string {
	cfg, rc := l.cfg, l.cfg.RequestConfig
	fields := []string{"layout=" + l.layout, "enabled=" + strconv.FormatBool(cfg.Enabled)}
	if rc.URL == "" { // a disabled config without request_config
		return "valid: " + strings.Join(fields, " ")
	}
	host := ""
	if u, err := url.Parse(rc.URL); err == nil {
		host = u.Host
	}
	auth := rc.Auth.Type
	switch {
	case auth == "":
		auth = "none"
	case auth == smscourier.AuthAPIKey:
		auth += "/" + rc.Auth.Config.In
	}
	contentType := "none"
	if rc.Body != "" && rc.Method != "TRACE" {
		contentType = "application/json"
		for name, value := range rc.Headers {
			if strings.EqualFold(name, "Content-Type") {
				contentType = value
			}
		}
	}
	fields = append(fields,
		"method="+rc.Method,
		"host="+host,
		"auth="+auth,
		"template="+templateKind(rc.Body),
		"content_type="+printable(contentType),
	)
	if rc.Response != "" {
		fields = append(fields, "response_template="+templateKind(rc.Response))
	}
	return "valid: " + strings.Join(fields, " ")
}

// templateKind names where a template URI takes its template from.
func templateKind(uri string) string {
	if uri == "" {
		return "none"
	}
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok {
		return "file"
	}
	return strings.ToLower(scheme)
}

// message returns the Message the flags describe.
func (in *invocation) message() smscourier.Message {
	return smscourier.Message{To: in.to, Body: in.body, From: in.from, IdempotencyKey: in.idempotencyKey}
}

// prepare loads the config and builds the courier for render and send.
func (in *invocation) prepare() (*smscourier.Courier, loaded, int) {
	l, err := in.load()
	if err != nil {
		return nil, l, in.fail(err)
	}
	c, err := in.newCourier(l)
	if err != nil {
		return nil, l, in.fail(err)
	}
	return c, l, exitOK
}

func runRender(in *invocation) int {
	c, l, code := in.prepare()
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
	defer cancel()
	req, err := c.Render(ctx, in.message())
	if err != nil {
		return in.fail(explain(err, "would be"))
	}
	shown, err := showRequest(req, l.cfg.RequestConfig.Auth)
	if err != nil {
		return in.fail(err)
	}
	if in.json {
		enc := json.NewEncoder(in.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(shown); err != nil {
			return in.fail(err)
		}
		return exitOK
	}
	fmt.Fprint(in.stdout, shown.text())
	return exitOK
}

// explain adds to an error found before sending that nothing was sent.
func explain(err error, verb string) error {
	switch {
	case errors.Is(err, smscourier.ErrDisabled):
		return fmt.Errorf("%w (enabled: false); nothing %s sent", err, verb)
	case errors.Is(err, smscourier.ErrCancel), errors.Is(err, smscourier.ErrTemplate), errors.Is(err, smscourier.ErrInvalidMessage):
		return fmt.Errorf("%w; nothing %s sent", err, verb)
	}
	return err
}

func runSend(in *invocation) int {
	c, _, code := in.prepare()
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
	defer cancel()
	res, err := c.SendMessage(ctx, in.message())

	status, reply := res.StatusCode, res.Body
	var ge *smscourier.GatewayError
	if errors.As(err, &ge) {
		status, reply = ge.StatusCode, ge.Body
	}
	w := in.stdout
	if status != 0 {
		fmt.Fprintf(w, "status: %d\n", status)
	} else {
		fmt.Fprintln(w, "status: none")
	}
	fmt.Fprintf(w, "class: %s\n", smscourier.FailureClass(err))
	fmt.Fprintf(w, "attempts: %d\n", res.Attempts)
	if res.IdempotencyKey != "" {
		fmt.Fprintf(w, "idempotency_key: %s\n", res.IdempotencyKey)
	}
	if res.MessageID != "" {
		fmt.Fprintf(w, "message_id: %s\n", printable(res.MessageID))
	}
	if s := res.Segments; s.Segments > 0 {
		fmt.Fprintf(w, "segments: %d (%s, %d characters)\n", s.Segments, s.Encoding, s.Characters)
	}
	if ge != nil && ge.ErrorCode != "" {
		fmt.Fprintf(w, "error_code: %s\n", printable(ge.ErrorCode))
	}
	if ge != nil && ge.ErrorMessage != "" && in.showReply {
		fmt.Fprintf(w, "error_message: %s\n", printable(ge.ErrorMessage))
	}
	if ge != nil && ge.RetryAfter > 0 {
		fmt.Fprintf(w, "retry_after: %s\n", ge.RetryAfter)
	}
	if in.showReply && reply != nil {
		fmt.Fprintf(w, "reply: %s\n", strconv.Quote(string(reply)))
	}
	if err != nil {
		fmt.Fprintln(in.stderr, explain(err, "was"))
		return exitFailure
	}
	return exitOK
}

// printable returns s as it is when it is plain visible text, else quoted,
// so that a gateway's reply cannot write control sequences to a terminal.
func printable(s string) string {
	if q := strconv.Quote(s); q[1:len(q)-1] == s && s != "" && !strings.ContainsAny(s, " \"\\") {
		return s
	}
	return strconv.Quote(s)
}
