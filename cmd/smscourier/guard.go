package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/guard"
)

// guardKey is the key, in the smscourier section, of the guard's settings
// (package guard reads them).
const guardKey = "guard"

// hasGuardSection reports whether data, a YAML or JSON document, has a
// smscourier.guard section that is not null: the guard's settings, which
// send, worker and enqueue then enforce.
func hasGuardSection(data []byte) bool {
	doc, ok := decodeDocument(data)
	if !ok {
		return false
	}
	section, _ := doc[routingSection].(map[string]any)
	g, ok := section[guardKey]
	return ok && g != nil
}

// parseGuard returns the guard's settings of data, a document with a
// guard section, with the environment's SMSCOURIER_GUARD_KEY_SECRET
// (guard.ParseConfigEnv) unless --env=false.
func (in *invocation) parseGuard(data []byte) (guard.Config, error) {
	if in.env {
		return guard.ParseConfigEnv(data, in.environ)
	}
	return guard.ParseConfig(data)
}

// joinConfigErrors returns the error of a config whose courier or routing
// part failed with err and whose guard section failed with gerr: one
// *smscourier.ConfigError with the problems of both when both are config
// errors, else the first that is not nil. A document that does not decode
// is reported once.
func joinConfigErrors(err, gerr error) error {
	var ce, gce *smscourier.ConfigError
	if !errors.As(err, &ce) || !errors.As(gerr, &gce) {
		if err != nil {
			return err
		}
		return gerr
	}
	joined := &smscourier.ConfigError{Problems: slices.Clone(ce.Problems)}
	documentBad := slices.ContainsFunc(ce.Problems, func(p smscourier.Problem) bool { return p.Path == "document" })
	for _, p := range gce.Problems {
		if !(documentBad && p.Path == "document") {
			joined.Problems = append(joined.Problems, p)
		}
	}
	return joined
}

// newGuard returns a Guard enforcing l's guard settings in front of next.
func newGuard(next smscourier.Sender, l loaded, opts ...guard.Option) (*guard.Guard, error) {
	return guard.New(next, *l.guard, opts...)
}

// guardSummary describes l's guard settings on one line, as validate
// prints them: "guard: dry_run=false policy=KEY,... limits=KEY,...", each
// list the keys set, "none" for none.
func guardSummary(cfg guard.Config) string {
	p, lim := cfg.Policy, cfg.Limits
	var policy, limits []string
	add := func(list *[]string, key string, set bool) {
		if set {
			*list = append(*list, key)
		}
	}
	add(&policy, "allow_countries", len(p.AllowCountries) > 0)
	add(&policy, "deny_countries", len(p.DenyCountries) > 0)
	add(&policy, "allow_prefixes", len(p.AllowPrefixes) > 0)
	add(&policy, "deny_prefixes", len(p.DenyPrefixes) > 0)
	add(&policy, "deny_number_types", len(p.DenyNumberTypes) > 0)
	add(&policy, "refuse_invalid", p.RefuseInvalid)
	add(&limits, "recipient.cooldown", lim.Recipient.Cooldown > 0)
	add(&limits, "recipient.per_hour", lim.Recipient.PerHour > 0)
	add(&limits, "recipient.per_day", lim.Recipient.PerDay > 0)
	add(&limits, "prefix.per_window", lim.Prefix.PerWindow > 0)
	add(&limits, "country.per_hour", lim.Country.PerHour > 0)
	add(&limits, "global.messages_per_hour", lim.Global.MessagesPerHour > 0)
	add(&limits, "global.messages_per_day", lim.Global.MessagesPerDay > 0)
	add(&limits, "global.segments_per_hour", lim.Global.SegmentsPerHour > 0)
	add(&limits, "global.segments_per_day", lim.Global.SegmentsPerDay > 0)
	add(&limits, "requester.per_hour", lim.Requester.PerHour > 0)
	list := func(keys []string) string {
		if len(keys) == 0 {
			return "none"
		}
		return strings.Join(keys, ",")
	}
	return "guard: dry_run=" + strconv.FormatBool(cfg.DryRun) + " policy=" + list(policy) + " limits=" + list(limits)
}

// printBlock prints what blocked a message, as send and enqueue print it:
// rule, country when known, and for a limit retry_after, one
// "name: value" a line. Never the number.
func printBlock(w io.Writer, be *smscourier.BlockedError) {
	fmt.Fprintf(w, "rule: %s\n", be.Rule)
	if be.Country != "" {
		fmt.Fprintf(w, "country: %s\n", be.Country)
	}
	if be.RetryAfter > 0 {
		fmt.Fprintf(w, "retry_after: %s\n", be.RetryAfter)
	}
}

// blockText describes a block in a sentence: "deny_country (country FR)",
// with "; allowed again in D" for a limit.
func blockText(be *smscourier.BlockedError) string {
	text, _ := strings.CutPrefix(be.Error(), "smscourier: blocked by ")
	return text
}

// checkGuard checks m against cfg in front of next, counting nothing (a
// new in-memory store): the block, or nil and nil when m would be sent, or
// another error (an invalid message, a config the guard refuses).
func checkGuard(ctx context.Context, next smscourier.Sender, cfg guard.Config, m smscourier.Message) (*smscourier.BlockedError, error) {
	g, err := guard.New(next, cfg)
	if err != nil {
		return nil, err
	}
	err = g.Check(ctx, m)
	var be *smscourier.BlockedError
	if errors.As(err, &be) {
		return be, nil
	}
	return nil, err
}

// validateGuard prints, for validate, l's guard summary and, with --to,
// what its policy says of that recipient, the limits left out (they count
// messages); it returns the exit status.
func (in *invocation) validateGuard(next smscourier.Sender, l loaded) int {
	fmt.Fprintln(in.stdout, guardSummary(*l.guard))
	if in.to == "" {
		return exitOK
	}
	policyOnly := *l.guard
	policyOnly.Limits = guard.Limits{}
	be, err := checkGuard(in.ctx, next, policyOnly, smscourier.Message{To: in.to})
	switch {
	case err != nil:
		return in.fail(err)
	case be == nil:
		fmt.Fprintln(in.stdout, "guard: --to is allowed by the policy; the limits are not checked (they count the messages sent)")
	case l.guard.DryRun:
		fmt.Fprintf(in.stdout, "guard: --to would be blocked by %s, but dry_run is on: it would be sent\n", blockText(be))
	default:
		fmt.Fprintf(in.stdout, "guard: --to would be blocked by %s\n", blockText(be))
		return exitBlocked
	}
	return exitOK
}

// renderGuard checks m, for render, against l's guard with nothing counted
// (a new in-memory store), and says on stderr what it found: exitOK to go
// on rendering, or the status to exit with.
func (in *invocation) renderGuard(ctx context.Context, next smscourier.Sender, l loaded, m smscourier.Message) int {
	be, err := checkGuard(ctx, next, *l.guard, m)
	switch {
	case err != nil:
		return in.fail(explain(err, "would be"))
	case be == nil:
		fmt.Fprintln(in.stderr, "smscourier render: guard: allowed by the policy, and by the limits with nothing counted yet (so only a segment budget shorter than the message could block it)")
	case l.guard.DryRun:
		fmt.Fprintf(in.stderr, "smscourier render: guard: would block by %s, but dry_run is on: it would be sent\n", blockText(be))
	default:
		fmt.Fprintln(in.stderr, explain(be, "would be"))
		return exitBlocked
	}
	return exitOK
}

// refuseBlocked is enqueue's check of m against l's guard, counting
// nothing (a new in-memory store, so that of the limits only a segment
// budget shorter than the message can block): it prints a block as send
// does and returns exitBlocked, or exitOK to go on queueing. In dry-run
// mode a block is only a warning.
func (in *invocation) refuseBlocked(ctx context.Context, next smscourier.Sender, l loaded, m smscourier.Message) int {
	be, err := checkGuard(ctx, next, *l.guard, m)
	switch {
	case err != nil:
		return in.fail(err)
	case be == nil:
		return exitOK
	case l.guard.DryRun:
		fmt.Fprintf(in.stderr, "smscourier enqueue: warning: the guard would block the message by %s; dry_run is on, so it is queued\n", blockText(be))
		return exitOK
	}
	fmt.Fprintf(in.stdout, "class: %s\n", smscourier.ClassBlocked)
	printBlock(in.stdout, be)
	fmt.Fprintf(in.stderr, "%v; nothing was queued\n", be)
	return exitBlocked
}

// guardTablesExist reports whether the database behind pool has the
// guard's tables, which migrate creates.
func guardTablesExist(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, "SELECT to_regclass('smscourier_guard_migrations') IS NOT NULL").Scan(&ok)
	return ok, err
}
