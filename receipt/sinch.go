package receipt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/internal/jsontext"
)

// The headers of Sinch's HMAC callback signature.
const (
	sinchSignatureHeader = "X-Sinch-Webhook-Signature"
	sinchNonceHeader     = "X-Sinch-Webhook-Signature-Nonce"
	sinchTimestampHeader = "X-Sinch-Webhook-Signature-Timestamp"
	sinchAlgorithmHeader = "X-Sinch-Webhook-Signature-Algorithm"
	sinchAlgorithm       = "HmacSHA256"
)

// SinchOptions configures the Verifier of Sinch's delivery reports. Set
// Secret, Auth or both; each one set must pass.
type SinchOptions struct {
	// Secret is the HMAC secret of the service plan's callbacks, which
	// Sinch enables on request to the account manager. Zero: callbacks
	// are not checked for a signature.
	Secret smscourier.Secret
	// Auth checks the basic credentials Sinch provisions on the callback
	// URL (also on request to the account manager), or a token in its
	// path. Zero: not checked.
	Auth SharedAuth
	// ReplayWindow is how far the signed timestamp may be from now.
	// Zero: DefaultReplayWindow.
	ReplayWindow time.Duration
}

type sinchVerifier struct {
	secret []byte
	auth   *SharedAuth
	window time.Duration
}

// Sinch returns the Verifier of the delivery reports of the Sinch SMS REST
// API (preset "sinch"): the callbacks it posts to a batch's callback_url
// when the batch asks for delivery_report "per_recipient" (one
// recipient_delivery_report_sms per status change) or "summary"/"full"
// (one delivery_report_sms per batch). A receipt's MessageID is the batch
// id, the id the send's reply carries.
//
// Sinch authenticates SMS callbacks only as the account manager
// configures them: basic credentials on the callback URL, OAuth 2.0, mTLS,
// or since 2025 an HMAC signature per service plan. With opts.Secret the
// Verifier checks the HMAC signature the way Sinch's own SDKs check SMS
// callbacks: X-Sinch-Webhook-Signature is
// base64(HMAC-SHA256(secret, body + "." + nonce + "." + timestamp)), with
// the nonce and the Unix timestamp in seconds from
// X-Sinch-Webhook-Signature-Nonce and X-Sinch-Webhook-Signature-Timestamp;
// X-Sinch-Webhook-Signature-Algorithm, when sent, must be HmacSHA256; the
// timestamp must be within the replay window. The nonce is not
// remembered: a replay within the window reaches the Sink, which treats a
// receipt it already took as a no-op. With opts.Auth it checks basic
// credentials or a path token (SharedAuth). It fails when opts sets
// neither, or sets an invalid Auth.
//
// Statuses (Sinch's delivery report statuses): Queued is accepted;
// Dispatched is sent; Delivered is delivered; Unknown ("delivered to the
// SMSC but no delivery receipt") is sent; Rejected, Deleted and Failed
// (the SMSC's refusal or failure) are undelivered; Aborted, Cancelled and
// Expired (before reaching the SMSC) are failed. ErrorCode is Sinch's
// status code of an undelivered or failed receipt, "" when it is 0. Time
// is operator_status_at, else at, else now. Mobile-originated callbacks
// (mo_text, mo_binary, mo_media) yield no receipts.
//
// Sources:
//   - callbacks and their authentication:
//     https://developers.sinch.com/docs/sms/api-reference/sms/tag/Webhooks/
//     and the 2025-02-13 release note (HMAC per service plan),
//     https://developers.sinch.com/docs/sms/release-notes/
//   - the signature: the Conversation API's documented scheme,
//     https://developers.sinch.com/docs/conversation/callbacks/, which
//     Sinch's SDKs apply to SMS callbacks: sinch-sdk-python
//     sinch/domains/sms/sinch_events/v1/sms_sinch_event.py and
//     sinch/domains/authentication/sinch_events/v1/authentication_validation.py;
//     sinch-sdk-node packages/sms/src/rest/v1/callbacks/callbacks-webhook.ts
//   - payloads and statuses:
//     https://developers.sinch.com/docs/sms/api-reference/sms/tag/Delivery-reports/
func Sinch(opts SinchOptions) (Verifier, error) {
	v := &sinchVerifier{secret: []byte(opts.Secret), window: opts.ReplayWindow}
	if opts.Auth != (SharedAuth{}) {
		if err := opts.Auth.Validate(); err != nil {
			return nil, err
		}
		auth := opts.Auth
		v.auth = &auth
	}
	if len(v.secret) == 0 && v.auth == nil {
		return nil, errors.New("smscourier: receipt: Sinch needs a Secret or an Auth")
	}
	return v, nil
}

func (v *sinchVerifier) Provider() string { return "sinch" }

func (v *sinchVerifier) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	if v.auth != nil {
		if err := v.auth.Check(r); err != nil {
			return nil, err
		}
	}
	if len(v.secret) > 0 {
		if err := v.checkSignature(r, body, now); err != nil {
			return nil, err
		}
	}
	return parseSinch(body, now)
}

// checkSignature checks Sinch's HMAC headers against body at now.
func (v *sinchVerifier) checkSignature(r *http.Request, body []byte, now time.Time) error {
	sig := r.Header.Get(sinchSignatureHeader)
	nonce := r.Header.Get(sinchNonceHeader)
	ts := r.Header.Get(sinchTimestampHeader)
	if sig == "" || nonce == "" || ts == "" {
		return fmt.Errorf("%w: sinch: missing signature headers", ErrUnauthenticated)
	}
	if alg := r.Header.Get(sinchAlgorithmHeader); alg != "" && !strings.EqualFold(alg, sinchAlgorithm) {
		return fmt.Errorf("%w: sinch: unsupported signature algorithm", ErrUnauthenticated)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: sinch: malformed signature timestamp", ErrUnauthenticated)
	}
	if err := CheckWindow(time.Unix(secs, 0), now, v.window); err != nil {
		return err
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: sinch: malformed signature", ErrUnauthenticated)
	}
	mac := hmac.New(sha256.New, v.secret)
	mac.Write(body)
	mac.Write([]byte("."))
	mac.Write([]byte(nonce))
	mac.Write([]byte("."))
	mac.Write([]byte(ts))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: sinch: signature mismatch", ErrUnauthenticated)
	}
	return nil
}

// sinchCallback is the part of a Sinch SMS callback that receipts read.
type sinchCallback struct {
	Type             string          `json:"type"`
	BatchID          string          `json:"batch_id"`
	Status           string          `json:"status"`
	Code             json.RawMessage `json:"code"`
	At               string          `json:"at"`
	OperatorStatusAt string          `json:"operator_status_at"`
	Statuses         []struct {
		Status string          `json:"status"`
		Code   json.RawMessage `json:"code"`
	} `json:"statuses"`
}

// parseSinch reads the receipts of a Sinch callback body.
func parseSinch(body []byte, now time.Time) ([]Receipt, error) {
	var cb sinchCallback
	if err := json.Unmarshal(body, &cb); err != nil {
		return nil, fmt.Errorf("%w: sinch: the body is not a JSON callback", ErrMalformed)
	}
	var receipts []Receipt
	switch cb.Type {
	case "recipient_delivery_report_sms", "recipient_delivery_report_mms":
		if cb.BatchID == "" || cb.Status == "" {
			return nil, fmt.Errorf("%w: sinch: a recipient delivery report without batch_id or status", ErrMalformed)
		}
		at := now
		for _, s := range []string{cb.OperatorStatusAt, cb.At} {
			if t, err := time.Parse(time.RFC3339Nano, s); s != "" && err == nil {
				at = t
				break
			}
		}
		receipts = append(receipts, sinchReceipt(cb.BatchID, cb.Status, cb.Code, at, body))
	case "delivery_report_sms", "delivery_report_mms":
		if cb.BatchID == "" {
			return nil, fmt.Errorf("%w: sinch: a delivery report without batch_id", ErrMalformed)
		}
		for _, s := range cb.Statuses {
			receipts = append(receipts, sinchReceipt(cb.BatchID, s.Status, s.Code, now, body))
		}
	}
	return receipts, nil
}

func sinchReceipt(batchID, status string, code json.RawMessage, at time.Time, body []byte) Receipt {
	rc := Receipt{
		Provider:       "sinch",
		MessageID:      batchID,
		Status:         sinchStatus(status),
		ProviderStatus: status,
		Time:           at,
		Raw:            Raw(body),
	}
	if rc.Status == StatusUndelivered || rc.Status == StatusFailed {
		if c := jsontext.Scalar(code); c != "" && c != "0" {
			rc.ErrorCode = c
		}
	}
	return rc
}

// sinchStatus maps a status of Sinch's SMS delivery reports onto Status;
// a word it does not know is StatusUnknown.
func sinchStatus(s string) Status {
	switch strings.ToLower(s) {
	case "queued":
		return StatusAccepted
	case "dispatched", "unknown":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "rejected", "deleted", "failed":
		return StatusUndelivered
	case "aborted", "cancelled", "expired":
		return StatusFailed
	}
	return StatusUnknown
}
