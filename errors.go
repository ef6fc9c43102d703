package smscourier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smscourier/smscourier/internal/jsonnetutil"
)

// ErrInvalidConfig is wrapped by every problem that ParseConfig, LoadConfig and
// New find in a configuration or its template. The concrete error is a
// *ConfigError listing every problem with its key path.
var ErrInvalidConfig = errors.New("smscourier: invalid config")

// ErrDisabled is returned by Send, SendMessage and Render of a Courier built
// from a config with enabled: false. Nothing is sent.
var ErrDisabled = errors.New("smscourier: sms courier is disabled")

// ErrCancel is returned when the template evaluated error "cancel": the
// template decided that this message must not be sent, and nothing was sent.
var ErrCancel = errors.New("smscourier: template cancelled the message")

// ErrInvalidMessage is wrapped by the error returned, before anything is
// rendered or sent, when a Message is unusable: a To that is empty or only
// spaces, control characters in To or From, text that is not valid UTF-8,
// an idempotency key that is not 1 to 255 visible ASCII characters,
// TemplateData that cannot be encoded as JSON, nests deeper than 64 levels
// or encodes to more than 64 KiB, or, with WithStrictE164, a To that is not
// E.164. The error names the rule broken, never the data.
var ErrInvalidMessage = errors.New("smscourier: invalid message")

// ErrExpired is returned, or wrapped, when a Message's NotAfter has passed:
// before sending (nothing was sent), or instead of a retry that would start
// after it (the error then also wraps the last attempt's failure).
var ErrExpired = errors.New("smscourier: message expired (past its NotAfter)")

// ErrTemplate is wrapped by the error returned when the template fails while
// rendering a message (a runtime error other than error "cancel", or output
// that the configured Content-Type cannot carry). Nothing was sent.
var ErrTemplate = errors.New("smscourier: template error")

// The four failure classes of a send. Every error that SendMessage returns
// after it tried to reach the gateway wraps exactly one of them; test with
// errors.Is. Errors found before sending (ErrDisabled, ErrInvalidMessage,
// ErrCancel, ErrTemplate) wrap none.
var (
	// ErrNotSent: the request was never written (DNS failure, refused
	// connection, TLS handshake failure, context ended before writing). The
	// gateway cannot have the message; retrying is safe.
	ErrNotSent = errors.New("smscourier: request not sent")
	// ErrRefused: the gateway declined for now (429 or 503). Nothing was
	// delivered; retry after GatewayError.RetryAfter.
	ErrRefused = errors.New("smscourier: gateway refused the request for now")
	// ErrOutcomeUnknown: the request was written but no complete reply
	// arrived (reset, EOF, timeout), or the gateway replied 500, 502 or 504.
	// The message may have been delivered. It is retried only with an
	// idempotency key header (WithIdempotencyKeyHeader).
	ErrOutcomeUnknown = errors.New("smscourier: outcome unknown: the message may have been delivered")
	// ErrRejected: the gateway rejected the request (any other non-2xx
	// reply, 3xx included). Retrying would not help.
	ErrRejected = errors.New("smscourier: gateway rejected the request")
)

// ErrBlocked: a guard (package guard) refused the message before it was
// rendered: its destination policy, or a rate limit or budget against SMS
// pumping. Nothing was sent. The error is a *BlockedError.
var ErrBlocked = errors.New("smscourier: blocked")

// BlockedError is a message a guard refused. Its text names the rule and
// the recipient's country, never the number. It unwraps to ErrBlocked.
type BlockedError struct {
	// Rule names the rule that refused the message, for example
	// "deny_country", "number_type", "recipient_per_hour".
	Rule string
	// Country is the recipient's ISO 3166 region ("GB"), "" when unknown.
	Country string
	// RetryAfter is, for a rate limit, how long until the same message
	// would be allowed; 0 for a policy, which will refuse it again.
	RetryAfter time.Duration
}

// Error returns "smscourier: blocked by RULE (country C)", followed by
// "; allowed again in D" for a rate limit.
func (e *BlockedError) Error() string {
	msg := "smscourier: blocked by " + e.Rule
	if e.Country != "" {
		msg += " (country " + e.Country + ")"
	}
	if e.RetryAfter > 0 {
		msg += "; allowed again in " + e.RetryAfter.String()
	}
	return msg
}

// Unwrap returns ErrBlocked.
func (e *BlockedError) Unwrap() error { return ErrBlocked }

// Problem is one thing wrong with a configuration: the key path it concerns
// (for example "courier.sms.request_config.auth.config.password") and what is
// wrong with it.
type Problem struct {
	Path    string
	Message string
}

// String returns "path: message".
func (p Problem) String() string { return p.Path + ": " + p.Message }

// ConfigError lists every problem found in a configuration. It wraps
// ErrInvalidConfig, so errors.Is(err, ErrInvalidConfig) reports true, and
// the errors behind problems found while loading templates in New (for
// example ErrEgressDenied, os.ErrNotExist or a refused connection of a
// template fetch), so errors.Is and errors.As find those too. Unwrap
// returns a list: errors.Unwrap(err) is nil, errors.Is is the way to test.
type ConfigError struct {
	Problems []Problem

	causes []error
}

// Error returns all problems on one line, separated by "; ".
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("smscourier: invalid config: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns ErrInvalidConfig and the errors behind the problems, when
// known.
func (e *ConfigError) Unwrap() []error {
	return append([]error{ErrInvalidConfig}, e.causes...)
}

// add reports a template that New could not load at path, keeping err in
// the chain.
func (e *ConfigError) add(path string, err error) {
	e.Problems = append(e.Problems, Problem{Path: path, Message: err.Error()})
	e.causes = append(e.causes, err)
}

// problems collects configuration problems in the order they are found.
type problems struct {
	list []Problem
	// malformed holds the paths whose values had the wrong shape (a string
	// where a mapping belongs, say); rule checks below them are not reported
	// again.
	malformed []string
}

func (ps *problems) add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// addMalformed records a value of the wrong shape at path.
func (ps *problems) addMalformed(path, format string, args ...any) {
	ps.add(path, format, args...)
	ps.malformed = append(ps.malformed, path)
}

// has reports whether a problem was found at path.
func (ps *problems) has(path string) bool {
	for _, p := range ps.list {
		if p.Path == path {
			return true
		}
	}
	return false
}

// covers reports whether path is at or below a malformed value.
func (ps *problems) covers(path string) bool {
	for _, m := range ps.malformed {
		if path == m || strings.HasPrefix(path, m+".") {
			return true
		}
	}
	return false
}

// err returns nil when there are no problems, else a *ConfigError.
func (ps problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ConfigError{Problems: ps.list}
}

// GatewayError is returned when the gateway replies with a status outside
// 2xx. Its Error text holds only the status: the reply body may echo the
// message, so it is kept in Body for the caller to inspect deliberately. It
// unwraps to its failure class: ErrRefused for 429 and 503,
// ErrOutcomeUnknown for 500, 502 and 504, ErrRejected for the rest.
type GatewayError struct {
	// StatusCode is the HTTP status of the reply.
	StatusCode int
	// Header is the reply's header.
	Header http.Header
	// Body is a prefix of the reply body, at most 16 KiB.
	Body []byte
	// RetryAfter is the wait the gateway asked for in Retry-After
	// (delta-seconds or an HTTP date; a past date is 0), or the response
	// template's retry_after_seconds. Zero when neither says.
	RetryAfter time.Duration
	// ErrorCode and ErrorMessage are the gateway's own error, as the
	// response template extracted them; "" without a response template.
	// They are kept as extracted; Error shows ErrorCode with the secrets of
	// the message withheld.
	ErrorCode, ErrorMessage string

	hasRetryAfter bool   // RetryAfter was given, not defaulted
	class         error  // set by a response template; nil: by status
	shownCode     string // ErrorCode as Error shows it, when codeWithheld
	codeWithheld  bool   // shownCode replaces ErrorCode in Error
}

// Error returns "smscourier: gateway replied with status N Text", followed
// by ", error code C" when the response template found one, with the
// secrets of the message withheld from C. The gateway's error message and
// body are left out: they may echo the message.
func (e *GatewayError) Error() string {
	msg := fmt.Sprintf("smscourier: gateway replied with status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	code := e.ErrorCode
	if e.codeWithheld {
		code = e.shownCode
	}
	if code != "" {
		msg += ", error code " + code
	}
	return msg
}

// Format prints Error for %v and %s with any flags, %#v included, and
// applies other verbs (%q, %x) to it: Header and Body, which may echo the
// message, are never printed.
func (e *GatewayError) Format(f fmt.State, verb rune) { formatText(f, verb, e.Error()) }

// Unwrap returns the failure class: the response template's verdict when
// there is one, else that of the status.
func (e *GatewayError) Unwrap() error {
	if e.class != nil {
		return e.class
	}
	return statusClass(e.StatusCode)
}

// statusClass maps a non-2xx status to its failure class.
func statusClass(status int) error {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return ErrRefused
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return ErrOutcomeUnknown
	}
	return ErrRejected
}

// sendError is a failure to get a reply: the request was not sent, or its
// outcome is unknown. Its text names the method and the URL without
// userinfo or query.
type sendError struct {
	class error // ErrNotSent or ErrOutcomeUnknown
	msg   string
	cause error
}

func (e *sendError) Error() string                 { return e.msg }
func (e *sendError) Unwrap() []error               { return []error{e.class, e.cause} }
func (e *sendError) Format(f fmt.State, verb rune) { formatText(f, verb, e.msg) }

// templateError is a runtime error of a template: where it failed (the
// template's name, with line:column when known; empty when the message
// holds it) and the engine's message, which may quote values of ctx.
type templateError struct {
	where string
	msg   string // at most jsonnetutil.MaxErrorKept bytes of the message
	size  int    // the length of the whole message
}

// maxTemplateErrorText is how much of the engine's message a template
// error shows. The error keeps more (jsonnetutil.MaxErrorKept bytes):
// withhold works on the kept part, before anything is shown, so a cut
// never splits a secret that it then fails to find.
const maxTemplateErrorText = 512

// newTemplateError returns a template error for the engine's message msg,
// whose whole length is size (len(msg) when size is smaller).
func newTemplateError(where, msg string, size int) *templateError {
	e := jsonnetutil.NewError(where, msg, size)
	return &templateError{where: e.Where, msg: e.Msg, size: e.Size}
}

func (e *templateError) Error() string {
	msg := e.msg
	if e.size > maxTemplateErrorText {
		msg = fmt.Sprintf("%s... (%d bytes in all)", jsonnetutil.CutText(msg, maxTemplateErrorText), e.size)
	}
	if e.where == "" {
		return ErrTemplate.Error() + ": " + msg
	}
	return ErrTemplate.Error() + ": " + e.where + ": " + msg
}

func (e *templateError) Unwrap() error { return ErrTemplate }

func (e *templateError) Format(f fmt.State, verb rune) { formatText(f, verb, e.Error()) }

// withheldError is an error of the courier whose text had secrets taken
// out (by withhold or by a scrubber): it unwraps to errs, never to an
// error that shows the original text.
type withheldError struct {
	msg  string
	errs []error
}

func (e *withheldError) Error() string                 { return e.msg }
func (e *withheldError) Unwrap() []error               { return e.errs }
func (e *withheldError) Format(f fmt.State, verb rune) { formatText(f, verb, e.msg) }

// withhold returns err with the message part of the template error in its
// chain redacted, by the rules for text from outside the courier (see
// scrubber, in redact.go) with text and others as the message's values: every
// occurrence of them, in the forms an error can quote them, is replaced
// by "[REDACTED]", together with each word of 4 or more bytes of them (a
// one-time code is such a word). Values shorter than 3 bytes are left, as
// they would match anywhere. Only the engine's message is touched, never
// the courier's own words or the template's location. When nothing
// matches, err is returned as it is; else the result unwraps to the
// redacted template error and the sentinels of err.
func withhold(err error, text string, others ...string) error {
	var te *templateError
	if !errors.As(err, &te) {
		return err // the courier's own errors never quote the message
	}
	msg := newScrubber(nil, append([]string{text}, others...)...).foreignText(te.msg)
	if msg == te.msg {
		return err
	}
	redacted := &templateError{where: te.where, msg: msg, size: te.size}
	full := strings.Replace(err.Error(), te.Error(), redacted.Error(), 1)
	errs := []error{redacted}
	for _, sentinel := range []error{ErrOutcomeUnknown, ErrCancel, ErrInvalidMessage, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, sentinel) {
			errs = append(errs, sentinel)
		}
	}
	return &withheldError{msg: full, errs: errs}
}
