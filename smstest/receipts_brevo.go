package smstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Brevo posts a transactional SMS event (msg_status sent, delivered,
// soft_bounce, hard_bounce...) to a webhook and signs nothing. The fake
// sends ReceiptCredentials.Secret as the webhook's bearer token
// (Authorization: Bearer), User and Password as basic credentials, and
// Token as the URL's last path segment, each when set. messageId is a
// number when the id is all digits, as Brevo's are; date is Paris time.
// https://developers.brevo.com/docs/transactional-webhooks
// https://developers.brevo.com/docs/username-and-password-authentication
func init() {
	registerReceiptProvider("brevo", receiptProvider{reply: brevoReply, request: brevoRequest})
}

// brevoReply is Brevo's 201 to POST /v3/transactionalSMS/send: the
// message id is messageId, a number for an all-digit id.
func brevoReply(id string) Reply {
	body, _ := json.Marshal(map[string]any{
		"reference":        "ab1cde2fgh3i4jklmno",
		"messageId":        numericOrStringID(id),
		"smsCount":         1,
		"usedCredits":      0.7,
		"remainingCredits": 82.85,
	})
	return replyJSON(http.StatusCreated, body)
}

// brevoStatuses are Brevo's msg_status for each DLR status.
var brevoStatuses = map[string]string{
	DLRAccepted:    "sent",
	DLRSent:        "sent",
	DLRDelivered:   "delivered",
	DLRUndelivered: "hard_bounce",
	DLRFailed:      "rejected",
}

func brevoRequest(ctx context.Context, url string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error) {
	word, ok := brevoStatuses[d.Status]
	if !ok {
		return nil, fmt.Errorf("smstest: brevo: unknown DLR status %q", d.Status)
	}
	body, err := json.Marshal(map[string]any{
		"id":               26570,
		"to":               strings.TrimPrefix(d.To, "+"),
		"sms_count":        1,
		"credits_used":     1.5,
		"messageId":        numericOrStringID(d.MessageID),
		"remaining_credit": 11488.845,
		"msg_status":       word,
		"date":             brevoParisTime(d.Time).Format("2006-01-02 15:04:05"),
		"type":             "transactional",
		"reference":        "ab1cde2fgh3i4jklmno",
	})
	if err != nil {
		return nil, err
	}
	req, err := newUnsignedCallback(ctx, http.MethodPost, url, c, "application/json", body)
	if err == nil && c.Secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.Secret)
	}
	return req, err
}

// brevoParisTime returns t's wall clock in Paris, labelled UTC: CEST
// (UTC+2) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
// last Sunday of October, else CET (UTC+1).
func brevoParisTime(t time.Time) time.Time {
	t = t.UTC()
	lastSunday := func(m time.Month) time.Time {
		last := time.Date(t.Year(), m+1, 0, 1, 0, 0, 0, time.UTC)
		return last.AddDate(0, 0, -int(last.Weekday()))
	}
	if !t.Before(lastSunday(time.March)) && t.Before(lastSunday(time.October)) {
		return t.Add(2 * time.Hour)
	}
	return t.Add(time.Hour)
}
