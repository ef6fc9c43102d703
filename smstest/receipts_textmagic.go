package smstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"
)

// Textmagic posts a delivery notification to the callback URL of the
// account's API settings as multipart/form-data fields message_id,
// timestamp (Unix seconds), status (a one-letter code) and credits_cost,
// and signs nothing: the fake sends ReceiptCredentials' User and Password
// as basic credentials and Token as the URL's last path segment, each
// when set.
// https://apitextmagic.voog.com/https-api/receiving-delivery-notifications-and-incoming-sms-messages-via-callback-urls
// https://apitextmagic.voog.com/https-api/sms-delivery-notification-codes
func init() {
	registerReceiptProvider("textmagic", receiptProvider{reply: textmagicReply, request: textmagicRequest})
}

// textmagicReply is Textmagic's 201 to POST /api/v2/messages: the message
// id is id, a number for an all-digit id.
func textmagicReply(id string) Reply {
	body, _ := json.Marshal(map[string]any{
		"id":         numericOrStringID(id),
		"href":       "/api/v2/messages/" + id,
		"type":       "message",
		"sessionId":  34436059,
		"bulkId":     nil,
		"messageId":  numericOrStringID(id),
		"scheduleId": nil,
	})
	return replyJSON(http.StatusCreated, body)
}

// textmagicStatuses are Textmagic's delivery codes for each DLR status.
var textmagicStatuses = map[string]string{
	DLRAccepted:    "q",
	DLRSent:        "r",
	DLRDelivered:   "d",
	DLRUndelivered: "f",
	DLRFailed:      "e",
}

func textmagicRequest(ctx context.Context, url string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	code, ok := textmagicStatuses[d.Status]
	if !ok {
		return nil, fmt.Errorf("smstest: textmagic: unknown DLR status %q", d.Status)
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, f := range [][2]string{
		{"message_id", d.MessageID},
		{"timestamp", strconv.FormatInt(d.Time.Unix(), 10)},
		{"status", code},
		{"credits_cost", "1"},
	} {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return newUnsignedCallback(ctx, http.MethodPost, url, c, w.FormDataContentType(), body.Bytes())
}
