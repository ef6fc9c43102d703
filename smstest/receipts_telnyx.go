package smstest

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Telnyx posts message.sent and message.finalized events as JSON, signed
// with telnyx-signature-ed25519: the base64 Ed25519 signature of
// telnyx-timestamp, "|" and the body
// (https://developers.telnyx.com/docs/development/api-fundamentals/webhooks).
// It needs ReceiptCredentials.PrivateKey.
func init() {
	registerReceiptProvider("telnyx", receiptProvider{
		reply: func(id string) Reply {
			return Reply{
				Status: http.StatusOK,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body: `{"data":{"record_type":"message","direction":"outbound","id":"` + id +
					`","type":"SMS","to":[{"phone_number":"+14134242223","status":"queued"}],"parts":1,"errors":[]}}`,
			}
		},
		request: telnyxReceipt,
	})
}

func telnyxReceipt(ctx context.Context, u string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	if len(c.PrivateKey) != ed25519.PrivateKeySize {
		return nil, errors.New("smstest: telnyx receipts need ReceiptCredentials.PrivateKey")
	}
	word := cbWord(d.Status, map[string]string{DLRAccepted: "queued", DLRUndelivered: "delivery_failed", DLRFailed: "sending_failed"})
	event := "message.finalized"
	if word == "queued" || word == "sending" || word == "sent" {
		event = "message.sent"
	}
	errs := []map[string]string{}
	if d.ErrorCode != "" {
		errs = append(errs, map[string]string{"code": d.ErrorCode, "title": "Undeliverable", "detail": "the message was not delivered"})
	}
	at := d.Time.UTC().Format("2006-01-02T15:04:05.000-07:00")
	body, err := json.Marshal(map[string]any{
		"data": map[string]any{
			"event_type":  event,
			"id":          cbNonce(16),
			"occurred_at": at,
			"record_type": "event",
			"payload": map[string]any{
				"id":          d.MessageID,
				"record_type": "message",
				"direction":   "outbound",
				"type":        "SMS",
				"from":        map[string]string{"phone_number": "+12065550110"},
				"to":          []map[string]string{{"phone_number": d.To, "status": word}},
				"errors":      errs,
				"parts":       1,
				"sent_at":     at,
			},
		},
		"meta": map[string]any{"attempt": 1, "delivered_to": u},
	})
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := ed25519.Sign(c.PrivateKey, append([]byte(ts+"|"), body...))
	req, err := cbJSON(ctx, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Telnyx-Timestamp", ts)
	req.Header.Set("Telnyx-Signature-Ed25519", base64.StdEncoding.EncodeToString(sig))
	return req, nil
}
