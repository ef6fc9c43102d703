package smstest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Twilio posts a message status callback as a form, signed with
// X-Twilio-Signature: base64 HMAC-SHA1 (Auth Token) of the URL followed by
// the parameters' names and values in name order
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
func init() {
	registerReceiptProvider("twilio", receiptProvider{
		reply: func(id string) Reply {
			return Reply{
				Status: http.StatusCreated,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   `{"sid":"` + id + `","status":"queued","num_segments":"1","error_code":null}`,
			}
		},
		request: twilioReceipt,
	})
}

func twilioReceipt(ctx context.Context, u string, c ReceiptCredentials, d DLR, _ time.Time) (*http.Request, error) {
	word := cbWord(d.Status, map[string]string{DLRAccepted: "queued"})
	form := url.Values{
		"AccountSid":    {"AC00000000000000000000000000000000"},
		"ApiVersion":    {"2010-04-01"},
		"From":          {"+12065550110"},
		"MessageSid":    {d.MessageID},
		"SmsSid":        {d.MessageID},
		"MessageStatus": {word},
		"SmsStatus":     {word},
		"To":            {d.To},
	}
	if d.ErrorCode != "" {
		form.Set("ErrorCode", d.ErrorCode)
	}
	if word == "delivered" || word == "undelivered" {
		form.Set("RawDlrDoneDate", d.Time.UTC().Format("0601021504"))
	}
	names := make([]string, 0, len(form))
	for n := range form {
		names = append(names, n)
	}
	sort.Strings(names)
	signed := u
	for _, n := range names {
		signed += n + form.Get(n)
	}
	mac := hmac.New(sha1.New, []byte(c.Secret))
	mac.Write([]byte(signed))
	req, err := cbForm(ctx, u, form)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req, nil
}

// cbWord returns the provider's word for a DLR status: words[status], or
// the status itself (the provider's own word or a DLR constant that is
// also the provider's).
func cbWord(status string, words map[string]string) string {
	if w, ok := words[status]; ok {
		return w
	}
	return status
}

// cbForm returns a POST of form to u.
func cbForm(ctx context.Context, u string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// cbJSON returns a POST of body, JSON, to u.
func cbJSON(ctx context.Context, u string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// cbNonce returns n random bytes in hex.
func cbNonce(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
