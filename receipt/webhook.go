package receipt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
)

// WebhookSignatureHeader is the header that carries the webhook preset's
// receipt signature; see Webhook.
const WebhookSignatureHeader = "Smscourier-Signature"

// WebhookOptions configures the webhook preset's Verifier.
type WebhookOptions struct {
	// OldSecrets are secrets still accepted while the gateway moves to a
	// new one: a callback signed with any of them, or with the secret, is
	// authentic. Default none.
	OldSecrets []smscourier.Secret
	// ReplayWindow is how far the signed t may be from now. Default
	// DefaultReplayWindow.
	ReplayWindow time.Duration
}

// Webhook returns the Verifier of the receipts of the webhook preset
// (provider "webhook"): an in-house gateway's own callbacks, signed with
// secret; it fails when secret or one of OldSecrets is shorter than
// MinTokenLen.
//
// The gateway POSTs one receipt as JSON,
//
//	{"message_id": "...", "status": "delivered", "error_code": "...", "time": "2026-01-02T15:04:05Z"}
//
// where message_id is the id of its reply to the send ({"id": "..."}),
// status one of the Status words (accepted, sent, delivered, undelivered,
// failed, unknown; any other word is kept as ProviderStatus and maps to
// StatusUnknown), error_code optional, and time RFC 3339, optional (the
// arrival then). A body without message_id (a test ping) yields no
// receipt. It signs the body with the header
//
//	Smscourier-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
//
// as SignWebhook makes it, with one or more v1 (one per secret while it
// rotates its secret); one v1 that matches is enough. t must be within the
// replay window.
func Webhook(secret smscourier.Secret, opts WebhookOptions) (Verifier, error) {
	keys := [][]byte{}
	for _, s := range append([]smscourier.Secret{secret}, opts.OldSecrets...) {
		if len(s) < MinTokenLen {
			return nil, fmt.Errorf("smscourier: receipt: webhook: a secret is shorter than %d bytes", MinTokenLen)
		}
		keys = append(keys, []byte(s))
	}
	return &webhook{keys: keys, window: opts.ReplayWindow}, nil
}

// SignWebhook returns the Smscourier-Signature header value that signs
// body, sent at t, with secret, for the Verifier that Webhook returns:
// "t=<Unix seconds>,v1=<hex HMAC-SHA256>". While moving to a new secret,
// a gateway may send both signatures: SignWebhook with the new secret,
// then ",v1=" and the v1 of SignWebhook with the old one.
func SignWebhook(secret smscourier.Secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC([]byte(secret), ts, body))
}

func webhookMAC(key []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

type webhook struct {
	keys   [][]byte
	window time.Duration
}

func (*webhook) Provider() string { return "webhook" }

func (v *webhook) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(r.Header.Get(WebhookSignatureHeader), ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = val
		case "v1":
			if s, err := hex.DecodeString(val); err == nil && len(s) == sha256.Size {
				sigs = append(sigs, s)
			}
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return nil, fmt.Errorf("%w: webhook: missing or malformed %s", ErrUnauthenticated, WebhookSignatureHeader)
	}
	ok := 0
	for _, key := range v.keys {
		want := webhookMAC(key, ts, body)
		for _, s := range sigs {
			if hmac.Equal(want, s) {
				ok = 1
			}
		}
	}
	if ok == 0 {
		return nil, fmt.Errorf("%w: webhook: the signature does not match", ErrUnauthenticated)
	}
	if err := CheckWindow(time.Unix(secs, 0), now, v.window); err != nil {
		return nil, err
	}
	var in struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
		Time      string `json:"time"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%w: webhook: the body is not a receipt object", ErrMalformed)
	}
	if in.MessageID == "" {
		return nil, nil
	}
	rc := Receipt{
		Provider:       "webhook",
		MessageID:      in.MessageID,
		Status:         Status(in.Status),
		ProviderStatus: in.Status,
		ErrorCode:      in.ErrorCode,
		Time:           now,
		Raw:            Raw(body),
	}
	if !rc.Status.Valid() {
		rc.Status = StatusUnknown
	}
	if in.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Time)
		if err != nil {
			return nil, fmt.Errorf("%w: webhook: time is not RFC 3339", ErrMalformed)
		}
		rc.Time = t.UTC()
	}
	return []Receipt{rc}, nil
}
