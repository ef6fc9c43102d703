package receipt_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// webhookExample is the scheme's example, computed outside Go:
//
//	printf '%s' '1777897800.{"message_id":"msg-1","status":"delivered","time":"2026-05-04T12:28:00Z"}' |
//	  openssl dgst -sha256 -hmac 'whsec-0123456789abcdef'
var webhookExample = struct {
	secret, body, header string
}{
	secret: "whsec-0123456789abcdef",
	body:   `{"message_id":"msg-1","status":"delivered","time":"2026-05-04T12:28:00Z"}`,
	header: "t=1777897800,v1=fcb2bceb6fd2e2683a410439a8d6e46d94922a4aa083668b2a44bc329ecf0d88",
}

func TestSignWebhookExample(t *testing.T) {
	assert.Equal(t, webhookExample.header, receipt.SignWebhook(smscourier.Secret(webhookExample.secret), []byte(webhookExample.body), rtNow))

	v, err := receipt.Webhook(smscourier.Secret(webhookExample.secret), receipt.WebhookOptions{})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "http://example.com/receipts/webhook", nil)
	r.Header.Set(receipt.WebhookSignatureHeader, webhookExample.header)
	got, err := v.Verify(r, []byte(webhookExample.body), rtNow)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, receipt.StatusDelivered, got[0].Status)
	assert.Equal(t, time.Date(2026, 5, 4, 12, 28, 0, 0, time.UTC), got[0].Time)
}

func TestWebhookRoundTrip(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "whsec-0123456789abcdef"}
	v, err := receipt.Webhook(smscourier.Secret(creds.Secret), receipt.WebhookOptions{})
	require.NoError(t, err)
	at := time.Date(2026, 5, 4, 12, 28, 1, 5e8, time.UTC)
	rtRoundTrip(t, v, creds, rtNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: "msg-1", Status: smstest.DLRDelivered, Time: at},
			want: receipt.Receipt{Provider: "webhook", MessageID: "msg-1", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: at},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: "msg-2", Status: smstest.DLRUndelivered, ErrorCode: "absent-subscriber", Time: at},
			want: receipt.Receipt{Provider: "webhook", MessageID: "msg-2", Status: receipt.StatusUndelivered, ProviderStatus: "undelivered", ErrorCode: "absent-subscriber", Time: at},
		},
		{
			name: "failed with an error code",
			dlr:  smstest.DLR{MessageID: "msg-3", Status: smstest.DLRFailed, ErrorCode: "E42", Time: at},
			want: receipt.Receipt{Provider: "webhook", MessageID: "msg-3", Status: receipt.StatusFailed, ProviderStatus: "failed", ErrorCode: "E42", Time: at},
		},
	})
}

func TestWebhookTamper(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "whsec-0123456789abcdef"}
	v, err := receipt.Webhook(smscourier.Secret(creds.Secret), receipt.WebhookOptions{})
	require.NoError(t, err)
	rtTamper(t, v, creds, smstest.ReceiptCredentials{Secret: "whsec-fedcba9876543210"}, true, func(t *testing.T, r *http.Request) {
		h := r.Header.Get(receipt.WebhookSignatureHeader)
		i := strings.Index(h, "v1=") + 3
		r.Header.Set(receipt.WebhookSignatureHeader, rtFlip(h, i))
	})
}

func TestWebhookSecretRotation(t *testing.T) {
	const oldS, newS, other = "whsec-old-0123456789", "whsec-new-0123456789", "whsec-xxx-0123456789"
	body := []byte(`{"message_id":"msg-1","status":"sent"}`)
	newSig := receipt.SignWebhook(newS, body, rtNow)
	oldSig := receipt.SignWebhook(oldS, body, rtNow)
	otherSig := receipt.SignWebhook(other, body, rtNow)
	v1 := func(h string) string { return h[strings.Index(h, "v1="):] }
	cases := []struct {
		name   string
		header string
		old    []smscourier.Secret
		ok     bool
	}{
		{name: "new secret", header: newSig, ok: true},
		{name: "old secret, not accepted", header: oldSig},
		{name: "old secret, accepted while rotating", header: oldSig, old: []smscourier.Secret{oldS}, ok: true},
		{name: "both signatures, new first", header: newSig + "," + v1(oldSig), ok: true},
		{name: "both signatures, old first", header: oldSig + "," + v1(newSig), ok: true},
		{name: "a wrong one and a garbled one", header: otherSig + ",v1=zz", old: []smscourier.Secret{oldS}},
		{name: "no v1", header: "t=1777897800"},
		{name: "no t", header: v1(newSig)},
		{name: "no header", header: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Webhook(newS, receipt.WebhookOptions{OldSecrets: tc.old})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodPost, "http://example.com/receipts/webhook", nil)
			r.Header.Set(receipt.WebhookSignatureHeader, tc.header)
			got, err := v.Verify(r, body, rtNow)
			if !tc.ok {
				assert.ErrorIs(t, err, receipt.ErrUnauthenticated)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, rtNow, got[0].Time, "no time: the arrival")
		})
	}
}

func TestWebhookBodies(t *testing.T) {
	const secret = "whsec-0123456789abcdef"
	v, err := receipt.Webhook(secret, receipt.WebhookOptions{})
	require.NoError(t, err)
	cases := []struct {
		name       string
		body       string
		wantStatus int
		want       receipt.Status
	}{
		{name: "accepted", body: `{"message_id":"m","status":"accepted"}`, wantStatus: http.StatusOK, want: receipt.StatusAccepted},
		{name: "sent", body: `{"message_id":"m","status":"sent"}`, wantStatus: http.StatusOK, want: receipt.StatusSent},
		{name: "unknown", body: `{"message_id":"m","status":"unknown"}`, wantStatus: http.StatusOK, want: receipt.StatusUnknown},
		{name: "another word", body: `{"message_id":"m","status":"DELIVRD"}`, wantStatus: http.StatusOK, want: receipt.StatusUnknown},
		{name: "a ping without message_id", body: `{}`, wantStatus: http.StatusOK},
		{name: "not JSON", body: `message_id=m`, wantStatus: http.StatusBadRequest},
		{name: "a time not RFC 3339", body: `{"message_id":"m","status":"sent","time":"yesterday"}`, wantStatus: http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveVerifier(t, v, rtNow)
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.url, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(receipt.WebhookSignatureHeader, receipt.SignWebhook(secret, []byte(tc.body), rtNow))
			assert.Equal(t, tc.wantStatus, rtDo(t, req))
			got := srv.log.all()
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, tc.want, got[0].Status)
		})
	}
}

func TestWebhookConstructor(t *testing.T) {
	_, err := receipt.Webhook("", receipt.WebhookOptions{})
	assert.Error(t, err)
	_, err = receipt.Webhook("short", receipt.WebhookOptions{})
	assert.Error(t, err)
	_, err = receipt.Webhook("whsec-0123456789abcdef", receipt.WebhookOptions{OldSecrets: []smscourier.Secret{"short"}})
	assert.Error(t, err)
}

func TestWebhookPresetReply(t *testing.T) {
	assert.Equal(t, "msg-42", rtPresetID(t, "webhook", "msg-42"))
}
