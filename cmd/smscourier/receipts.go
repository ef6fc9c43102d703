package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/receipt"
)

// receiptsKey is the key, in the smscourier section, of the delivery
// receipts' settings (package receipt reads them).
const receiptsKey = "receipts"

// statusCommand prints a queued message's lifecycle.
var statusCommand = &command{
	name: "status",
	summary: `Usage: smscourier status (--key KEY | --message-id ID) [--database URL] [--json]

Prints the lifecycle of one queued message, found by its idempotency key
(the key enqueue printed) or by the gateway's message id: its state
(queued, sending, sent, delivered, undelivered, failed, or
may_have_been_delivered), each state reached with its time and gateway,
and the delivery receipts stored for it (provider, status, error code,
times). A worker records the sends, and with --receipts-addr the receipts;
migrate creates their tables. It never prints the text or the full
number. It fails when no such message is known (never queued, or past the
retention period).
`,
	flags: func(fs *flag.FlagSet, in *invocation) {
		in.databaseFlag(fs)
		fs.StringVar(&in.statusKey, "key", "", "the message's idempotency `KEY`")
		fs.StringVar(&in.statusMessageID, "message-id", "", "the gateway's message `ID`")
		fs.BoolVar(&in.json, "json", false, "print the lifecycle as JSON")
	},
	run: runStatus,
}

func runStatus(in *invocation) int {
	if (in.statusKey == "") == (in.statusMessageID == "") {
		return in.usageError("give one of --key and --message-id")
	}
	ctx := in.ctx
	st, err := in.open(ctx, false)
	if err != nil {
		return in.fail(err)
	}
	defer st.close()
	tr, err := st.tracker(ctx, queue.TrackerConfig{})
	if err != nil {
		return in.fail(err)
	}
	var lc queue.Lifecycle
	if in.statusKey != "" {
		lc, err = tr.Lookup(ctx, in.statusKey)
	} else {
		lc, err = tr.LookupMessageID(ctx, in.statusMessageID)
	}
	if errors.Is(err, queue.ErrNotFound) {
		return in.fail(fmt.Errorf("no such message in %s (never queued, or past the retention period)", st.shown))
	}
	if err != nil {
		return in.fail(err)
	}
	if in.json {
		return in.printJSON(lc)
	}
	printLifecycle(in.stdout, lc)
	return exitOK
}

// printLifecycle prints lc as status does: one "name: value" a line, then
// the steps and the receipts, one a line.
func printLifecycle(w io.Writer, lc queue.Lifecycle) {
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s: %s\n", name, value)
		}
	}
	line("idempotency_key", lc.IdempotencyKey)
	if lc.JobID != 0 {
		line("job", fmt.Sprint(lc.JobID))
	}
	line("state", string(lc.State))
	line("to", lc.To)
	line("calling_code", lc.CountryPrefix)
	line("gateway", lc.Gateway)
	line("message_id", lc.MessageID)
	line("provider", lc.Provider)
	line("error_code", lc.ErrorCode)
	line("reason", lc.Reason)
	fmt.Fprintln(w, "steps:")
	for _, s := range lc.Steps {
		fmt.Fprintf(w, "  %-24s %s", s.State, s.Time.UTC().Format(time.RFC3339Nano))
		if s.Gateway != "" {
			fmt.Fprintf(w, "  %s", s.Gateway)
		}
		fmt.Fprintln(w)
	}
	if len(lc.Receipts) == 0 {
		fmt.Fprintln(w, "receipts: none")
		return
	}
	fmt.Fprintln(w, "receipts:")
	for _, r := range lc.Receipts {
		fmt.Fprintf(w, "  %s  %s %s (%s)", r.Time.UTC().Format(time.RFC3339Nano), r.Provider, r.Status, r.ProviderStatus)
		if r.ErrorCode != "" {
			fmt.Fprintf(w, " error_code %s", r.ErrorCode)
		}
		fmt.Fprintf(w, "  received %s\n", r.ReceivedAt.UTC().Format(time.RFC3339Nano))
	}
}

// tracker returns the Tracker of st's database, refusing one whose
// tracker tables migrate has not created, naming the command to run.
func (st *store) tracker(ctx context.Context, cfg queue.TrackerConfig) (*queue.Tracker, error) {
	tr, err := queue.NewTracker(st.db, cfg)
	if err != nil {
		return nil, err
	}
	ok, err := tr.Migrated(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking the message lifecycle tables in %s: %w", st.shown, err)
	}
	if !ok {
		return nil, fmt.Errorf("the database %s lacks the message lifecycle tables (smscourier_messages...) this program needs; create them first with: smscourier migrate --database %s", st.shown, shellQuote(st.shown))
	}
	return tr, nil
}

// loadReceipts reads the config's smscourier.receipts section, with the
// environment's SMSCOURIER_RECEIPTS_* unless --env=false, for the
// worker's --receipts-addr: it fails when the config has none.
func (in *invocation) loadReceipts() (receipt.Config, error) {
	data, err := os.ReadFile(in.config)
	if err != nil {
		return receipt.Config{}, fmt.Errorf("smscourier: load config: %w", err)
	}
	var environ []string
	if in.env {
		environ = in.environ
	}
	cfg, err := receipt.ParseConfigEnv(data, environ)
	if err != nil {
		return receipt.Config{}, err
	}
	if len(cfg.Providers) == 0 {
		return receipt.Config{}, fmt.Errorf("--receipts-addr: the config has no providers under smscourier.receipts (see docs/receipts.md)")
	}
	return cfg, nil
}

// receiptServer is the worker's server of receipt callbacks.
type receiptServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// serveReceipts starts serving cfg's receipt endpoints on addr, handing
// the receipts to tr.
func serveReceipts(addr string, cfg receipt.Config, tr *queue.Tracker, log *slog.Logger) (*receiptServer, error) {
	mux, err := cfg.Mux(tr, receipt.WithLogger(log))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--receipts-addr: %w", err)
	}
	rs := &receiptServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { rs.done <- rs.srv.Serve(ln) }()
	path := cfg.Path
	if path == "" {
		path = receipt.DefaultPath
	}
	names := slices.Sorted(maps.Keys(cfg.Providers))
	log.Info("smscourier: serving delivery receipts", slog.String("addr", ln.Addr().String()), slog.String("path", path+"/{provider}"),
		slog.String("providers", strings.Join(names, ",")))
	return rs, nil
}

// stop shuts the server down, letting callbacks under way finish for up
// to 10 seconds.
func (rs *receiptServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := rs.srv.Shutdown(ctx)
	if serr := <-rs.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// logFinal returns an OnFinal that logs each message's end.
func logFinal(log *slog.Logger) func(context.Context, queue.DeliveryReport) {
	return func(ctx context.Context, r queue.DeliveryReport) {
		attrs := []slog.Attr{
			slog.String("idempotency_key", r.IdempotencyKey),
			slog.String("state", string(r.State)),
			slog.String("gateway", r.Gateway),
			slog.String("to", r.To),
		}
		if r.Provider != "" {
			attrs = append(attrs, slog.String("provider", r.Provider))
		}
		if r.ErrorCode != "" {
			attrs = append(attrs, slog.String("error_code", r.ErrorCode))
		}
		if r.Latency > 0 {
			attrs = append(attrs, slog.Duration("latency", r.Latency))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "smscourier: message ended", attrs...)
	}
}

// resends reports whether a route of rc resends undelivered messages.
func resends(rc smscourier.RoutingConfig) bool {
	if rc.Default.ResendUndelivered {
		return true
	}
	for _, r := range rc.Routes {
		if r.ResendUndelivered {
			return true
		}
	}
	return false
}
