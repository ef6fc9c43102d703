package smscourier

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
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

// ErrInvalidMessage is wrapped by the error returned when a Message is
// rejected before anything is sent: an empty To, control characters in To or
// From, text that is not valid UTF-8, or TemplateData that cannot be encoded
// as JSON.
var ErrInvalidMessage = errors.New("smscourier: invalid message")

// ErrTemplate is wrapped by the error returned when the template fails while
// rendering a message (a runtime error other than error "cancel", or output
// that the configured Content-Type cannot carry). Nothing was sent.
var ErrTemplate = errors.New("smscourier: template error")

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
// ErrInvalidConfig, so errors.Is(err, ErrInvalidConfig) reports true.
type ConfigError struct {
	Problems []Problem
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

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

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
// message, so it is kept in Body for the caller to inspect deliberately.
type GatewayError struct {
	// StatusCode is the HTTP status of the reply.
	StatusCode int
	// Header is the reply's header.
	Header http.Header
	// Body is a prefix of the reply body, at most 16 KiB.
	Body []byte
}

// Error returns "smscourier: gateway replied with status N Text".
func (e *GatewayError) Error() string {
	return fmt.Sprintf("smscourier: gateway replied with status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}
