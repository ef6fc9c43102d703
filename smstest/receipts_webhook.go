package smstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// The webhook preset's gateway (in-house) posts a receipt as JSON
// {"message_id","status","error_code","time"}, signed with
// Smscourier-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256(secret,
// t + "." + body)>, as package receipt's Webhook documents.
func init() {
	registerReceiptProvider("webhook", receiptProvider{
		reply: func(id string) Reply {
			return Reply{
				Status: http.StatusCreated,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   `{"id":"` + id + `"}`,
			}
		},
		request: webhookReceipt,
	})
}

func webhookReceipt(ctx context.Context, u string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	in := map[string]string{
		"message_id": d.MessageID,
		"status":     d.Status,
		"time":       d.Time.UTC().Format(time.RFC3339Nano),
	}
	if d.ErrorCode != "" {
		in["error_code"] = d.ErrorCode
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(c.Secret))
	mac.Write([]byte(ts + "." + string(body)))
	req, err := cbJSON(ctx, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Smscourier-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	return req, nil
}
