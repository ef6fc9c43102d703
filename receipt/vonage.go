package receipt

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/smscourier/smscourier"
)

// VonageSignatureMethod is the signature method chosen for the SMS API in
// the Vonage dashboard (API settings).
type VonageSignatureMethod string

// The SMS API's signature methods.
const (
	// VonageMD5Hash is "MD5 hash", Vonage's default: the MD5 of the
	// parameters followed by the secret. Weak; prefer an HMAC.
	VonageMD5Hash VonageSignatureMethod = "md5hash"
	VonageMD5HMAC VonageSignatureMethod = "md5"    // MD5 HMAC
	VonageSHA1    VonageSignatureMethod = "sha1"   // SHA1 HMAC
	VonageSHA256  VonageSignatureMethod = "sha256" // SHA-256 HMAC
	VonageSHA512  VonageSignatureMethod = "sha512" // SHA-512 HMAC
)

// VonageSMSOptions configures the Vonage SMS API Verifier.
type VonageSMSOptions struct {
	// Method is the signature method set in the dashboard. Default
	// VonageMD5Hash, Vonage's default.
	Method VonageSignatureMethod
	// ReplayWindow is how far the signed timestamp may be from now.
	// Default DefaultReplayWindow.
	ReplayWindow time.Duration
}

// VonageSMS returns the Verifier of the Vonage SMS API's delivery receipts
// (provider "vonage-sms"), signed with signatureSecret, the account's
// signature secret; it fails when the secret is empty or the method
// unknown. Signed webhooks must be enabled for the account (Vonage
// support enables them): unsigned receipts are refused.
//
// Vonage signs a receipt's parameters (the query of a GET, the form or
// JSON object of a POST): each name and value, values with "&" and "="
// replaced by "_", sorted by name and written "&name=value", then, for
// "MD5 hash", the secret appended and the whole hashed with MD5, or, for
// the HMAC methods, the whole keyed with the secret. The hex digest is the
// sig parameter, left out of what is signed. The signed timestamp
// parameter (Unix seconds) must be within the replay window.
//
// A receipt with a messageId and a status yields one receipt; an inbound
// message (no status) yields none. Its time is scts (YYMMDDHHMM, UTC),
// else message-timestamp (UTC), else its arrival. err-code "0" means no
// error.
//
// Sources:
// https://developer.vonage.com/en/getting-started/concepts/signing-messages
// (signature), https://developer.vonage.com/en/api/sms#delivery-receipt and
// https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts
// (parameters and statuses).
func VonageSMS(signatureSecret smscourier.Secret, opts VonageSMSOptions) (Verifier, error) {
	if signatureSecret == "" {
		return nil, errors.New("smscourier: receipt: vonage-sms: the signature secret is empty")
	}
	if opts.Method == "" {
		opts.Method = VonageMD5Hash
	}
	switch opts.Method {
	case VonageMD5Hash, VonageMD5HMAC, VonageSHA1, VonageSHA256, VonageSHA512:
	default:
		return nil, fmt.Errorf("smscourier: receipt: vonage-sms: unknown signature method %q", opts.Method)
	}
	return &vonageSMS{secret: []byte(signatureSecret), method: opts.Method, window: opts.ReplayWindow}, nil
}

type vonageSMS struct {
	secret []byte
	method VonageSignatureMethod
	window time.Duration
}

func (*vonageSMS) Provider() string { return "vonage-sms" }

func (v *vonageSMS) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	params, raw, err := vonageParams(r, body)
	if err != nil {
		// Nothing can be checked without the signed parameters.
		return nil, fmt.Errorf("%w: vonage-sms: %w", ErrUnauthenticated, err)
	}
	sig, err := hex.DecodeString(params["sig"])
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: vonage-sms: missing or malformed sig", ErrUnauthenticated)
	}
	if !hmac.Equal(v.sign(params), sig) {
		return nil, fmt.Errorf("%w: vonage-sms: the signature does not match", ErrUnauthenticated)
	}
	ts, err := strconv.ParseInt(params["timestamp"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: vonage-sms: missing or malformed timestamp", ErrUnauthenticated)
	}
	if err := CheckWindow(time.Unix(ts, 0), now, v.window); err != nil {
		return nil, err
	}
	id, word := params["messageId"], params["status"]
	if id == "" || word == "" {
		return nil, nil // an inbound message, not a receipt
	}
	rc := Receipt{
		Provider:       "vonage-sms",
		MessageID:      id,
		Status:         vonageSMSStatus(word),
		ProviderStatus: word,
		Time:           now,
		Raw:            Raw(raw),
	}
	if c := params["err-code"]; c != "0" {
		rc.ErrorCode = c
	}
	if t, err := time.Parse("0601021504", params["scts"]); err == nil {
		rc.Time = t.UTC()
	} else if t, err := time.Parse(time.DateTime, params["message-timestamp"]); err == nil {
		rc.Time = t.UTC()
	}
	return []Receipt{rc}, nil
}

// sign returns the signature of params (without sig) by v's method.
func (v *vonageSMS) sign(params map[string]string) []byte {
	var h hash.Hash
	switch v.method {
	case VonageMD5Hash:
		h = md5.New()
	case VonageMD5HMAC:
		h = hmac.New(md5.New, v.secret)
	case VonageSHA1:
		h = hmac.New(sha1.New, v.secret)
	case VonageSHA256:
		h = hmac.New(sha256.New, v.secret)
	default:
		h = hmac.New(sha512.New, v.secret)
	}
	names := make([]string, 0, len(params))
	for n := range params {
		if n != "sig" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	clean := strings.NewReplacer("&", "_", "=", "_")
	for _, n := range names {
		h.Write([]byte("&" + n + "=" + clean.Replace(params[n])))
	}
	if v.method == VonageMD5Hash {
		h.Write(v.secret)
	}
	return h.Sum(nil)
}

// vonageParams returns the parameters of a Vonage SMS API callback, each
// name's first value, and the raw payload: the query of a GET, the form
// or JSON object (values as their text) of a POST.
func vonageParams(r *http.Request, body []byte) (map[string]string, []byte, error) {
	params := map[string]string{}
	if r.Method != http.MethodPost {
		for n, vs := range r.URL.Query() {
			params[n] = vs[0]
		}
		return params, []byte(r.URL.RawQuery), nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var obj map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&obj); err != nil {
			return nil, nil, errors.New("the body is not a JSON object")
		}
		for n, v := range obj {
			var s string
			if json.Unmarshal(v, &s) == nil {
				params[n] = s
			} else {
				params[n] = string(v) // a number or literal, as written
			}
		}
		return params, body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, errors.New("the body is not a form")
	}
	for n, vs := range form {
		params[n] = vs[0]
	}
	return params, body, nil
}

// vonageSMSStatus maps the SMS API's receipt statuses
// (https://developer.vonage.com/en/api/sms#delivery-receipt): "accepted"
// and "buffered" are the carrier's, so sent; "failed" and "expired" are
// the carrier's failures to deliver; "rejected" is a refusal to send.
func vonageSMSStatus(word string) Status {
	switch word {
	case "accepted", "buffered":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "failed", "expired":
		return StatusUndelivered
	case "rejected":
		return StatusFailed
	}
	return StatusUnknown
}

// VonageMessagesOptions configures the Vonage Messages API Verifier.
type VonageMessagesOptions struct {
	// APIKey, when set, must be the token's api_key claim: with several
	// Vonage accounts, it says whose signature secret signed it. Default
	// "": any.
	APIKey string
	// ReplayWindow is how far the token's iat may be from now. Default
	// DefaultReplayWindow.
	ReplayWindow time.Duration
}

// VonageMessages returns the Verifier of the Vonage Messages API's message
// status webhooks (provider "vonage-messages"), signed with
// signatureSecret, the account's signature secret; it fails when the
// secret is empty.
//
// Vonage signs each webhook with a JWT in Authorization: Bearer, HS256
// with the signature secret (the dashboard's signature method does not
// apply: always SHA-256). Its payload_hash claim is the hex SHA-256 of the
// body, and its iat, when it was issued, must be within the replay window.
// Any other algorithm is refused. Vonage says that after an internal error
// it may send a webhook unsigned: it is refused (401), and Vonage does not
// resend it.
//
// A webhook with a message_uuid and a status yields one receipt; an
// inbound message (no status) yields none. Its time is the timestamp
// field, else its arrival; the error code is the fragment of error.type
// ("1320"), else error.title.
//
// Sources:
// https://developer.vonage.com/en/messages/concepts/signed-webhooks
// (signature), https://developer.vonage.com/en/api/messages#status-webhooks
// and https://developer.vonage.com/en/messages/concepts/messages-status-callbacks
// (body and statuses).
func VonageMessages(signatureSecret smscourier.Secret, opts VonageMessagesOptions) (Verifier, error) {
	if signatureSecret == "" {
		return nil, errors.New("smscourier: receipt: vonage-messages: the signature secret is empty")
	}
	return &vonageMessages{secret: []byte(signatureSecret), apiKey: opts.APIKey, window: opts.ReplayWindow}, nil
}

type vonageMessages struct {
	secret []byte
	apiKey string
	window time.Duration
}

func (*vonageMessages) Provider() string { return "vonage-messages" }

type vonageClaims struct {
	PayloadHash string `json:"payload_hash"`
	APIKey      string `json:"api_key"`
	jwt.RegisteredClaims
}

func (v *vonageMessages) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, fmt.Errorf("%w: vonage-messages: no bearer token", ErrUnauthenticated)
	}
	var claims vonageClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return v.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(v.windowOrDefault()),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: vonage-messages: invalid token", ErrUnauthenticated)
	}
	if claims.IssuedAt == nil {
		return nil, fmt.Errorf("%w: vonage-messages: the token has no iat", ErrUnauthenticated)
	}
	if err := CheckWindow(claims.IssuedAt.Time, now, v.window); err != nil {
		return nil, err
	}
	if v.apiKey != "" && Equal(claims.APIKey, v.apiKey) != 1 {
		return nil, fmt.Errorf("%w: vonage-messages: the token's api_key is not the account's", ErrUnauthenticated)
	}
	want, err := hex.DecodeString(claims.PayloadHash)
	sum := sha256.Sum256(body)
	if err != nil || !hmac.Equal(sum[:], want) {
		return nil, fmt.Errorf("%w: vonage-messages: payload_hash does not match the body", ErrUnauthenticated)
	}
	var st struct {
		MessageUUID string `json:"message_uuid"`
		Status      string `json:"status"`
		Timestamp   string `json:"timestamp"`
		Error       *struct {
			Type  string `json:"type"`
			Title any    `json:"title"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("%w: vonage-messages: the body is not a JSON object", ErrMalformed)
	}
	if st.MessageUUID == "" || st.Status == "" {
		return nil, nil // an inbound message, not a status
	}
	rc := Receipt{
		Provider:       "vonage-messages",
		MessageID:      st.MessageUUID,
		Status:         vonageMessagesStatus(st.Status),
		ProviderStatus: st.Status,
		Time:           now,
		Raw:            Raw(body),
	}
	if t, err := time.Parse(time.RFC3339Nano, st.Timestamp); err == nil {
		rc.Time = t.UTC()
	}
	if e := st.Error; e != nil {
		if _, frag, ok := strings.Cut(e.Type, "#"); ok && frag != "" {
			rc.ErrorCode = frag
		} else if e.Title != nil {
			rc.ErrorCode = fmt.Sprint(e.Title)
		}
	}
	return []Receipt{rc}, nil
}

func (v *vonageMessages) windowOrDefault() time.Duration {
	if v.window <= 0 {
		return DefaultReplayWindow
	}
	return v.window
}

// vonageMessagesStatus maps the Messages API's statuses: "submitted" is
// passed on to the network; "rejected" covers the network's refusals and
// expiries; "undeliverable" is Vonage unable to reach the network at all.
func vonageMessagesStatus(word string) Status {
	switch word {
	case "submitted":
		return StatusSent
	case "delivered", "read":
		return StatusDelivered
	case "rejected":
		return StatusUndelivered
	case "undeliverable":
		return StatusFailed
	}
	return StatusUnknown
}
