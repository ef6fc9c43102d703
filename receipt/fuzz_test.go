package receipt_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
)

// fuzzToken authenticates the fuzzed callbacks of providers that sign
// nothing, so that their parsers see every input.
const fuzzToken smscourier.Secret = "a-fuzzing-token-0123456789"

// FuzzReceiptParsers posts authentic callbacks with any body and content
// type to the providers whose parsers an authenticated caller reaches
// with any input: the webhook preset (signed here), and Infobip, Brevo
// and Textmagic (a path token). No input may panic, and every receipt
// read must name a message and carry a valid status.
func FuzzReceiptParsers(f *testing.F) {
	f.Add([]byte(`{"message_id":"m-1","status":"delivered","time":"2026-01-02T03:04:05Z"}`), "application/json")
	f.Add([]byte(`{"results":[{"messageId":"m-1","status":{"groupName":"DELIVERED"},"error":{"name":"NO_ERROR"}}]}`), "application/json")
	f.Add([]byte(`[{"msg_status":"delivered","messageId":1511882900176220,"date":"2026-01-02 03:04:05"}]`), "application/json")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"message_id\"\r\n\r\n42\r\n--b\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\nd\r\n--b--\r\n"), "multipart/form-data; boundary=b")
	f.Add([]byte("message_id=42&status=d&timestamp=1700000000"), "application/x-www-form-urlencoded")
	webhook, err := receipt.Webhook(fuzzToken, receipt.WebhookOptions{})
	if err != nil {
		f.Fatal(err)
	}
	shared := receipt.SharedAuth{Token: fuzzToken}
	infobip, err := receipt.Infobip(shared)
	if err != nil {
		f.Fatal(err)
	}
	brevo, err := receipt.Brevo(receipt.BrevoOptions{Auth: shared})
	if err != nil {
		f.Fatal(err)
	}
	textmagic, err := receipt.Textmagic(shared)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	var got []receipt.Receipt
	mux, err := receipt.NewMux("/r", receipt.SinkFunc(func(_ context.Context, rs []receipt.Receipt) error {
		got = append(got, rs...)
		return nil
	}), []receipt.Verifier{webhook, infobip, brevo, textmagic}, receipt.WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for _, path := range []string{"/r/webhook", "/r/infobip/" + string(fuzzToken), "/r/brevo/" + string(fuzzToken), "/r/textmagic/" + string(fuzzToken)} {
			got = got[:0]
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			req.Header.Set(receipt.WebhookSignatureHeader, receipt.SignWebhook(fuzzToken, body, now))
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("%s: status %d for an authentic callback", path, w.Code)
			}
			for _, r := range got {
				if r.MessageID == "" || !r.Status.Valid() || r.Time.IsZero() {
					t.Fatalf("%s: a receipt without a message id, a valid status or a time: %+v", path, r)
				}
			}
		}
	})
}
