package smstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Plivo posts a message status callback as a form, signed with its V3
// signature: X-Plivo-Signature-V3 and X-Plivo-Signature-Ma-V3, each the
// base64 HMAC-SHA256 (Auth Token) of the URL without its query, "?", the
// URL's query sorted as "name=value&..." and "." when it has one, the
// form's parameters sorted as "namevalue...", "." and
// X-Plivo-Signature-V3-Nonce (plivo-go's ComputeSignatureV3). It also sends
// the older V2 headers (HMAC of the URL without query and the nonce).
func init() {
	registerReceiptProvider("plivo", receiptProvider{
		reply: func(id string) Reply {
			return Reply{
				Status: http.StatusAccepted,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   `{"api_id":"db342550-e462-11e9-b9f1-0242ac110003","message":"message(s) queued","message_uuid":["` + id + `"]}`,
			}
		},
		request: plivoReceipt,
	})
}

func plivoReceipt(ctx context.Context, u string, c ReceiptCredentials, d DLR, _ time.Time) (*http.Request, error) {
	at := d.Time.UTC().Format("2006-01-02 15:04:05.000000")
	form := url.Values{
		"MessageUUID":        {d.MessageID},
		"ParentMessageUUID":  {d.MessageID},
		"To":                 {strings.TrimPrefix(d.To, "+")},
		"From":               {"12065550110"},
		"Type":               {"sms"},
		"Status":             {cbWord(d.Status, map[string]string{DLRAccepted: "queued"})},
		"Units":              {"1"},
		"TotalRate":          {"0.0050"},
		"TotalAmount":        {"0.0050"},
		"MCC":                {"310"},
		"MNC":                {"410"},
		"PartInfo":           {"1 of 1"},
		"Sequence":           {"1"},
		"MessageTime":        {at},
		"QueuedTime":         {at},
		"SentTime":           {at},
		"DeliveryReportTime": {at},
	}
	if d.ErrorCode != "" {
		form.Set("ErrorCode", d.ErrorCode)
	}
	p, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	base := p.Scheme + "://" + p.Host + p.Path
	signed := base + "?"
	if p.RawQuery != "" {
		q := p.Query()
		names := make([]string, 0, len(q))
		for n := range q {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, n := range names {
			if i > 0 {
				signed += "&"
			}
			signed += n + "=" + q.Get(n)
		}
		signed += "."
	}
	names := make([]string, 0, len(form))
	for n := range form {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		signed += n + form.Get(n)
	}
	nonce := cbNonce(10)
	sign := func(data string) string {
		mac := hmac.New(sha256.New, []byte(c.Secret))
		mac.Write([]byte(data))
		return base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	req, err := cbForm(ctx, u, form)
	if err != nil {
		return nil, err
	}
	v3 := sign(signed + "." + nonce)
	req.Header.Set("X-Plivo-Signature-V3", v3)
	req.Header.Set("X-Plivo-Signature-Ma-V3", v3)
	req.Header.Set("X-Plivo-Signature-V3-Nonce", nonce)
	v2 := sign(base + nonce)
	req.Header.Set("X-Plivo-Signature-V2", v2)
	req.Header.Set("X-Plivo-Signature-Ma-V2", v2)
	req.Header.Set("X-Plivo-Signature-V2-Nonce", nonce)
	return req, nil
}
