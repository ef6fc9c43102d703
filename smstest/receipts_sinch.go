package smstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sinch posts a recipient_delivery_report_sms per status change to a
// batch's callback_url. With ReceiptCredentials.Secret the fake signs it
// as Sinch signs callbacks with a service plan's HMAC secret:
// X-Sinch-Webhook-Signature is base64(HMAC-SHA256(secret, body + "." +
// nonce + "." + timestamp)); User and Password are sent as basic
// credentials and Token as the URL's last path segment, each when set.
// https://developers.sinch.com/docs/sms/api-reference/sms/tag/Webhooks/
// https://developers.sinch.com/docs/conversation/callbacks/
func init() {
	registerReceiptProvider("sinch", receiptProvider{reply: sinchReply, request: sinchRequest})
}

// sinchReply is Sinch's 201 to POST /xms/v1/{plan}/batches: the batch id
// is id.
func sinchReply(id string) Reply {
	body, _ := json.Marshal(map[string]any{
		"id":              id,
		"to":              []string{"14134242223"},
		"from":            "12345",
		"canceled":        false,
		"type":            "mt_text",
		"created_at":      "2024-06-06T08:00:00.000Z",
		"modified_at":     "2024-06-06T08:00:00.000Z",
		"delivery_report": "per_recipient",
		"expire_at":       "2024-06-09T08:00:00.000Z",
		"flash_message":   false,
	})
	return replyJSON(http.StatusCreated, body)
}

// sinchStatuses are Sinch's status and default code for each DLR status.
var sinchStatuses = map[string]struct {
	word string
	code int
}{
	DLRAccepted:    {"Queued", 400},
	DLRSent:        {"Dispatched", 401},
	DLRDelivered:   {"Delivered", 0},
	DLRUndelivered: {"Failed", 0},
	DLRFailed:      {"Aborted", 0},
}

func sinchRequest(ctx context.Context, url string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	st, ok := sinchStatuses[d.Status]
	if !ok {
		return nil, fmt.Errorf("smstest: sinch: unknown DLR status %q", d.Status)
	}
	code := st.code
	if d.ErrorCode != "" {
		n, err := strconv.Atoi(d.ErrorCode)
		if err != nil {
			return nil, fmt.Errorf("smstest: sinch: status codes are numbers, not %q", d.ErrorCode)
		}
		code = n
	}
	at := d.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	body, err := json.Marshal(struct {
		Type             string `json:"type"`
		BatchID          string `json:"batch_id"`
		Recipient        string `json:"recipient"`
		Code             int    `json:"code"`
		Status           string `json:"status"`
		At               string `json:"at"`
		OperatorStatusAt string `json:"operator_status_at"`
	}{"recipient_delivery_report_sms", d.MessageID, strings.TrimPrefix(d.To, "+"), code, st.word, at, at})
	if err != nil {
		return nil, err
	}
	req, err := newUnsignedCallback(ctx, http.MethodPost, url, c, "application/json", body)
	if err != nil || c.Secret == "" {
		return req, err
	}
	nonce := hexNonce(13)
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(c.Secret))
	mac.Write(body)
	mac.Write([]byte("." + nonce + "." + ts))
	req.Header.Set("X-Sinch-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Sinch-Webhook-Signature-Nonce", nonce)
	req.Header.Set("X-Sinch-Webhook-Signature-Timestamp", ts)
	req.Header.Set("X-Sinch-Webhook-Signature-Algorithm", "HmacSHA256")
	return req, nil
}
