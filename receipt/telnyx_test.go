package receipt_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// Telnyx's docs
// (https://developers.telnyx.com/docs/development/api-fundamentals/webhooks)
// give no example key, payload and signature: the tests make their own key
// pairs.

// telnyxKey returns a fixed key pair: seed byte b repeated.
func telnyxKey(b byte) (ed25519.PrivateKey, string) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	return priv, base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
}

func TestTelnyxRoundTrip(t *testing.T) {
	priv, pub := telnyxKey(1)
	v, err := receipt.Telnyx(pub, receipt.TelnyxOptions{})
	require.NoError(t, err)
	at := time.Date(2026, 5, 4, 12, 28, 1, 588e6, time.UTC)
	id := "40385f64-5717-4562-b3fc-2c963f66afa6"
	rtRoundTrip(t, v, smstest.ReceiptCredentials{PrivateKey: priv}, rtNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRDelivered, To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "telnyx", MessageID: id, Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: at},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRUndelivered, ErrorCode: "40008", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "telnyx", MessageID: id, Status: receipt.StatusUndelivered, ProviderStatus: "delivery_failed", ErrorCode: "40008", Time: at},
		},
		{
			name: "failed with an error code",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRFailed, ErrorCode: "40300", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "telnyx", MessageID: id, Status: receipt.StatusFailed, ProviderStatus: "sending_failed", ErrorCode: "40300", Time: at},
		},
		{
			name: "sent (message.sent)",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRSent, To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "telnyx", MessageID: id, Status: receipt.StatusSent, ProviderStatus: "sent", Time: at},
		},
	})
}

func TestTelnyxTamper(t *testing.T) {
	priv, pub := telnyxKey(1)
	other, _ := telnyxKey(2)
	v, err := receipt.Telnyx(pub, receipt.TelnyxOptions{})
	require.NoError(t, err)
	rtTamper(t, v, smstest.ReceiptCredentials{PrivateKey: priv}, smstest.ReceiptCredentials{PrivateKey: other}, true, rtFlipHeader("Telnyx-Signature-Ed25519"))

	// The signature covers the timestamp: one moved into the window with
	// the old signature is refused.
	srv := serveVerifier(t, v, rtNow)
	req, err := srv.poster(t, "telnyx", smstest.ReceiptCredentials{PrivateKey: priv}, rtNow.Add(-time.Hour)).Request(context.Background(), smstest.DLR{MessageID: "m1", Status: smstest.DLRDelivered})
	require.NoError(t, err)
	req.Header.Set("Telnyx-Timestamp", strconv.FormatInt(rtNow.Unix(), 10))
	assert.Equal(t, http.StatusUnauthorized, rtDo(t, req))
	assert.Empty(t, srv.log.all())
}

func TestTelnyxReplayWindowOption(t *testing.T) {
	priv, pub := telnyxKey(1)
	for _, tc := range []struct {
		window time.Duration
		want   int
	}{{window: 0, want: http.StatusUnauthorized}, {window: 15 * time.Minute, want: http.StatusOK}} {
		v, err := receipt.Telnyx(pub, receipt.TelnyxOptions{ReplayWindow: tc.window})
		require.NoError(t, err)
		srv := serveVerifier(t, v, rtNow)
		status, err := srv.poster(t, "telnyx", smstest.ReceiptCredentials{PrivateKey: priv}, rtNow.Add(-10*time.Minute)).Post(context.Background(), smstest.DLR{MessageID: "m1", Status: smstest.DLRDelivered})
		require.NoError(t, err)
		assert.Equal(t, tc.want, status, "window %v", tc.window)
	}
}

func TestTelnyxStatusMapping(t *testing.T) {
	cases := map[string]receipt.Status{
		"queued": receipt.StatusAccepted, "sending": receipt.StatusAccepted, "sent": receipt.StatusSent,
		"delivered": receipt.StatusDelivered, "sending_failed": receipt.StatusFailed, "delivery_failed": receipt.StatusUndelivered,
		"expired": receipt.StatusUndelivered, "delivery_unconfirmed": receipt.StatusUnknown, "brand-new": receipt.StatusUnknown,
	}
	priv, pub := telnyxKey(1)
	v, err := receipt.Telnyx(pub, receipt.TelnyxOptions{})
	require.NoError(t, err)
	for word, want := range cases {
		t.Run(word, func(t *testing.T) {
			srv := serveVerifier(t, v, rtNow)
			status, err := srv.poster(t, "telnyx", smstest.ReceiptCredentials{PrivateKey: priv}, rtNow).Post(context.Background(), smstest.DLR{MessageID: "m1", Status: word})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			got := srv.log.all()
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
		})
	}
}

func TestTelnyxOtherEvents(t *testing.T) {
	priv, pub := telnyxKey(1)
	v, err := receipt.Telnyx(pub, receipt.TelnyxOptions{})
	require.NoError(t, err)
	for _, body := range []string{
		`{"data":{"event_type":"message.received","id":"e1","occurred_at":"2026-05-04T12:28:00Z","payload":{"id":"m1","direction":"inbound","text":"hi","to":[{"phone_number":"+12065550110","status":"webhook_delivered"}]}}}`,
		`{"data":{"event_type":"message.finalized","payload":{"to":[{"status":"delivered"}]}}}`,
	} {
		ts := strconv.FormatInt(rtNow.Unix(), 10)
		r := httptest.NewRequest(http.MethodPost, "http://example.com/receipts/telnyx", nil)
		r.Header.Set("Telnyx-Timestamp", ts)
		r.Header.Set("Telnyx-Signature-Ed25519", base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(ts+"|"+body))))
		got, err := v.Verify(r, []byte(body), rtNow)
		require.NoError(t, err)
		assert.Empty(t, got)
	}
}

func TestTelnyxConstructor(t *testing.T) {
	priv, pub := telnyxKey(1)
	spki := append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}, priv.Public().(ed25519.PublicKey)...)
	cases := []struct {
		name, key string
		ok        bool
	}{
		{name: "raw 32 bytes", key: pub, ok: true},
		{name: "SubjectPublicKeyInfo", key: base64.StdEncoding.EncodeToString(spki), ok: true},
		{name: "not base64", key: "not base64!"},
		{name: "too short", key: base64.StdEncoding.EncodeToString([]byte("short"))},
		{name: "empty", key: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Telnyx(tc.key, receipt.TelnyxOptions{})
			if !tc.ok {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			srv := serveVerifier(t, v, rtNow)
			status, err := srv.poster(t, "telnyx", smstest.ReceiptCredentials{PrivateKey: priv}, rtNow).Post(context.Background(), smstest.DLR{MessageID: "m1", Status: smstest.DLRDelivered})
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
			assert.Len(t, srv.log.all(), 1)
		})
	}
}

func TestTelnyxPresetReply(t *testing.T) {
	assert.Equal(t, "40385f64-5717-4562-b3fc-2c963f66afa6", rtPresetID(t, "telnyx", "40385f64-5717-4562-b3fc-2c963f66afa6"))
}
