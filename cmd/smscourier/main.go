// Command smscourier checks, previews and sends SMS with the courier settings
// of an Ory Kratos config file: courier.sms (the layout of the Kratos SMS
// courier docs) or the courier.channels entry with id sms (current Kratos).
// It also runs the durable queue (River on a SQLite file or PostgreSQL) and a
// local fake gateway to try it all without an account.
//
//	go install github.com/smscourier/smscourier/cmd/smscourier@latest
//
//	smscourier validate --config kratos.yml
//	smscourier render   --config kratos.yml --to +14134242223 --body 'Your code is 123456'
//	smscourier send     --config kratos.yml --to +14134242223 --body 'Your code is 123456'
//	smscourier migrate
//	smscourier worker   --config kratos.yml
//	smscourier enqueue  --config kratos.yml --to +14134242223 --body 'Your code is 123456'
//	smscourier gateway  --addr 127.0.0.1:8025
//
// validate checks the whole config and its body template and prints a
// one-line summary; render prints the exact HTTP request a send would make,
// credentials redacted, and sends nothing; send sends one SMS and prints the
// outcome. migrate creates the queue's tables, worker sends queued messages
// until SIGINT or SIGTERM, and enqueue queues one message. gateway serves a
// fake SMS gateway on loopback and prints every request it receives.
// Relative file:// template paths are relative to the working directory,
// as in Kratos: run it from the directory Kratos runs in. Kratos-style
// COURIER_* environment variables override keys of the file, as in Kratos
// (see smscourier.ParseConfigEnv); --env=false ignores them.
//
// A config with a top-level smscourier section is a routing config (see
// smscourier.ParseRoutingConfigEnv): validate, render and send then use a
// smscourier.Router, and show every gateway of a route.
//
// A config with a smscourier.guard section (see package guard) puts a
// guard against SMS pumping in front of what sends: send and worker
// enforce it, enqueue refuses up front what its policy blocks, and
// validate --to and render say what it would do with a recipient.
//
// Exit status: 0 on success, 1 when the config is invalid or the message
// could not be rendered or sent, 2 on a usage error, 3 when the guard
// blocked the message (send, enqueue) or would block it (render,
// validate --to).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/guard/pgstore"
	"sigs.k8s.io/yaml"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitBlocked = 3 // the guard blocked the message, or would block it
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const mainUsage = `smscourier checks, previews and sends SMS with the courier settings of an
Ory Kratos config file (courier.sms, or the courier.channels entry with id
sms), runs a durable queue of them, and fakes a gateway to try it on.

Usage:
  smscourier validate --config FILE [--to NUMBER] [--env=false]
  smscourier render   --config FILE --to NUMBER --body TEXT [--from SENDER] [--json] [--env=false] [flags]
  smscourier send     --config FILE --to NUMBER --body TEXT [--from SENDER] [--env=false] [--timeout 30s] [--database URL] [flags]
  smscourier migrate  [--database URL]
  smscourier worker   --config FILE [--database URL] [--env=false] [flags]
  smscourier enqueue  --config FILE --to NUMBER --body TEXT [--database URL] [--env=false] [flags]
  smscourier gateway  [--addr 127.0.0.1:0] [--status 201] [--reply JSON]
  smscourier help [COMMAND]

Commands:
  validate  check the config and its body template; print a one-line summary
  render    print the HTTP request a send would make, credentials redacted; send nothing
  send      send one SMS and print the outcome
  migrate   create or upgrade River's tables in the queue database
  worker    send queued messages until SIGINT or SIGTERM
  enqueue   queue one message for the workers
  gateway   serve a fake SMS gateway on loopback and print what it receives

Run "smscourier COMMAND --help" for the flags of a command.

Relative file:// template paths are relative to the working directory, as in
Kratos: run smscourier from the directory Kratos runs in.

Environment variables override keys of the file as Kratos' do: the key path
upper-cased, joined by underscores, list indexes as numbers, for example
COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD or
COURIER_CHANNELS_0_REQUEST_CONFIG_URL. Headers cannot be set this way.
--env=false ignores the environment.

A config file with a top-level smscourier section is a routing config: named
gateways, routes by number prefix and a default route (see
smscourier.ParseRoutingConfig); its courier section, if any, is the gateway
named courier. validate, render and send then work on the whole route.

A smscourier.guard section (see package guard) sets a guard against SMS
pumping: a destination policy and rate limits. send and worker send through
it; enqueue refuses up front a message its policy blocks; validate --to and
render say whether it would block the recipient, and by which rule. A
blocked message is printed as class: blocked, rule, country and, for a
limit, retry_after; never the number. The worker counts the limits in the
queue's PostgreSQL database (migrate creates the guard's tables there), or
in its memory with SQLite; send in memory, unless --database names that
PostgreSQL database. Limits counted in PostgreSQL need the guard's
key_secret, or SMSCOURIER_GUARD_KEY_SECRET (ignored with --env=false).

The queue database is the SQLite file ` + defaultDatabase + ` unless
--database names another file (a path, file:PATH or sqlite://PATH) or a
PostgreSQL database (postgres://... or postgresql://...).

Exit status: 0 success; 1 invalid config, or the message could not be
rendered or sent; 2 usage error; 3 blocked by the guard (send, enqueue), or
it would be (render, validate --to).
`

// command is one subcommand.
type command struct {
	name     string
	summary  string   // usage lines and description, before the flags
	required []string // the flags that must be given
	run      func(*invocation) int
	flags    func(*flag.FlagSet, *invocation)
}

// commands are every command but help, in the order of the usage text.
var commands = slices.Concat(messageCommands, queueCommands, []*command{statusCommand, gatewayCommand})

// messageCommands are the commands that check, render and send one message.
var messageCommands = []*command{
	{
		name:     "validate",
		required: []string{"config"},
		summary: `Usage: smscourier validate --config FILE [--to NUMBER] [--env=false]

Checks the config (every problem, each with its key path, one per line) and
loads and parses the body template as the library does before sending. On
success prints one line: the layout, whether it is enabled, the method and
host, the auth type, where the body template comes from and the content
type. No credentials are printed. An http(s):// template is fetched.

It also warns on stderr, without failing, about a method that is not upper
case or not a standard HTTP method, and about placeholders (YOUR_..., as in
the presets) still in place of real values.

A routing config (a top-level smscourier section) is checked whole, every
gateway's templates loaded, and summed up a line each:

  valid: layout=smscourier gateways=2 routes=1
  gateway courier: layout=courier.sms method=POST host=api.twilio.com ...
  gateway vonage: method=POST host=rest.nexmo.com ...
  route +44: vonage, courier
  route default: {courier: 80, vonage: 20}
  breaker: failures=5 cool_down=30s

A share lists its gateways by weight, heaviest first; used=false marks the
courier section's block when no route names it. The warnings name each
gateway's key path (smscourier.gateways.NAME...).

With a guard section (smscourier.guard) it adds a line with the guard's
settings, and with --to one saying whether the guard's policy blocks that
recipient, and by which rule (exit status 3 when it does, unless dry_run
is on); the limits are not checked, as they count the messages sent:

  guard: dry_run=false policy=deny_countries limits=recipient.cooldown
  guard: --to would be blocked by deny_country (country FR)
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			fs.StringVar(&in.to, "to", "", "with a guard section, say whether its policy blocks the recipient `NUMBER`")
		},
		run: runValidate,
	},
	{
		name:     "render",
		required: []string{"config", "to", "body"},
		summary: `Usage: smscourier render --config FILE --to NUMBER --body TEXT [--from SENDER] [--json] [--env=false] [flags]

Prints the exact HTTP request a send would make first: method, URL, the
headers the courier sets (sorted) and the body. Nothing is sent. When
sending, net/http also adds Content-Length, User-Agent and Accept-Encoding.

Credentials are redacted as the library's RequestConfig.Redacted does: the
Authorization value keeps its scheme ("Basic [REDACTED]"), the api_key
header value, every cookie value and the value of any header whose name
suggests a credential become "[REDACTED]", and the URL's user information
and credential-like query values (api_key=, token=, ...) become "[REDACTED]".
Other headers, the rest of the URL and the body are shown as they are.

The text form prints the body as is and ends it with a newline; --json
prints {"method", "url", "headers", "body"} with the body exact.

With a routing config (a top-level smscourier section) it prints the
request of every gateway of the recipient's route, in the order a send
tries them (a share's heaviest first), each after a line "gateway NAME (I of
N)" and followed by a blank line but for the last, all with one idempotency
key, each gateway's credentials redacted. A gateway whose template fails or
cancels the message, which a send would move on from, shows "not rendered:
ERROR". --json prints an array of the objects, each with "gateway" (and
"error" in place of the request for one not rendered).

With a guard section (smscourier.guard) it first checks the message
against the guard, counting nothing: its policy, and its limits as if
nothing had been sent yet, so that of those only a segment budget shorter
than the message can block it. A block is printed on stderr with its rule
and nothing else (exit status 3, unless dry_run is on); otherwise stderr
says that the guard allows it, and the request follows on stdout.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			in.messageFlags(fs)
			in.sendFlags(fs)
			fs.BoolVar(&in.json, "json", false, "print a JSON object {method, url, headers, body} instead of text")
		},
		run: runRender,
	},
	{
		name:     "send",
		required: []string{"config", "to", "body"},
		summary: `Usage: smscourier send --config FILE --to NUMBER --body TEXT [--from SENDER] [--env=false] [--timeout 30s] [--database URL] [flags]

Sends one SMS and prints the outcome, one "name: value" a line: status,
class (` + classList() + `),
attempts, idempotency_key, and when known message_id, segments, error_code
and retry_after. The reply body (exactly as received) and the gateway's
error message are printed only with --show-reply. Failures that are safe to retry are retried
(--attempts). Exits 0 when the gateway replied 2xx, 1 otherwise.

With a routing config (a top-level smscourier section) it also prints
gateway, the gateway of the last request (none before any), and
tried, each step of the send in order: "vonage not_sent, courier ok", a
gateway passed over as "vonage skipped (circuit_open)" or "(retry_after)".
--attempts then counts passes over the route.

With a guard section (smscourier.guard) the message goes through the
guard. When it blocks the message, nothing is sent, class is blocked and
rule, country and (for a limit) retry_after follow; the exit status is 3:

  status: none
  class: blocked
  attempts: 0
  idempotency_key: 0b6e2f0c-...
  segments: 1 (GSM-7, 19 characters)
  rule: deny_country
  country: FR

The guard counts its limits in memory, for this send alone, unless
--database names the queue's PostgreSQL database, whose counts the workers
share (the guard then needs its key_secret). In dry-run mode (dry_run: true) a block is a warning on stderr and
the message is sent.
`,
		flags: func(fs *flag.FlagSet, in *invocation) {
			in.configFlags(fs)
			in.messageFlags(fs)
			in.sendFlags(fs)
			fs.StringVar(&in.database, "database", "", "with a guard section, count its limits in this PostgreSQL `URL` (postgres://...), the queue's database, with the workers (default: in memory, for this send alone)")
			fs.IntVar(&in.attempts, "attempts", 0, "at most `N` HTTP requests, at least 1, the first included; 1 turns retries off (default 3)")
			fs.BoolVar(&in.showReply, "show-reply", false, "also print the gateway's reply body (it may echo the message text)")
		},
		run: runSend,
	},
}

// classList lists the classes send may print, as smscourier defines them.
func classList() string {
	var names []string
	for _, c := range smscourier.Classes() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

// invocation holds the flags and environment of one run.
type invocation struct {
	cmd            *command
	ctx            context.Context // ends at SIGINT or SIGTERM
	environ        []string
	stdout, stderr io.Writer

	// validate, render, send, worker and enqueue
	config  string
	env     bool
	verbose bool

	// validate, render, send and enqueue
	to string

	// render, send and enqueue
	body, from     string
	requester      string
	idempotencyKey string
	timeout        time.Duration
	strictE164     bool
	json           bool
	attempts       int
	showReply      bool

	// migrate, worker, enqueue and send
	database    string
	maxWorkers  int
	rate        float64
	burst       int
	idemHeader  string
	retention   time.Duration
	stopTimeout time.Duration
	notAfter    time.Duration
	maxAttempts int

	// worker
	receiptsAddr string

	// status
	statusKey, statusMessageID string

	// gateway
	addr   string
	status int
	reply  string
}

func (in *invocation) configFlags(fs *flag.FlagSet) {
	fs.StringVar(&in.config, "config", "", "the Kratos or routing config `FILE`, YAML or JSON (required)")
	fs.BoolVar(&in.env, "env", true, "apply COURIER_* (and SMSCOURIER_GATEWAYS_*) environment variable overrides, as Kratos does; --env=false ignores them")
}

// messageFlags are the flags of one message: enqueue's, and with
// sendFlags render's and send's.
func (in *invocation) messageFlags(fs *flag.FlagSet) {
	fs.StringVar(&in.to, "to", "", "the recipient `NUMBER` (required)")
	fs.StringVar(&in.body, "body", "", "the message `TEXT` (required)")
	fs.StringVar(&in.from, "from", "", "the `SENDER`, overriding the config's from")
	fs.StringVar(&in.idempotencyKey, "idempotency-key", "", "the message's idempotency `KEY` (default: a random one)")
	fs.StringVar(&in.requester, "requester", "", "who asks for the message (an account `ID`, a client IP), for the guard's per-requester limit")
}

// sendFlags are the flags render and send add to messageFlags.
func (in *invocation) sendFlags(fs *flag.FlagSet) {
	fs.DurationVar(&in.timeout, "timeout", 30*time.Second, "give up after this `duration`")
	fs.BoolVar(&in.strictE164, "strict-e164", false, "refuse a recipient that is not an E.164 number (+, then 1 to 15 digits, the first not 0)")
	fs.BoolVar(&in.verbose, "verbose", false, "log what the courier does to stderr (never the text or credentials)")
}

// run executes the command line args and returns the exit status. ctx ends
// the worker and cancels a send.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
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
		cmd := lookup(args[1])
		if cmd == nil {
			fmt.Fprintf(stderr, "smscourier help: unknown command %q\n\n%s", args[1], mainUsage)
			return exitUsage
		}
		printUsage(stdout, cmd)
		return exitOK
	}
	cmd := lookup(args[0])
	if cmd == nil {
		fmt.Fprintf(stderr, "smscourier: unknown command %q\n\n%s", args[0], mainUsage)
		return exitUsage
	}
	in := &invocation{cmd: cmd, ctx: ctx, environ: environ, stdout: stdout, stderr: stderr}
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
	for _, name := range cmd.required {
		if !set[name] {
			return in.usageError("--%s is required", name)
		}
	}
	if msg := in.checkFlags(fs, set); msg != "" {
		return in.usageError("%s", msg)
	}
	return cmd.run(in)
}

// checkFlags returns what is wrong with the values of the flags fs
// defines, set naming those given, or "".
func (in *invocation) checkFlags(fs *flag.FlagSet, set map[string]bool) string {
	has := func(name string) bool { return fs.Lookup(name) != nil }
	switch {
	case has("config") && in.config == "":
		return "--config must not be empty"
	case set["attempts"] && in.attempts < 1:
		return "--attempts must be at least 1 (1 turns retries off)"
	case set["timeout"] && in.timeout <= 0:
		return "--timeout must be positive"
	case set["database"] && in.database == "":
		return "--database must not be empty"
	case in.cmd != nil && in.cmd.name == "send" && in.database != "" && !isPostgres(in.database):
		return "--database of send must be a PostgreSQL URL (postgres://...): only there are the guard's counts shared"
	case has("max-workers") && in.maxWorkers < 1, has("burst") && in.burst < 1:
		return "--max-workers and --burst must be at least 1"
	case has("max-attempts") && in.maxAttempts < 0:
		return "--max-attempts must not be negative"
	case in.rate < 0 || in.notAfter < 0 || in.stopTimeout < 0:
		return "--rate, --not-after and --stop-timeout must not be negative"
	case has("status") && (in.status < 200 || in.status > 999):
		return "--status must be 200 to 999"
	}
	return ""
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

// configFooter ends the usage text of the commands that read a config.
const configFooter = `
Relative file:// template paths are relative to the working directory, as in
Kratos: run smscourier from the directory Kratos runs in.

Environment variables override keys of the file as in Kratos: the key path
upper-cased and joined by underscores, list indexes as numbers
(COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD,
COURIER_CHANNELS_0_REQUEST_CONFIG_URL). Headers cannot be set this way.
In a routing config (a top-level smscourier section), gateway NAME takes
SMSCOURIER_GATEWAYS_<NAME>_FROM and SMSCOURIER_GATEWAYS_<NAME>_REQUEST_CONFIG_K
(K: URL, METHOD, BODY, RESPONSE, AUTH_TYPE, AUTH_CONFIG_USER, ...), NAME
upper-cased with '-' written '_'. A guard section's key_secret is taken
from SMSCOURIER_GUARD_KEY_SECRET when it is set. --env=false ignores the
environment.
`

// databaseFooter ends the usage text of the queue commands.
const databaseFooter = `
--database is a SQLite file (migrate creates it if missing: PATH, file:PATH or
sqlite://PATH) or a PostgreSQL URL (postgres://user:password@host/db).
`

func printUsage(w io.Writer, cmd *command) {
	fmt.Fprint(w, cmd.summary)
	fmt.Fprint(w, "\nFlags (-flag and --flag are the same):\n")
	fs := newFlagSet(cmd, &invocation{})
	fs.SetOutput(w)
	fs.PrintDefaults()
	if fs.Lookup("config") != nil {
		fmt.Fprint(w, configFooter)
	}
	if fs.Lookup("database") != nil {
		fmt.Fprint(w, databaseFooter)
	}
	if fs.Lookup("to") != nil {
		fmt.Fprint(w, "\nExit status: 0 success; 1 failure; 2 usage error; 3 blocked by the guard.\n")
		return
	}
	fmt.Fprint(w, "\nExit status: 0 success; 1 failure; 2 usage error.\n")
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
	if msg := err.Error(); strings.HasPrefix(msg, "smscourier") {
		fmt.Fprintln(in.stderr, msg)
	} else {
		fmt.Fprintf(in.stderr, "smscourier %s: %s\n", in.cmd.name, msg)
	}
	return exitFailure
}

// loaded is a parsed config and where in the document it was found.
type loaded struct {
	cfg    smscourier.SMSConfig
	layout string // courier.sms or courier.channels[N]
	// routing is the routing config of a document with a top-level
	// smscourier section, else nil. cfg is then its GatewayCourier block,
	// if any.
	routing *smscourier.RoutingConfig
	// guard is the guard's settings of a document with a smscourier.guard
	// section, else nil.
	guard *guard.Config
}

// load reads the config, with environment overrides unless --env=false.
// A document with a top-level smscourier section that holds more than the
// guard's settings is read as a routing config
// (smscourier.ParseRoutingConfigEnv), any other as a Kratos config; a
// smscourier.guard section is read by package guard. The problems of both
// are reported together.
func (in *invocation) load() (loaded, error) {
	data, err := os.ReadFile(in.config)
	if err != nil {
		return loaded{}, fmt.Errorf("smscourier: load config: %w", err)
	}
	l, err := in.loadSenders(data)
	if hasGuardSection(data) {
		gcfg, gerr := in.parseGuard(data)
		if err != nil || gerr != nil {
			return loaded{}, joinConfigErrors(err, gerr)
		}
		l.guard = &gcfg
	}
	return l, err
}

// loadSenders reads what sends of data, as load does.
func (in *invocation) loadSenders(data []byte) (loaded, error) {
	var environ []string
	if in.env {
		environ = in.environ
	}
	var err error
	if hasRoutingSection(data) {
		rc, err := smscourier.ParseRoutingConfigEnv(data, environ)
		if err != nil {
			return loaded{}, err
		}
		return loaded{cfg: rc.Gateways[smscourier.GatewayCourier], layout: layoutOf(data, environ), routing: &rc}, nil
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
	return loaded{cfg: cfg, layout: layoutOf(data, environ)}, nil
}

// logger is the logger of --verbose: every level, as text, to stderr.
func (in *invocation) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(in.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// options returns the options the flags ask for, then extra.
func (in *invocation) options(extra ...smscourier.Option) []smscourier.Option {
	var opts []smscourier.Option
	if in.strictE164 {
		opts = append(opts, smscourier.WithStrictE164())
	}
	if in.verbose {
		opts = append(opts, smscourier.WithLogger(in.logger()))
	}
	if in.attempts > 0 {
		opts = append(opts, smscourier.WithRetryPolicy(smscourier.RetryPolicy{MaxAttempts: in.attempts}))
	}
	return append(opts, extra...)
}

// newSender builds what sends for l with the options the flags ask for,
// then extra: a *smscourier.Router for a routing config, else a
// *smscourier.Courier.
func (in *invocation) newSender(l loaded, extra ...smscourier.Option) (smscourier.Sender, error) {
	if l.routing != nil {
		r, err := smscourier.NewRouter(*l.routing, in.options(extra...)...)
		if err != nil {
			return nil, movePaths(err, l.layout)
		}
		return r, nil
	}
	c, err := in.newCourier(l, extra...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newCourier builds the courier for l with the options the flags ask for,
// then opts. New reports key paths under courier.sms; they are moved to the
// layout the document uses.
func (in *invocation) newCourier(l loaded, extra ...smscourier.Option) (*smscourier.Courier, error) {
	c, err := smscourier.New(l.cfg, in.options(extra...)...)
	if err != nil {
		return nil, movePaths(err, l.layout)
	}
	return c, nil
}

// movePaths moves the key paths under courier.sms of the problems of a
// *ConfigError err to layout, the block of the document that holds the
// SMS settings, and returns err.
func movePaths(err error, layout string) error {
	var ce *smscourier.ConfigError
	if errors.As(err, &ce) && layout != "courier.sms" {
		// The error is ours alone: edit it in place, keeping what it wraps.
		for i, p := range ce.Problems {
			if rest, ok := strings.CutPrefix(p.Path, "courier.sms"); ok && (rest == "" || rest[0] == '.') {
				ce.Problems[i].Path = layout + rest
			}
		}
	}
	return err
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
	s, err := in.newSender(l)
	if err != nil {
		return in.fail(err)
	}
	for _, w := range warnings(l) {
		fmt.Fprintf(in.stderr, "smscourier validate: warning: %s\n", w)
	}
	if l.routing != nil {
		fmt.Fprint(in.stdout, routingSummary(l))
	} else {
		fmt.Fprintln(in.stdout, summary(l))
	}
	if l.guard != nil {
		return in.validateGuard(s, l)
	}
	return exitOK
}

// summary describes a valid config on one line, without credentials.
func summary(l loaded) string {
	fields := []string{"layout=" + l.layout, "enabled=" + strconv.FormatBool(l.cfg.Enabled)}
	return "valid: " + strings.Join(append(fields, requestFields(l.cfg.RequestConfig)...), " ")
}

// requestFields describe the request_config rc as summary does, without
// credentials: none when rc has no URL (a disabled block without
// request_config).
func requestFields(rc smscourier.RequestConfig) []string {
	if rc.URL == "" {
		return nil
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
	fields := []string{
		"method=" + rc.Method,
		"host=" + host,
		"auth=" + auth,
		"template=" + templateKind(rc.Body),
		"content_type=" + printable(contentType),
	}
	if rc.Response != "" {
		fields = append(fields, "response_template="+templateKind(rc.Response))
	}
	return fields
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
	return smscourier.Message{To: in.to, Body: in.body, From: in.from, IdempotencyKey: in.idempotencyKey, Requester: in.requester}
}

// prepare loads the config and builds the sender for render and send: a
// *smscourier.Router for a routing config, else a *smscourier.Courier.
func (in *invocation) prepare() (smscourier.Sender, loaded, int) {
	l, err := in.load()
	if err != nil {
		return nil, l, in.fail(err)
	}
	s, err := in.newSender(l)
	if err != nil {
		return nil, l, in.fail(err)
	}
	return s, l, exitOK
}

func runRender(in *invocation) int {
	s, l, code := in.prepare()
	if s == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	if l.guard != nil {
		if code := in.renderGuard(ctx, s, l, in.message()); code != exitOK {
			return code
		}
	}
	if r, ok := s.(*smscourier.Router); ok {
		return in.renderRoute(ctx, r, l)
	}
	req, err := s.Render(ctx, in.message())
	if err != nil {
		return in.fail(explain(err, "would be"))
	}
	shown, err := showRequest(req, l.cfg.RequestConfig.Auth)
	if err != nil {
		return in.fail(err)
	}
	if in.json {
		return in.printJSON(shown)
	}
	fmt.Fprint(in.stdout, shown.text())
	return exitOK
}

// printJSON prints v as render --json does: indented, HTML characters as
// they are.
func (in *invocation) printJSON(v any) int {
	enc := json.NewEncoder(in.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return in.fail(err)
	}
	return exitOK
}

// explain adds to an error found before sending that nothing was sent.
func explain(err error, verb string) error {
	switch {
	case errors.Is(err, smscourier.ErrDisabled):
		return fmt.Errorf("%w (enabled: false); nothing %s sent", err, verb)
	case errors.Is(err, smscourier.ErrCancel), errors.Is(err, smscourier.ErrTemplate), errors.Is(err, smscourier.ErrInvalidMessage),
		errors.Is(err, smscourier.ErrBlocked):
		return fmt.Errorf("%w; nothing %s sent", err, verb)
	}
	return err
}

func runSend(in *invocation) int {
	s, l, code := in.prepare()
	if s == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	sender := s
	var wouldBlock *smscourier.Event // a block of a guard in dry-run mode
	if l.guard != nil {
		opts := []guard.Option{guard.WithObserver(func(ev smscourier.Event) { wouldBlock = &ev })}
		if in.verbose {
			opts = append(opts, guard.WithLogger(in.logger()))
		}
		if in.database != "" {
			pool, err := openGuardPool(ctx, in.database)
			if err != nil {
				return in.fail(err)
			}
			defer pool.Close()
			opts = append(opts, guard.WithStore(pgstore.New(pool)))
		}
		g, err := newGuard(s, l, opts...)
		if err != nil {
			return in.fail(err)
		}
		sender = g
	}
	res, err := sender.SendMessage(ctx, in.message())
	if wouldBlock != nil && wouldBlock.DryRun {
		fmt.Fprintf(in.stderr, "smscourier send: warning: the guard would block the message by %s; dry_run is on, so it was sent\n",
			blockText(&smscourier.BlockedError{Rule: wouldBlock.Rule, Country: wouldBlock.Country, RetryAfter: wouldBlock.RetryAfter}))
	}

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
	fmt.Fprintf(w, "class: %s\n", smscourier.ClassOf(err))
	fmt.Fprintf(w, "attempts: %d\n", res.Attempts)
	if _, ok := s.(*smscourier.Router); ok {
		fmt.Fprintf(w, "gateway: %s\n", cmp.Or(res.Gateway, "none"))
		fmt.Fprintf(w, "tried: %s\n", tried(res.Tried))
	}
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
	var be *smscourier.BlockedError
	if errors.As(err, &be) {
		printBlock(w, be)
	}
	if in.showReply && reply != nil {
		// As received: the user asked for it, and a quoted JSON reply is
		// hard to read.
		fmt.Fprintf(w, "reply: %s\n", reply)
	}
	if err != nil {
		fmt.Fprintln(in.stderr, explain(err, "was"))
		if be != nil {
			return exitBlocked
		}
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
