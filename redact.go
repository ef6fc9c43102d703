package smscourier

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// requestConfigFields is RequestConfig without its methods, so that
// formatting a redacted copy does not recurse.
type requestConfigFields RequestConfig

// Redacted returns a copy of rc for printing and logging, with the
// credentials it can recognise hidden: the user information of a URL (the
// gateway's, or an http(s) template's) becomes "[REDACTED]", and so does the
// value of a query parameter whose name suggests a credential; the value
// of a header whose name suggests one (a name containing key, token,
// secret, pass, auth, sig, session, cred, bearer, private or cookie)
// becomes "[REDACTED]"; a URL that does not parse is hidden whole when it
// has an @ or a ?. Auth values are Secrets and redact themselves. A secret
// in a header or parameter with an innocuous name is not recognised. fmt,
// encoding/json and log/slog use it for every RequestConfig, and so for
// every SMSConfig.
func (rc RequestConfig) Redacted() RequestConfig {
	cfg := SMSConfig{RequestConfig: rc}
	for _, k := range configKeys { // the URL keys and the header map
		switch {
		case k.url:
			p := k.str(&cfg)
			*p = redactURL(*p)
		case k.kind == kindHeaders:
			p := k.headers(&cfg)
			if *p == nil {
				continue
			}
			h := make(map[string]string, len(*p))
			for name, value := range *p {
				if sensitiveName(name) && value != "" {
					value = redacted
				}
				h[name] = value
			}
			*p = h
		}
	}
	return cfg.RequestConfig
}

// Format prints Redacted with the verb and flags given, so that %v, %+v,
// %#v and %s never show a credential.
func (rc RequestConfig) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), requestConfigFields(rc.Redacted()))
}

// MarshalJSON encodes Redacted.
func (rc RequestConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(requestConfigFields(rc.Redacted()))
}

// LogValue logs Redacted.
func (rc RequestConfig) LogValue() slog.Value {
	r := rc.Redacted()
	attrs := []slog.Attr{slog.String("url", r.URL), slog.String("method", r.Method)}
	if r.Body != "" {
		attrs = append(attrs, slog.String("body", r.Body))
	}
	if r.Response != "" {
		attrs = append(attrs, slog.String("response", r.Response))
	}
	if len(r.Headers) > 0 {
		attrs = append(attrs, slog.Any("headers", r.Headers))
	}
	if r.Auth != (AuthConfig{}) {
		attrs = append(attrs, slog.Any("auth", r.Auth))
	}
	return slog.GroupValue(attrs...)
}

// redactURL hides the user information and credential-like query values
// of an http(s) URL. file:// and base64:// URIs are returned as they are;
// anything else with an @ or a ? (an opaque or unparsable URL, a path) is
// hidden whole.
func redactURL(raw string) string {
	lower := strings.ToLower(strings.TrimSpace(raw))
	if strings.HasPrefix(lower, "file://") || strings.HasPrefix(lower, "base64://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Scheme != "http" && u.Scheme != "https" {
		if strings.ContainsAny(raw, "@?") {
			return redacted
		}
		return raw
	}
	if u.User != nil {
		// A user name alone can be a token (https://TOKEN@host/...).
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for name, values := range q {
			if sensitiveName(name) {
				for i := range values {
					values[i] = redacted
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	// url escapes the brackets of the placeholder; show it as elsewhere.
	return strings.ReplaceAll(u.String(), url.QueryEscape(redacted), redacted)
}

// sensitiveName reports whether a header or query parameter name suggests
// that its value is a credential.
func sensitiveName(name string) bool {
	n := strings.ToLower(name)
	for _, part := range []string{"key", "token", "secret", "pass", "auth", "sig", "session", "cred", "bearer", "private", "cookie"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// Lengths, in bytes, below which values are not withheld (see scrubber).
const (
	minWithheldMessage = 3 // a message text or recipient, whole
	minWithheldWord    = 4 // a word of one
	minWithheldLoose   = 4 // a value withheld even where letters touch it
	minWithheldCut     = 8 // the beginning of a value, cut short
)

// The errors that Send, SendMessage and Render return never show a secret
// of the message they report: the credentials the courier holds, the
// message text and the recipient. A gateway can echo any of them into a
// malformed reply, which net/http quotes in its error; a template's error
// can quote them too. Each error is rewritten on its way out, on the
// failure path only:
//
//   - Text from outside the courier (net/http's and the transport's errors,
//     a template engine's message, the error code a response template took
//     from the reply) loses every credential of at least 1 byte, and the
//     message text and recipient when they have at least 3 bytes, each as it
//     is, Go-quoted (%q, with \n and \"), JSON-escaped, and URL-encoded (+
//     for a space, %2B for a +), and each of those Go-quoted again (a JSON
//     or form body that net/http quotes); every word (run of letters and
//     digits) of 4 bytes or more of the message text and the recipient; and
//     the beginning of any of these forms, 8 bytes or more, where a closing
//     quote or the end of the text cuts it short (net/http cuts a status
//     line at a space). A value shorter than 4 bytes is withheld only where
//     no letter or digit touches it, so that a one-byte key does not eat
//     the letters of the surrounding text.
//   - The courier's own words (the method, the URL without userinfo or
//     query, the failure class, the template's location) are kept; in the
//     text its wrappers add around other errors, values of 4 bytes or more
//     are withheld in the same forms.
//
// Each secret becomes "[REDACTED]". What errors.Is and errors.As find is
// unchanged: the chain keeps its sentinels, context errors and typed
// errors (*GatewayError, *net.OpError, ...); every error in it reached by
// unwrapping shows withheld text, and errors.As hands out the original
// value.
//
// A scrubber takes the secrets of one message out of error texts.
type scrubber struct {
	foreign []string // withheld in text from outside the courier
	own     []string // withheld in text the courier's wrappers add
	cuts    []string // forms whose cut-short beginnings are withheld
}

// newScrubber returns a scrubber for the given credentials and message
// values (text and recipient).
func newScrubber(credentials []string, message ...string) *scrubber {
	s := &scrubber{}
	add := func(v string) {
		forms := secretForms(v)
		s.foreign = append(s.foreign, forms...)
		s.cuts = append(s.cuts, forms...)
		if len(v) >= minWithheldLoose {
			s.own = append(s.own, forms...)
		}
	}
	for _, v := range credentials {
		if v != "" {
			add(v)
		}
	}
	for _, v := range message {
		if len(v) >= minWithheldMessage {
			add(v)
		}
		for _, w := range strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if len(w) >= minWithheldWord {
				s.foreign = append(s.foreign, w)
			}
		}
	}
	for _, list := range []*[]string{&s.foreign, &s.own, &s.cuts} {
		// Longest first, so that user:password goes before password.
		slices.SortFunc(*list, func(a, b string) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			return strings.Compare(a, b)
		})
		*list = slices.Compact(*list)
	}
	return s
}

// secretForms returns v as an error text can show it: as it is, Go-quoted
// (plain and ASCII-only), JSON-escaped (with and without HTML escaping),
// URL query- and path-escaped, and each of those Go-quoted.
func secretForms(v string) []string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	jsonPlain := strings.TrimSuffix(buf.String(), "\n")
	jsonHTML, _ := json.Marshal(v)
	forms := []string{
		v,
		unquote(strconv.Quote(v)),
		unquote(strconv.QuoteToASCII(v)),
		unquote(jsonPlain),
		unquote(string(jsonHTML)),
		url.QueryEscape(v),
		url.PathEscape(v),
	}
	for _, f := range forms[:len(forms):len(forms)] {
		forms = append(forms, unquote(strconv.Quote(f)))
	}
	return forms
}

// unquote drops the quotes around a quoted string.
func unquote(q string) string { return q[1 : len(q)-1] }

// foreignText withholds the secrets in text from outside the courier.
func (s *scrubber) foreignText(text string) string {
	return withholdCuts(withholdIn(text, s.foreign), s.cuts)
}

// withholdIn replaces each pattern in text by redacted, never inside
// a mark already there. A pattern shorter than minWithheldLoose is
// replaced only where no letter or digit touches it.
func withholdIn(text string, patterns []string) string {
	for _, p := range patterns {
		if !strings.Contains(text, p) {
			continue
		}
		parts := strings.Split(text, redacted)
		for i, part := range parts {
			parts[i] = replaceSecret(part, p, len(p) < minWithheldLoose)
		}
		text = strings.Join(parts, redacted)
	}
	return text
}

// replaceSecret replaces p in s by redacted; when alone is set, only
// where no letter or digit touches it.
func replaceSecret(s, p string, alone bool) string {
	if !alone {
		return strings.ReplaceAll(s, p, redacted)
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], p)
		if j < 0 {
			break
		}
		j += i
		end := j + len(p)
		before, _ := utf8.DecodeLastRuneInString(s[:j])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if isWordRune(before) || isWordRune(after) {
			i = j + 1
			continue
		}
		b.WriteString(s[last:j])
		b.WriteString(redacted)
		last, i = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// withholdCuts replaces the beginning of a form, at least minWithheldCut
// bytes of it, where a closing quote or the end of the text cuts it short.
func withholdCuts(text string, forms []string) string {
	for _, f := range forms {
		if len(f) <= minWithheldCut || !strings.Contains(text, f[:minWithheldCut]) {
			continue
		}
		for k := len(f) - 1; k >= minWithheldCut; k-- {
			p := f[:k]
			if strings.HasSuffix(text, p) {
				text = text[:len(text)-k] + redacted
				break
			}
			if strings.Contains(text, p+`"`) {
				text = strings.ReplaceAll(text, p+`"`, redacted+`"`)
				break
			}
		}
	}
	return text
}

// withholdErr returns err with s's secrets taken out of its text and out
// of the text of every error in its chain. errors.Is and errors.As find
// in the result what they found in err.
func (s *scrubber) withholdErr(err error) error {
	if err == nil || isSentinel(err) {
		return err
	}
	switch e := err.(type) {
	case *GatewayError:
		// Only the error code, taken from the reply, is not the courier's.
		// The error itself is kept, for errors.As.
		if shown := s.foreignText(e.ErrorCode); shown != e.ErrorCode {
			e.shownCode, e.codeWithheld = shown, true
		}
		return e
	case *sendError:
		// The courier's words around the cause.
		old := e.cause.Error()
		cause := s.withholdErr(e.cause)
		return &sendError{class: e.class, cause: cause, msg: s.around(e.msg, []string{old}, []error{cause}, nil)}
	case *templateError:
		return &templateError{where: e.where, msg: s.foreignText(e.msg), size: e.size}
	}
	if children, ok := ownWrapper(err); ok {
		old := make([]string, len(children))
		errs := make([]error, len(children))
		for i, c := range children {
			old[i] = c.Error()
			errs[i] = s.withholdErr(c)
		}
		return &withheldError{msg: s.around(err.Error(), old, errs, s.own), errs: errs}
	}
	return s.foreignErr(err)
}

// around returns text with each old text in it (in order) replaced by the
// text of the matching error, and patterns withheld in the rest.
func (s *scrubber) around(text string, old []string, errs []error, patterns []string) string {
	var b strings.Builder
	for i, o := range old {
		n := errs[i].Error()
		if o == "" || o == n {
			continue
		}
		j := strings.Index(text, o)
		if j < 0 {
			continue
		}
		b.WriteString(withholdIn(text[:j], patterns))
		b.WriteString(n)
		text = text[j+len(o):]
	}
	b.WriteString(withholdIn(text, patterns))
	return b.String()
}

// foreignErr returns err, an error from outside the courier, seen through
// a foreignError.
func (s *scrubber) foreignErr(err error) error {
	if err == nil || isSentinel(err) {
		return err
	}
	return &foreignError{err: err, msg: s.foreignText(err.Error()), s: s}
}

// ownSentinels are the courier's own sentinel errors.
var ownSentinels = []error{
	ErrInvalidConfig, ErrDisabled, ErrCancel, ErrInvalidMessage, ErrExpired, ErrTemplate,
	ErrNotSent, ErrRefused, ErrOutcomeUnknown, ErrRejected, ErrEgressDenied, ErrBlocked, errNotBuilt, errTooManyRedirects,
}

// isSentinel reports whether err is one of the courier's sentinels or a
// context error: a fixed text, kept as it is.
func isSentinel(err error) bool {
	return err == context.Canceled || err == context.DeadlineExceeded || slices.Contains(ownSentinels, err)
}

// The types of fmt.Errorf's errors with one %w and with several.
var (
	fmtWrapError  = reflect.TypeOf(fmt.Errorf("%w", context.Canceled))
	fmtWrapErrors = reflect.TypeOf(fmt.Errorf("%w%w", context.Canceled, context.Canceled))
)

// ownWrapper returns the errors that err wraps when err is the courier's
// own wrapping of its errors: a *withheldError, or an fmt.Errorf %w error
// around a sentinel or a typed error of the courier.
func ownWrapper(err error) ([]error, bool) {
	if w, ok := err.(*withheldError); ok {
		return w.errs, true
	}
	if t := reflect.TypeOf(err); t != fmtWrapError && t != fmtWrapErrors {
		return nil, false
	}
	var children []error
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		children = e.Unwrap()
	case interface{ Unwrap() error }:
		children = []error{e.Unwrap()}
	}
	for _, c := range children {
		if isOwn(c) {
			return children, true
		}
	}
	return nil, false
}

// isOwn reports whether err is the courier's: a sentinel, one of its error
// types, or its wrapping of those.
func isOwn(err error) bool {
	switch err.(type) {
	case *GatewayError, *sendError, *templateError, *withheldError:
		return true
	}
	if slices.Contains(ownSentinels, err) {
		return true
	}
	_, ok := ownWrapper(err)
	return ok
}

// foreignError shows an error from outside the courier (net/http's, the
// transport's) with the secrets of a message taken out of its text. It
// unwraps to what err wraps, seen the same way, and errors.Is and
// errors.As match it as they match err.
type foreignError struct {
	err error
	msg string
	s   *scrubber
}

func (e *foreignError) Error() string { return e.msg }

func (e *foreignError) Format(f fmt.State, verb rune) { formatText(f, verb, e.msg) }

func (e *foreignError) Unwrap() []error {
	var children []error
	switch u := e.err.(type) {
	case interface{ Unwrap() []error }:
		children = u.Unwrap()
	case interface{ Unwrap() error }:
		children = []error{u.Unwrap()}
	}
	out := make([]error, 0, len(children))
	for _, c := range children {
		if c != nil {
			out = append(out, e.s.foreignErr(c))
		}
	}
	return out
}

// Is reports whether err is target, or says it is.
func (e *foreignError) Is(target error) bool {
	if t := reflect.TypeOf(target); t != nil && t.Comparable() && e.err == target {
		return true
	}
	x, ok := e.err.(interface{ Is(error) bool })
	return ok && x.Is(target)
}

// As sets target to err when err fits it, or when err says it does.
func (e *foreignError) As(target any) bool {
	v := reflect.ValueOf(target) // a non-nil pointer: errors.As checked
	if reflect.TypeOf(e.err).AssignableTo(v.Type().Elem()) {
		v.Elem().Set(reflect.ValueOf(e.err))
		return true
	}
	x, ok := e.err.(interface{ As(any) bool })
	return ok && x.As(target)
}

// formatText prints an error's text: as it is for %v and %s with any
// flags (so %#v shows the text, not the fields behind it), and with the
// verb for the others (%q, %x).
func formatText(f fmt.State, verb rune, text string) {
	if verb == 'v' || verb == 's' {
		_, _ = f.Write([]byte(text))
		return
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), text)
}

// urlCredentials returns the userinfo of u (with the Basic token net/http
// makes of it) and the values of its credential-like query parameters.
func urlCredentials(u *url.URL) []string {
	var out []string
	if u.User != nil {
		user := u.User.Username()
		password, _ := u.User.Password()
		out = append(out, u.User.String(), user+":"+password,
			base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
		if password == "" {
			out = append(out, user) // a user name alone can be a token
		} else {
			out = append(out, password)
		}
	}
	for pair := range strings.SplitSeq(u.RawQuery, "&") {
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			name = rawName
		}
		if !sensitiveName(name) {
			continue
		}
		out = append(out, rawValue)
		if value, err := url.QueryUnescape(rawValue); err == nil {
			out = append(out, value)
		}
	}
	return out
}
