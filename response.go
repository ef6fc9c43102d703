package smscourier

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-jsonnet/ast"
	"github.com/smscourier/smscourier/internal/jsonnetutil"
)

// responseContext is the ctx of a response template: the gateway's reply.
type responseContext struct {
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Headers maps each canonical header name to its values joined by ", ".
	Headers map[string]string `json:"headers"`
	// Body is the reply body (its first maxReplyPrefix bytes) decoded, as
	// decodeJSON makes it, when it is one JSON value nested at most
	// maxReplyDepth levels deep; else the text, as a string.
	Body any `json:"body"`
}

func newResponseContext(status int, header http.Header, body []byte) *responseContext {
	rc := &responseContext{Status: status, Headers: make(map[string]string, len(header))}
	for name, values := range header {
		rc.Headers[name] = strings.Join(values, ", ")
	}
	var ok bool
	if rc.Body, ok = decodeJSON(body, maxReplyDepth); !ok {
		rc.Body = string(body)
	}
	return rc
}

// jsonCode encodes the reply for a worker process: a value decoded with
// bounded depth, encoded again, never the reply's own text.
func (rc *responseContext) jsonCode() (string, error) {
	b, err := json.Marshal(rc)
	if err != nil {
		return "", fmt.Errorf("%w: response: %v", ErrTemplate, err)
	}
	return string(b), nil
}

// astNode builds the reply's AST directly, without go-jsonnet's parser.
func (rc *responseContext) astNode() (ast.Node, error) {
	headers := make(ast.DesugaredObjectFields, 0, len(rc.Headers))
	for name, value := range rc.Headers {
		headers = append(headers, jsonnetutil.ObjectField(name, &ast.LiteralString{Value: value}))
	}
	return &ast.DesugaredObject{Fields: ast.DesugaredObjectFields{
		jsonnetutil.ObjectField("status", &ast.LiteralNumber{OriginalString: strconv.Itoa(rc.Status)}),
		jsonnetutil.ObjectField("headers", &ast.DesugaredObject{Fields: headers}),
		jsonnetutil.ObjectField("body", jsonnetutil.ValueNode(rc.Body)),
	}}, nil
}

// verdict is what a response template concluded. Absent fields take their
// defaults: ok is whether the status is 2xx, the rest empty.
type verdict struct {
	OK                *bool           `json:"ok"`
	MessageID         json.RawMessage `json:"message_id"`
	Retryable         *bool           `json:"retryable"`
	RetryAfterSeconds *float64        `json:"retry_after_seconds"`
	ErrorCode         json.RawMessage `json:"error_code"`
	ErrorMessage      *string         `json:"error_message"`
	OutcomeUnknown    *bool           `json:"outcome_unknown"`
}

// parseVerdict reads a response template's output: an object whose keys
// are among the verdict's, so that a misspelt key is an error, not ignored.
func parseVerdict(out string) (verdict, error) {
	var v verdict
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("%w: the response template must yield an object with ok, message_id, retryable, retry_after_seconds, error_code, error_message, outcome_unknown: %v", ErrTemplate, err)
	}
	if v.RetryAfterSeconds != nil && (*v.RetryAfterSeconds < 0 || *v.RetryAfterSeconds > 1e9) {
		return v, fmt.Errorf("%w: the response template's retry_after_seconds is out of range", ErrTemplate)
	}
	return v, nil
}

// newGatewayError describes a reply outside 2xx, or one a response template
// judged a failure.
func newGatewayError(resp *http.Response, body []byte) *GatewayError {
	ge := &GatewayError{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
	ge.RetryAfter, ge.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return ge
}
