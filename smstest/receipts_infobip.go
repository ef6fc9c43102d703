package smstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Infobip posts its SMS delivery reports as {"results": [...]} to the
// webhooks.delivery.url of a send and signs nothing: the fake sends
// ReceiptCredentials' User and Password as basic credentials and its
// Token as the URL's last path segment, each when set.
// https://www.infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/receive-outbound-sms-message-report
func init() {
	registerReceiptProvider("infobip", receiptProvider{reply: infobipReply, request: infobipRequest})
}

// infobipReply is Infobip's 200 to POST /sms/3/messages: the message id
// is messages[0].messageId.
func infobipReply(id string) Reply {
	body, _ := json.Marshal(map[string]any{
		"bulkId": "bulk-" + id,
		"messages": []any{map[string]any{
			"messageId": id,
			"status": map[string]any{
				"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
				"description": "Message sent to next instance",
			},
			"destination": "14134242223",
		}},
	})
	return replyJSON(http.StatusOK, body)
}

// infobipStatuses are the status objects of Infobip's reports for each
// DLR status.
var infobipStatuses = map[string]map[string]any{
	DLRAccepted:    {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED", "description": "Message sent to next instance"},
	DLRSent:        {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE", "description": "Message sent to next instance"},
	DLRDelivered:   {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET", "description": "Message delivered to handset"},
	DLRUndelivered: {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED", "description": "Message sent not delivered"},
	DLRFailed:      {"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK", "description": "Network is forbidden"},
}

func infobipRequest(ctx context.Context, url string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	status, ok := infobipStatuses[d.Status]
	if !ok {
		return nil, fmt.Errorf("smstest: infobip: unknown DLR status %q", d.Status)
	}
	errObj := map[string]any{"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error", "permanent": false}
	if d.ErrorCode != "" {
		errObj = map[string]any{"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 1, "name": d.ErrorCode, "description": "Handset error", "permanent": true}
	}
	const layout = "2006-01-02T15:04:05.000-0700"
	body, err := json.Marshal(map[string]any{"results": []any{map[string]any{
		"bulkId":       "bulk-" + d.MessageID,
		"messageId":    d.MessageID,
		"to":           strings.TrimPrefix(d.To, "+"),
		"sentAt":       d.Time.UTC().Format(layout),
		"doneAt":       d.Time.UTC().Format(layout),
		"messageCount": 1,
		"price":        map[string]any{"pricePerMessage": 0.01, "currency": "EUR"},
		"status":       status,
		"error":        errObj,
	}}})
	if err != nil {
		return nil, err
	}
	return newUnsignedCallback(ctx, http.MethodPost, url, c, "application/json", body)
}

// newUnsignedCallback builds the callback of a provider that signs
// nothing: method to rawURL with body, c's User and Password as basic
// credentials and c's Token as the URL's last path segment, each when set.
func newUnsignedCallback(ctx context.Context, method, rawURL string, c ReceiptCredentials, contentType string, body []byte) (*http.Request, error) {
	if c.Token != "" {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("smstest: receipt URL: %w", err)
		}
		rawURL = u.JoinPath(c.Token).String()
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.User != "" || c.Password != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	return req, nil
}

// replyJSON is a reply with status and a JSON body.
func replyJSON(status int, body []byte) Reply {
	return Reply{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: string(body)}
}

// hexNonce returns n random bytes in hex, for nonces and JWT ids.
func hexNonce(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// numericOrStringID is id as a JSON number when it is a decimal integer
// without leading zeros (ids that providers send as numbers), else as a
// JSON string.
func numericOrStringID(id string) any {
	if id != "" && strings.Trim(id, "0123456789") == "" && (id == "0" || id[0] != '0') {
		return json.Number(id)
	}
	return id
}
