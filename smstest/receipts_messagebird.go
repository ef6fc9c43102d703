package smstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"time"
)

// MessageBird calls the status report URL with GET and the report in the
// query, signed with a MessageBird-Signature-JWT header: an HS256 JWT
// under ReceiptCredentials.Secret (the account's signing key) with iss
// "MessageBird", nbf, exp (nbf + 60 s), jti and url_hash, the hex SHA-256
// of the URL called (a GET has no payload_hash). The JWT is written by
// hand: smstest uses the standard library only.
// https://developers.messagebird.com/docs/verify-http-requests
// https://developers.messagebird.com/api/sms-messaging/#handle-a-status-report
func init() {
	registerReceiptProvider("messagebird", receiptProvider{reply: messageBirdReply, request: messageBirdRequest})
}

// messageBirdReply is MessageBird's 201 to POST /messages: the message id
// is id.
func messageBirdReply(id string) Reply {
	body, _ := json.Marshal(map[string]any{
		"id":                id,
		"href":              "https://rest.messagebird.com/messages/" + id,
		"direction":         "mt",
		"type":              "sms",
		"originator":        "YourBrand",
		"reference":         "ref-" + id,
		"validity":          nil,
		"gateway":           10,
		"typeDetails":       map[string]any{},
		"datacoding":        "auto",
		"mclass":            1,
		"scheduledDatetime": nil,
		"createdDatetime":   "2024-06-06T08:00:00+00:00",
		"recipients": map[string]any{
			"totalCount": 1, "totalSentCount": 1, "totalDeliveredCount": 0, "totalDeliveryFailedCount": 0,
			"items": []any{map[string]any{"recipient": 14134242223, "status": "sent", "statusDatetime": "2024-06-06T08:00:00+00:00"}},
		},
	})
	return replyJSON(http.StatusCreated, body)
}

// messageBirdStatuses are MessageBird's status and reason for each DLR
// status.
var messageBirdStatuses = map[string][2]string{
	DLRAccepted:    {"scheduled", "scheduled"},
	DLRSent:        {"sent", "pending DLR"},
	DLRDelivered:   {"delivered", "successfully delivered"},
	DLRUndelivered: {"delivery_failed", "unknown subscriber"},
	DLRFailed:      {"delivery_failed", "route not available"},
}

func messageBirdRequest(ctx context.Context, url string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	st, ok := messageBirdStatuses[d.Status]
	if !ok {
		return nil, fmt.Errorf("smstest: messagebird: unknown DLR status %q", d.Status)
	}
	q := neturl.Values{
		"id":             {d.MessageID},
		"reference":      {"ref-" + d.MessageID},
		"recipient":      {strings.TrimPrefix(d.To, "+")},
		"status":         {st[0]},
		"statusReason":   {st[1]},
		"statusDatetime": {d.Time.UTC().Format(time.RFC3339)},
	}
	if d.ErrorCode != "" {
		q.Set("statusErrorCode", d.ErrorCode)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	called := url + sep + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, called, nil)
	if err != nil {
		return nil, err
	}
	urlHash := sha256.Sum256([]byte(called))
	claims := map[string]any{
		"iss":      "MessageBird",
		"nbf":      now.Unix(),
		"exp":      now.Add(time.Minute).Unix(),
		"jti":      hexNonce(16),
		"url_hash": hex.EncodeToString(urlHash[:]),
	}
	token, err := messageBirdJWT([]byte(c.Secret), claims)
	if err != nil {
		return nil, err
	}
	req.Header.Set("MessageBird-Signature-JWT", token)
	return req, nil
}

// messageBirdJWT returns the compact JWS of claims signed with HS256 under
// key.
func messageBirdJWT(key []byte, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil)), nil
}
