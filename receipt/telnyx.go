package receipt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TelnyxOptions configures the Telnyx Verifier.
type TelnyxOptions struct {
	// ReplayWindow is how far telnyx-timestamp may be from now. Default
	// DefaultReplayWindow.
	ReplayWindow time.Duration
}

// ed25519SPKIPrefix starts the DER SubjectPublicKeyInfo of an Ed25519 key,
// before its 32 bytes.
var ed25519SPKIPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}

// Telnyx returns the Verifier of Telnyx's messaging webhooks (provider
// "telnyx"), signed with the Ed25519 key whose public half is publicKey,
// in base64 as the Mission Control Portal shows it (Keys & Credentials,
// Public Key): 32 bytes, or their DER SubjectPublicKeyInfo. It fails for
// any other key. The public key is no secret.
//
// Telnyx signs each webhook with telnyx-signature-ed25519, the base64
// Ed25519 signature of telnyx-timestamp (Unix seconds), "|" and the raw
// body. The timestamp must be within the replay window.
//
// A message.sent or message.finalized event yields a receipt per
// recipient in data.payload.to, with its status; other events (an inbound
// message.received) yield none. Its time is data.occurred_at, else its
// arrival; the error code is that of the first of data.payload.errors.
//
// Sources:
// https://developers.telnyx.com/docs/development/api-fundamentals/webhooks
// (signature), https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks
// (events, body and statuses).
func Telnyx(publicKey string, opts TelnyxOptions) (Verifier, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(publicKey))
	if err != nil {
		return nil, fmt.Errorf("smscourier: receipt: telnyx: the public key is not base64: %w", err)
	}
	if len(key) == len(ed25519SPKIPrefix)+ed25519.PublicKeySize && bytes.HasPrefix(key, ed25519SPKIPrefix) {
		key = key[len(ed25519SPKIPrefix):]
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("smscourier: receipt: telnyx: the public key has %d bytes, not an Ed25519 key's %d", len(key), ed25519.PublicKeySize)
	}
	return &telnyx{key: ed25519.PublicKey(key), window: opts.ReplayWindow}, nil
}

type telnyx struct {
	key    ed25519.PublicKey
	window time.Duration
}

func (*telnyx) Provider() string { return "telnyx" }

func (v *telnyx) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("Telnyx-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: telnyx: missing or malformed telnyx-signature-ed25519", ErrUnauthenticated)
	}
	ts := r.Header.Get("Telnyx-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: telnyx: missing or malformed telnyx-timestamp", ErrUnauthenticated)
	}
	signed := make([]byte, 0, len(ts)+1+len(body))
	signed = append(append(append(signed, ts...), '|'), body...)
	if !ed25519.Verify(v.key, signed, sig) {
		return nil, fmt.Errorf("%w: telnyx: the signature does not match", ErrUnauthenticated)
	}
	if err := CheckWindow(time.Unix(secs, 0), now, v.window); err != nil {
		return nil, err
	}
	var ev struct {
		Data struct {
			EventType  string `json:"event_type"`
			OccurredAt string `json:"occurred_at"`
			Payload    struct {
				ID string `json:"id"`
				To []struct {
					Status string `json:"status"`
				} `json:"to"`
				Errors []struct {
					Code any `json:"code"`
				} `json:"errors"`
			} `json:"payload"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("%w: telnyx: the body is not a JSON event", ErrMalformed)
	}
	d := ev.Data
	if (d.EventType != "message.sent" && d.EventType != "message.finalized") || d.Payload.ID == "" {
		return nil, nil
	}
	when := now
	if t, err := time.Parse(time.RFC3339Nano, d.OccurredAt); err == nil {
		when = t.UTC()
	}
	var code string
	if len(d.Payload.Errors) > 0 && d.Payload.Errors[0].Code != nil {
		code = fmt.Sprint(d.Payload.Errors[0].Code)
	}
	var out []Receipt
	for _, to := range d.Payload.To {
		out = append(out, Receipt{
			Provider:       "telnyx",
			MessageID:      d.Payload.ID,
			Status:         telnyxStatus(to.Status),
			ProviderStatus: to.Status,
			ErrorCode:      code,
			Time:           when,
			Raw:            Raw(body),
		})
	}
	return out, nil
}

// telnyxStatus maps the statuses of a Telnyx message's recipients.
func telnyxStatus(word string) Status {
	switch word {
	case "queued", "sending":
		return StatusAccepted
	case "sent":
		return StatusSent
	case "delivered":
		return StatusDelivered
	case "delivery_failed", "expired":
		return StatusUndelivered
	case "sending_failed":
		return StatusFailed
	}
	return StatusUnknown // delivery_unconfirmed among them
}
