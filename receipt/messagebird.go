package receipt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/internal/jsontext"
)

// messageBirdSignatureHeader carries MessageBird's signed JWT.
const messageBirdSignatureHeader = "MessageBird-Signature-JWT"

// messageBirdLeeway is the clock skew allowed on the JWT's nbf and exp.
const messageBirdLeeway = 5 * time.Second

// MessageBirdOptions configures the Verifier of MessageBird's status
// reports.
type MessageBirdOptions struct {
	// PublicURL is the status report URL exactly as configured at
	// MessageBird (the reportUrl of the message or the dashboard's
	// setting), such as "https://example.com/receipts/messagebird":
	// MessageBird signs the SHA-256 of the URL it calls, which is this
	// URL with the report's parameters as its query. Required; a query in
	// it is ignored (the request's own query is used).
	PublicURL string
	// ReplayWindow is how far the JWT's nbf (else iat) may be from now,
	// besides the JWT's own exp. Zero: DefaultReplayWindow.
	ReplayWindow time.Duration
}

type messageBirdVerifier struct {
	key    []byte
	base   string
	window time.Duration
}

// MessageBird returns the Verifier of MessageBird's (Bird's) SMS status
// reports (preset "messagebird"): the GET requests with the query
// id, reference, recipient, status, statusReason, statusErrorCode and
// statusDatetime that MessageBird sends to the report URL, and the same
// parameters posted as a form or a JSON object.
//
// MessageBird signs each request with a JWT in the
// MessageBird-Signature-JWT header, signed with the account's signing
// key (not the API key). The Verifier accepts HS256 only (golang-jwt/jwt
// refuses every other alg, "none" among them), requires iss
// "MessageBird", a jti, exp (checked with 5 s of leeway, as is nbf) and
// nbf or iat within the replay window; url_hash must be the hex SHA-256
// of the URL called (opts.PublicURL and the request's query) and
// payload_hash the hex SHA-256 of the body, absent for an empty body.
// Comparisons are constant-time. It fails for an empty signing key or a
// PublicURL that is not an absolute http(s) URL.
//
// Statuses (the SMS API's): scheduled is accepted; sent and buffered are
// sent; delivered is delivered; expired and delivery_failed are
// undelivered. ErrorCode is statusErrorCode; Time is statusDatetime, else
// now; MessageID is id, the id of the send's reply. A request without a
// status (an inbound message) yields no receipts. MessageBird sends status
// reports only for messages sent with a reference.
//
// Sources: https://developers.messagebird.com/docs/verify-http-requests
// and MessageBird's reference verifier and its vectors,
// github.com/messagebird/go-rest-api signature_jwt/ (claims.go,
// testdata/reference.json); status reports:
// https://developers.messagebird.com/api/sms-messaging/#handle-a-status-report
// and https://docs.bird.com/connectivity-platform/troubleshooting/i-am-missing-my-delivery-reports
func MessageBird(signingKey smscourier.Secret, opts MessageBirdOptions) (Verifier, error) {
	if signingKey == "" {
		return nil, errors.New("smscourier: receipt: MessageBird needs the signing key")
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("smscourier: receipt: MessageBird needs PublicURL, the absolute http(s) URL of the status reports")
	}
	base, _, _ := strings.Cut(opts.PublicURL, "#")
	base, _, _ = strings.Cut(base, "?")
	return &messageBirdVerifier{key: []byte(signingKey), base: base, window: opts.ReplayWindow}, nil
}

func (v *messageBirdVerifier) Provider() string { return "messagebird" }

// messageBirdClaims are the claims of MessageBird's JWT.
type messageBirdClaims struct {
	jwt.RegisteredClaims
	URLHash     string `json:"url_hash"`
	PayloadHash string `json:"payload_hash,omitempty"`
}

func (v *messageBirdVerifier) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	if err := v.checkSignature(r, body, now); err != nil {
		return nil, err
	}
	return parseMessageBird(r, body, now)
}

// checkSignature checks MessageBird's JWT against the URL called and body.
func (v *messageBirdVerifier) checkSignature(r *http.Request, body []byte, now time.Time) error {
	token := r.Header.Get(messageBirdSignatureHeader)
	if token == "" {
		return fmt.Errorf("%w: messagebird: missing %s", ErrUnauthenticated, messageBirdSignatureHeader)
	}
	var claims messageBirdClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer("MessageBird"),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(messageBirdLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if _, err := parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.key, nil }); err != nil {
		return fmt.Errorf("%w: messagebird: invalid signature JWT: %v", ErrUnauthenticated, err)
	}
	if claims.ID == "" {
		return fmt.Errorf("%w: messagebird: the JWT has no jti", ErrUnauthenticated)
	}
	signed := claims.NotBefore
	if signed == nil {
		signed = claims.IssuedAt
	}
	if signed == nil {
		return fmt.Errorf("%w: messagebird: the JWT has neither nbf nor iat", ErrUnauthenticated)
	}
	if err := CheckWindow(signed.Time, now, v.window); err != nil {
		return err
	}
	called := v.base
	if r.URL.RawQuery != "" {
		called += "?" + r.URL.RawQuery
	}
	if !hmac.Equal([]byte(claims.URLHash), []byte(sha256Hex([]byte(called)))) {
		return fmt.Errorf("%w: messagebird: url_hash does not match the URL called", ErrUnauthenticated)
	}
	wantPayload := ""
	if len(body) > 0 {
		wantPayload = sha256Hex(body)
	}
	if !hmac.Equal([]byte(claims.PayloadHash), []byte(wantPayload)) {
		return fmt.Errorf("%w: messagebird: payload_hash does not match the body", ErrUnauthenticated)
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// parseMessageBird reads the status report in r's query or body.
func parseMessageBird(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	values, raw, err := callbackValues(r, body)
	if err != nil {
		return nil, fmt.Errorf("%w: messagebird: %v", ErrMalformed, err)
	}
	status := values.Get("status")
	if status == "" {
		return nil, nil
	}
	id := values.Get("id")
	if id == "" {
		return nil, fmt.Errorf("%w: messagebird: a status report without id", ErrMalformed)
	}
	at := now
	if t, err := time.Parse(time.RFC3339Nano, values.Get("statusDatetime")); err == nil {
		at = t
	}
	return []Receipt{{
		Provider:       "messagebird",
		MessageID:      id,
		Status:         messageBirdStatus(status),
		ProviderStatus: status,
		ErrorCode:      values.Get("statusErrorCode"),
		Time:           at,
		Raw:            Raw(raw),
	}}, nil
}

// messageBirdStatus maps a status of MessageBird's SMS API onto Status; a
// word it does not know is StatusUnknown.
func messageBirdStatus(s string) Status {
	switch strings.ToLower(s) {
	case "scheduled":
		return StatusAccepted
	case "sent", "buffered":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "expired", "delivery_failed":
		return StatusUndelivered
	}
	return StatusUnknown
}

// maxFormField is the longest form field callbackValues reads from a
// multipart body.
const maxFormField = 64 << 10

// callbackValues reads a callback's flat parameters and its raw payload:
// for a request without a body, its query; else the body as a JSON object
// (strings and numbers as text), a multipart/form-data form or an
// application/x-www-form-urlencoded form, over the URL's query.
func callbackValues(r *http.Request, body []byte) (url.Values, []byte, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, errors.New("the query is malformed")
	}
	if len(body) == 0 {
		return query, []byte(r.URL.RawQuery), nil
	}
	values := url.Values{}
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return nil, nil, errors.New("the body is not a JSON object")
		}
		for k, v := range obj {
			if s := jsontext.Scalar(v); s != "" {
				values.Set(k, s)
			}
		}
	case mediaType == "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, nil, errors.New("the multipart body is malformed")
			}
			if part.FileName() != "" || part.FormName() == "" {
				continue
			}
			v, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
			if err != nil || len(v) > maxFormField {
				return nil, nil, errors.New("a multipart field is malformed or too long")
			}
			values.Add(part.FormName(), string(v))
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, errors.New("the form body is malformed")
		}
		values = form
	}
	for k, vs := range query {
		if _, ok := values[k]; !ok {
			values[k] = vs
		}
	}
	return values, body, nil
}
