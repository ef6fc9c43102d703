package smstest

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Vonage SMS API posts a delivery receipt as a form signed with the
// default "MD5 hash" method: sig is the hex MD5 of "&name=value..." (names
// sorted, "&" and "=" in values replaced by "_") followed by the signature
// secret, over every parameter but sig, timestamp included
// (https://developer.vonage.com/en/getting-started/concepts/signing-messages).
//
// The Messages API posts a status as JSON with Authorization: Bearer, a JWT
// signed HS256 with the signature secret whose payload_hash claim is the
// hex SHA-256 of the body
// (https://developer.vonage.com/en/messages/concepts/signed-webhooks).
func init() {
	registerReceiptProvider("vonage-sms", receiptProvider{
		reply: func(id string) Reply {
			return Reply{
				Status: http.StatusOK,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body: `{"message-count":"1","messages":[{"to":"14134242223","message-id":"` + id +
					`","status":"0","remaining-balance":"3.14159265","message-price":"0.03330000","network":"12345"}]}`,
			}
		},
		request: vonageSMSReceipt,
	})
	registerReceiptProvider("vonage-messages", receiptProvider{
		reply: func(id string) Reply {
			return Reply{
				Status: http.StatusAccepted,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   `{"message_uuid":"` + id + `"}`,
			}
		},
		request: vonageMessagesReceipt,
	})
}

func vonageSMSReceipt(ctx context.Context, u string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	errCode := d.ErrorCode
	if errCode == "" {
		errCode = "0"
	}
	params := map[string]string{
		"msisdn":            strings.TrimPrefix(d.To, "+"),
		"to":                "Acme",
		"network-code":      "23410",
		"messageId":         d.MessageID,
		"price":             "0.03330000",
		"status":            cbWord(d.Status, map[string]string{DLRAccepted: "accepted", DLRSent: "buffered", DLRUndelivered: "failed", DLRFailed: "rejected"}),
		"scts":              d.Time.UTC().Format("0601021504"),
		"err-code":          errCode,
		"api-key":           "abcd1234",
		"message-timestamp": d.Time.UTC().Format(time.DateTime),
		"timestamp":         strconv.FormatInt(now.Unix(), 10),
		"nonce":             cbNonce(16),
	}
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	var signed strings.Builder
	clean := strings.NewReplacer("&", "_", "=", "_")
	for _, n := range names {
		signed.WriteString("&" + n + "=" + clean.Replace(params[n]))
	}
	signed.WriteString(c.Secret)
	sum := md5.Sum([]byte(signed.String()))
	form := url.Values{"sig": {hex.EncodeToString(sum[:])}}
	for n, v := range params {
		form.Set(n, v)
	}
	return cbForm(ctx, u, form)
}

func vonageMessagesReceipt(ctx context.Context, u string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	st := map[string]any{
		"message_uuid": d.MessageID,
		"to":           strings.TrimPrefix(d.To, "+"),
		"from":         "Acme",
		"timestamp":    d.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		"status":       cbWord(d.Status, map[string]string{DLRAccepted: "submitted", DLRSent: "submitted", DLRUndelivered: "rejected", DLRFailed: "undeliverable"}),
		"channel":      "sms",
	}
	if d.ErrorCode != "" {
		st["error"] = map[string]string{
			"type":   "https://developer.vonage.com/api-errors/messages#" + d.ErrorCode,
			"title":  d.ErrorCode,
			"detail": "the message was not delivered",
		}
	}
	body, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	claims, err := json.Marshal(map[string]any{
		"iat":            now.Unix(),
		"jti":            cbNonce(16),
		"iss":            "Vonage",
		"payload_hash":   hex.EncodeToString(sum[:]),
		"api_key":        "abcd1234",
		"application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
	})
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(c.Secret))
	mac.Write([]byte(unsigned))
	req, err := cbJSON(ctx, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+unsigned+"."+enc.EncodeToString(mac.Sum(nil)))
	return req, nil
}
