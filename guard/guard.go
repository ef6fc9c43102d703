package guard

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/smscourier/smscourier"
)

// Guard is a smscourier.Sender that refuses, before anything is rendered,
// the messages its destination policy forbids or its limits do not allow
// now, and hands the others to the Sender it wraps. It is immutable after
// New and safe for concurrent use by multiple goroutines.
type Guard struct {
	// What a check reads, first, in three cache lines.
	next       smscourier.Sender
	mem        *MemoryStore // the store, when a MemoryStore: keys as fingerprints
	mplan      guardPlan    // with a MemoryStore, its plan of the limits
	limits     []limit
	numbers    *numberCache
	now        func() time.Time
	remember   time.Duration
	dryRun     bool
	failClosed uint8 // a bit for each limitKind that fails closed

	policy       policy
	prefixDigits int
	store        Store
	peeker       Peeker                 // nil: the store cannot peek
	secret       [32]byte               // keys the hashes that make Store keys
	logger       *slog.Logger           // nil: no logging
	observer     func(smscourier.Event) // nil: none
}

var _ smscourier.Sender = (*Guard)(nil)

// New returns a Guard that enforces cfg in front of next. It validates
// cfg: every problem is reported at once in a *smscourier.ConfigError,
// which wraps smscourier.ErrInvalidConfig, with key paths under
// smscourier.guard. Without WithStore the limits are kept in a new
// MemoryStore.
//
// The keys of a Store other than a *MemoryStore are SHA-256 hashes keyed
// with cfg.KeySecret, which such a Store requires, the same in every
// instance that shares it, or New refuses it. A *MemoryStore's keys are
// its own fingerprints, made with a seed random to the process: it needs
// no secret.
func New(next smscourier.Sender, cfg Config, opts ...Option) (*Guard, error) {
	if next == nil {
		return nil, errors.New("smscourier: guard: no Sender to wrap (next is nil)")
	}
	ps := cfg.check(configPath)
	o := options{now: time.Now}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.store == nil {
		o.store = NewMemoryStore()
	}
	mem, _ := o.store.(*MemoryStore)
	var secret [32]byte
	if cfg.KeySecret != "" {
		secret = sha256.Sum256([]byte(keySecretContext + string(cfg.KeySecret)))
	} else if mem == nil && cfg.Limits != (Limits{}) {
		ps = append(ps, configProblem{Path: configPath + ".key_secret",
			Message: "required with a Store other than a MemoryStore (every instance sharing the Store must hash its keys with the same secret); set it, or SMSCOURIER_GUARD_KEY_SECRET"})
	}
	if len(ps) > 0 {
		return nil, invalid(ps...)
	}
	g := &Guard{
		mem:          mem,
		secret:       secret,
		next:         next,
		policy:       newPolicy(cfg.Policy),
		limits:       newLimits(cfg.Limits, &secret, mem),
		prefixDigits: cfg.Limits.Prefix.Digits,
		remember:     orDefault(cfg.Remember, DefaultRemember),
		dryRun:       cfg.DryRun,
		store:        o.store,
		numbers:      newNumberCache(cacheLines),
		logger:       o.logger,
		observer:     o.observer,
		now:          o.now,
	}
	if g.mem != nil {
		g.mplan = newGuardPlan(g.limits)
	}
	if g.prefixDigits == 0 {
		g.prefixDigits = DefaultPrefixDigits
	}
	g.peeker, _ = o.store.(Peeker)
	f := cfg.OnStoreFailure
	for kind, mode := range [kindCount]FailureMode{
		kindRecipient: f.Recipient, kindPrefix: f.Prefix, kindCountry: f.Country,
		kindRequester: f.Requester, kindGlobal: f.Global,
	} {
		if mode == FailClosed || (mode == FailDefault && limitKind(kind) == kindGlobal) {
			g.failClosed |= 1 << kind
		}
	}
	return g, nil
}

// SendMessage checks m against the policy, then counts it against the
// limits, and, when both allow it, sends it with next.SendMessage. The
// message goes on with its idempotency key, made with
// smscourier.NewIdempotencyKey when m has none, so that a retry of it
// (the same key and recipient, within Config.Remember) passes again
// without being counted.
//
// A refused message is not sent: the error is a *smscourier.BlockedError
// (errors.Is(err, smscourier.ErrBlocked)) naming the rule and the
// recipient's country; for a limit, its RetryAfter says when the message
// would be allowed. When the Store fails, a limit that fails closed
// refuses with rule store_unavailable and an error that says so and
// wraps the Store's. In dry-run mode nothing is refused. A message that
// next would refuse as invalid (smscourier.Message.Validate) is handed to
// it without checks. The Result of a refused message holds its
// IdempotencyKey and Segments.
func (g *Guard) SendMessage(ctx context.Context, m smscourier.Message) (smscourier.Result, error) {
	if m.Validate() != nil {
		return g.next.SendMessage(ctx, m) // next refuses it, as it reports that
	}
	fresh := m.IdempotencyKey == ""
	if fresh {
		m.IdempotencyKey = smscourier.NewIdempotencyKey()
	}
	if err := g.admit(ctx, &m, fresh); err != nil {
		return smscourier.Result{IdempotencyKey: m.IdempotencyKey, Segments: smscourier.Segments(m.Body)}, err
	}
	return g.next.SendMessage(ctx, m)
}

// Render checks m against the policy, counting nothing, and returns
// next.Render's request. A message the policy refuses gets a
// *smscourier.BlockedError, except in dry-run mode.
func (g *Guard) Render(ctx context.Context, m smscourier.Message) (*http.Request, error) {
	if m.Validate() == nil && !g.dryRun {
		if n := g.inspect(m.To); n.blocked {
			return nil, &smscourier.BlockedError{Rule: n.rule, Country: n.region}
		}
	}
	return g.next.Render(ctx, m)
}

// Check returns what would refuse m if it were sent now, counting
// nothing and logging nothing: the error smscourier.Message.Validate
// returns, or a *smscourier.BlockedError of the policy or of a limit, or
// of the Store's failure when a limit fails closed; nil when m would be
// sent. It reports what an enforcing Guard would do, in dry-run mode too.
// The limits are checked only with a Store that is a Peeker (MemoryStore
// is one); m's admission is checked when it has an IdempotencyKey.
func (g *Guard) Check(ctx context.Context, m smscourier.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	n := g.inspect(m.To)
	if n.blocked {
		return &smscourier.BlockedError{Rule: n.rule, Country: n.region}
	}
	if len(g.limits) == 0 || g.peeker == nil {
		return nil
	}
	if m.IdempotencyKey == "" {
		m.IdempotencyKey = smscourier.NewIdempotencyKey()
	}
	var r request
	r.build(g, &m, &n, m.IdempotencyKey)
	if r.tooLong >= 0 {
		return &smscourier.BlockedError{Rule: r.rule(g, r.tooLong), Country: n.region}
	}
	dec, err := r.answer(ctx, g, false)
	dec, err = r.checked(dec, err)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smscourier: guard: %w", ctx.Err())
		}
		if r.kinds&g.failClosed != 0 {
			return storeError(n.region, err)
		}
		return nil
	}
	if !dec.Allowed {
		return &smscourier.BlockedError{Rule: r.rule(g, dec.Refused), Country: n.region, RetryAfter: dec.RetryAfter}
	}
	return nil
}

// IdempotencyKeyHeader returns next's IdempotencyKeyHeader, when next has
// that method (a Courier, a Router), else "": the header that carries the
// idempotency key to the gateway.
func (g *Guard) IdempotencyKeyHeader() string {
	if h, ok := g.next.(interface{ IdempotencyKeyHeader() string }); ok {
		return h.IdempotencyKeyHeader()
	}
	return ""
}

// Unwrap returns the Sender the Guard wraps.
func (g *Guard) Unwrap() smscourier.Sender { return g.next }

// inspect returns what the Guard knows of the recipient to.
func (g *Guard) inspect(to string) number {
	s := stripSeparators(to)
	if !smscourier.IsE164(s) {
		info := &numberInfo{canonical: s, typ: TypeUnknown}
		g.fill(info, false)
		return number{numberHot: info.numberHot, numberInfo: info}
	}
	hot, info := g.numbers.get(s, g.fillE164)
	return number{e164: true, numberHot: hot, numberInfo: info}
}

// fillE164 is fill for an E.164 number.
func (g *Guard) fillE164(info *numberInfo) { g.fill(info, true) }

// fill completes info, what libphonenumber said of a recipient, with the
// policy's verdict on it and the keys of the limits it decides: with a
// MemoryStore, the fingerprints of its subjects (always that of the
// recipient, which keys admissions); with another Store, the Store keys,
// in one string, so that they are read together.
func (g *Guard) fill(info *numberInfo, e164 bool) {
	n := number{e164: e164, numberHot: info.numberHot, numberInfo: info}
	info.rule = g.policy.rule(&n)
	info.blocked = info.rule != ""
	if g.mem != nil {
		info.subjects[kindRecipient] = memSubject(kindRecipient, info.canonical)
		for i := range g.limits {
			l := &g.limits[i]
			if subject, ok := n.subject(g, l); ok && info.subjects[l.kind] == 0 {
				info.subjects[l.kind] = memSubject(l.kind, subject)
			}
		}
		return
	}
	var buf [maxLimits * keyLen]byte
	all := buf[:0]
	var has [maxLimits]bool
	for i := range g.limits {
		l := &g.limits[i]
		if subject, ok := n.subject(g, l); ok {
			all = appendKey(all, subjectDigest(&g.secret, l.kind, subject, ""), &l.mask)
			has[i] = true
		}
	}
	keys := string(all)
	for i := range g.limits {
		if has[i] {
			info.keys[i], keys = keys[:keyLen], keys[keyLen:]
		}
	}
}

// admit checks m, which has an idempotency key, against the policy and
// the limits, counting it when both allow it. It
// returns the error that refuses m, nil when m may be sent; in dry-run
// mode it reports what it would refuse and returns nil.
func (g *Guard) admit(ctx context.Context, m *smscourier.Message, fresh bool) error {
	n := g.inspect(m.To)
	if n.blocked {
		return g.refuse(ctx, m, &n, &smscourier.BlockedError{Rule: n.rule, Country: n.region}, nil)
	}
	if len(g.limits) == 0 {
		return nil
	}
	r := request{fresh: fresh}
	r.build(g, m, &n, m.IdempotencyKey)
	if r.tooLong >= 0 {
		return g.refuse(ctx, m, &n, &smscourier.BlockedError{Rule: r.rule(g, r.tooLong), Country: n.region}, nil)
	}
	dec, err := r.answer(ctx, g, true)
	dec, err = r.checked(dec, err)
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("smscourier: guard: %w", ctx.Err())
	case err != nil && r.kinds&g.failClosed != 0:
		return g.refuse(ctx, m, &n, &smscourier.BlockedError{Rule: RuleStoreUnavailable, Country: n.region, RetryAfter: StoreRetryAfter}, err)
	case err != nil:
		if g.logger != nil {
			g.logger.LogAttrs(ctx, slog.LevelWarn, "smscourier: guard store unavailable; failing open",
				slog.String("to", smscourier.MaskNumber(m.To)),
				slog.String("idempotency_key", m.IdempotencyKey),
				slog.String("error", err.Error()))
		}
		return nil
	case !dec.Allowed:
		return g.refuse(ctx, m, &n, &smscourier.BlockedError{Rule: r.rule(g, dec.Refused), Country: n.region, RetryAfter: dec.RetryAfter}, nil)
	}
	return nil
}

// keySecretContext is hashed before Config.KeySecret, so that the secret
// keys nothing but the Guard's hashes.
const keySecretContext = "smscourier guard store keys\x00"

// errBadDecision is the failure of a Store that refused a Request without
// naming one of its takes.
var errBadDecision = errors.New("smscourier: guard: the store refused without naming a take")

// checked returns a Store's answer to r, with a refusal that names no take
// of r as a failure.
func (r *request) checked(dec Decision, err error) (Decision, error) {
	if err == nil && !dec.Allowed && (dec.Refused < 0 || dec.Refused >= r.count) {
		return dec, errBadDecision
	}
	return dec, err
}

// refuse reports the block be of m, and returns the error to return: be,
// or, when the Store failed with cause, an error wrapping both; nil in
// dry-run mode.
func (g *Guard) refuse(ctx context.Context, m *smscourier.Message, n *number, be *smscourier.BlockedError, cause error) error {
	if g.logger != nil || g.observer != nil {
		ev := smscourier.Event{
			Class:          smscourier.ClassBlocked,
			Final:          true,
			RetryAfter:     be.RetryAfter,
			To:             smscourier.MaskNumber(m.To),
			IdempotencyKey: m.IdempotencyKey,
			Rule:           be.Rule,
			Country:        be.Country,
			DryRun:         g.dryRun,
		}
		if g.logger != nil {
			msg := "smscourier: blocked"
			if g.dryRun {
				msg = "smscourier: would block (dry run); sent"
			}
			attrs := []slog.Attr{
				slog.String("rule", ev.Rule),
				slog.String("country", ev.Country),
				slog.String("to", ev.To),
				slog.String("idempotency_key", ev.IdempotencyKey),
				slog.Duration("retry_after", ev.RetryAfter),
				slog.Bool("dry_run", ev.DryRun),
			}
			if cause != nil {
				attrs = append(attrs, slog.String("error", cause.Error()))
			}
			g.logger.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
		}
		if g.observer != nil {
			g.observer(ev)
		}
	}
	if g.dryRun {
		return nil
	}
	if cause != nil {
		return storeError(be.Country, cause)
	}
	return be
}

// storeError is the error of a message blocked because the Store failed
// with cause.
func storeError(country string, cause error) error {
	be := &smscourier.BlockedError{Rule: RuleStoreUnavailable, Country: country, RetryAfter: StoreRetryAfter}
	return fmt.Errorf("%w: the guard's store is unreachable: %w", be, cause)
}
