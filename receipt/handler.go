package receipt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Sink takes the receipts of one authentic callback. It must treat a
// receipt it has already taken as a no-op: providers resend a callback
// that was not answered 2xx in time. An error makes the Handler answer
// 503, so that the provider sends the callback again.
type Sink interface {
	Receive(ctx context.Context, receipts []Receipt) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, receipts []Receipt) error

// Receive calls f.
func (f SinkFunc) Receive(ctx context.Context, receipts []Receipt) error { return f(ctx, receipts) }

// DefaultMaxBody is the largest callback body a Handler reads, 1 MiB:
// larger ones are answered 413.
const DefaultMaxBody = 1 << 20

// Handler is the http.Handler of one provider's receipt callbacks: it
// reads the callback (POST body, or query of a GET), has its Verifier
// authenticate and parse it, and hands the receipts to its Sink.
//
// It answers 200 with an empty body when the Sink took the receipts (or
// the callback carried none), 401 when the Verifier refused the
// callback's authentication (nothing reaches the Sink), 400 when it could
// not read it, 405 for a method other than GET and POST, 413 for a body
// over the limit, and 503 when the Sink failed. No answer quotes the
// callback. It is safe for concurrent use.
type Handler struct {
	v       Verifier
	sink    Sink
	maxBody int64
	now     func() time.Time
	logger  *slog.Logger
}

// Option configures a Handler or a Mux.
type Option interface {
	apply(*handlerOptions)
}

type handlerOptions struct {
	maxBody int64
	now     func() time.Time
	logger  *slog.Logger
}

type optionFunc func(*handlerOptions)

func (f optionFunc) apply(o *handlerOptions) { f(o) }

// WithMaxBody sets the largest body read, in bytes; n <= 0 means
// DefaultMaxBody.
func WithMaxBody(n int64) Option {
	return optionFunc(func(o *handlerOptions) {
		if n <= 0 {
			n = DefaultMaxBody
		}
		o.maxBody = n
	})
}

// WithClock makes the Handler read the time, for replay windows and
// receipts without one, from now instead of time.Now. A nil now is
// time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *handlerOptions) {
		if now == nil {
			now = time.Now
		}
		o.now = now
	})
}

// WithLogger makes the Handler log, at warn level, each callback it
// refuses and each Sink failure: the provider, the answer's status, the
// remote address and the error, never the payload or a secret. Without
// it nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *handlerOptions) { o.logger = l })
}

func newOptions(opts []Option) handlerOptions {
	o := handlerOptions{maxBody: DefaultMaxBody, now: time.Now}
	for _, opt := range opts {
		opt.apply(&o)
	}
	return o
}

// NewHandler returns the Handler of v's callbacks, which hands their
// receipts to sink. It panics if v or sink is nil.
func NewHandler(v Verifier, sink Sink, opts ...Option) *Handler {
	if v == nil || sink == nil {
		panic("smscourier: receipt: NewHandler needs a Verifier and a Sink")
	}
	o := newOptions(opts)
	return &Handler{v: v, sink: sink, maxBody: o.maxBody, now: o.now, logger: o.logger}
}

// ServeHTTP answers one callback, as Handler documents.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	switch r.Method {
	case http.MethodPost:
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				h.answer(w, r, http.StatusRequestEntityTooLarge, err)
				return
			}
			h.answer(w, r, http.StatusBadRequest, fmt.Errorf("smscourier: receipt: reading the body: %w", err))
			return
		}
	case http.MethodGet:
	default:
		w.Header().Set("Allow", "GET, POST")
		h.answer(w, r, http.StatusMethodNotAllowed, errors.New("smscourier: receipt: method not allowed"))
		return
	}
	receipts, err := h.v.Verify(r, body, h.now())
	switch {
	case errors.Is(err, ErrUnauthenticated):
		h.answer(w, r, http.StatusUnauthorized, err)
		return
	case err != nil:
		h.answer(w, r, http.StatusBadRequest, err)
		return
	}
	if len(receipts) > 0 {
		if err := h.sink.Receive(r.Context(), receipts); err != nil {
			h.answer(w, r, http.StatusServiceUnavailable, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// answer writes status with its standard text, and logs err.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, status int, err error) {
	if h.logger != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "smscourier: receipt refused",
			slog.String("provider", h.v.Provider()),
			slog.Int("status", status),
			slog.String("remote_addr", r.RemoteAddr),
			slog.String("error", err.Error()))
	}
	http.Error(w, strings.ToLower(http.StatusText(status)), status)
}

// NewMux returns a ServeMux that serves the Handler of each of vs, all
// handing their receipts to sink, at prefix/{provider}, and, for
// providers authenticated by a token in the URL (see SharedAuth), at
// prefix/{provider}/{token}. prefix is a path such as "/receipts" ("" is
// the root). Mount it on a server's own mux with
// mux.Handle(prefix+"/", receiptMux). Two Verifiers of one provider are
// an error.
func NewMux(prefix string, sink Sink, vs []Verifier, opts ...Option) (*http.ServeMux, error) {
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("smscourier: receipt: mux prefix %q does not start with /", prefix)
	}
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, v := range vs {
		if v == nil {
			return nil, errors.New("smscourier: receipt: a nil Verifier")
		}
		name := v.Provider()
		if seen[name] {
			return nil, fmt.Errorf("smscourier: receipt: two Verifiers for provider %q", name)
		}
		seen[name] = true
		h := NewHandler(v, sink, opts...)
		mux.Handle(prefix+"/"+name, h)
		mux.Handle(prefix+"/"+name+"/{token}", h)
	}
	return mux, nil
}
