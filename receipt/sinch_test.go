package receipt_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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

const sinchSecret = "sinch-hmac-secret-0123456789"

func TestSinchDocumentedSignature(t *testing.T) {
	// Sinch's SMS documentation has no signed example. This is the vector
	// of Sinch's SDKs for the same scheme (Conversation API callbacks),
	// verbatim: sinch-sdk-java
	// client/src/test/java/com/sinch/sdk/domains/conversation/api/v1/adapters/ConversationWebhooksAuthenticationValidationTest.java
	// and sinch-sdk-dotnet Sinch.Tests/Conversation/WebhooksTests.cs. Its
	// body is a contact notification: authentic, no delivery report.
	const (
		body      = `{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34-a71b-4448-9db5-a8d2baad28e4","contact_create_notification":{"contact":{"id":"01FJA8B466Y0R2GNXD78MD9SM1","channel_identities":[{"channel":"SMS","identity":"48123456789","app_id":""}],"display_name":"New Test Contact","email":"new.contact@email.com","external_id":"","metadata":"","language":"EN_US"}},"message_metadata":""}`
		secret    = "foo_secret1234"
		nonce     = "01FJA8B4A7BM43YGWSG9GBV067"
		timestamp = "1634579353"
		signature = "6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE="
	)
	at := time.Unix(1634579353, 0)
	v, err := receipt.Sinch(receipt.SinchOptions{Secret: secret})
	require.NoError(t, err)
	request := func(body, sig, nonce, ts, alg string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/receipts/sinch", nil)
		r.Header.Set("x-sinch-webhook-signature", sig)
		r.Header.Set("x-sinch-webhook-signature-nonce", nonce)
		r.Header.Set("x-sinch-webhook-signature-timestamp", ts)
		if alg != "" {
			r.Header.Set("x-sinch-webhook-signature-algorithm", alg)
		}
		return r
	}
	for _, tc := range []struct {
		name                 string
		body, sig, nonce, ts string
		alg                  string
		now                  time.Time
		wantUnauth           bool
	}{
		{name: "the vector", body: body, sig: signature, nonce: nonce, ts: timestamp, alg: "HmacSHA256", now: at},
		{name: "the vector without the algorithm header", body: body, sig: signature, nonce: nonce, ts: timestamp, now: at},
		{name: "one byte of the body changed", body: string(flipByte([]byte(body), 10)), sig: signature, nonce: nonce, ts: timestamp, now: at, wantUnauth: true},
		{name: "signature changed", body: body, sig: rtFlip(signature, 0), nonce: nonce, ts: timestamp, now: at, wantUnauth: true},
		{name: "another nonce", body: body, sig: signature, nonce: "01FJA8B4A7BM43YGWSG9GBV068", ts: timestamp, now: at, wantUnauth: true},
		{name: "another timestamp", body: body, sig: signature, nonce: nonce, ts: "1634579354", now: at, wantUnauth: true},
		{name: "another algorithm", body: body, sig: signature, nonce: nonce, ts: timestamp, alg: "HmacSHA512", now: at, wantUnauth: true},
		{name: "outside the replay window", body: body, sig: signature, nonce: nonce, ts: timestamp, now: at.Add(receipt.DefaultReplayWindow + time.Second), wantUnauth: true},
		{name: "no signature", body: body, nonce: nonce, ts: timestamp, now: at, wantUnauth: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(request(tc.body, tc.sig, tc.nonce, tc.ts, tc.alg), []byte(tc.body), tc.now)
			if tc.wantUnauth {
				assert.ErrorIs(t, err, receipt.ErrUnauthenticated)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, got)
		})
	}
	wrong, err := receipt.Sinch(receipt.SinchOptions{Secret: "foo_secret1235"})
	require.NoError(t, err)
	_, err = wrong.Verify(request(body, signature, nonce, timestamp, ""), []byte(body), at)
	assert.ErrorIs(t, err, receipt.ErrUnauthenticated, "wrong secret")
}

func TestSinchRoundTrip(t *testing.T) {
	v, err := receipt.Sinch(receipt.SinchOptions{Secret: sinchSecret})
	require.NoError(t, err)
	rtRoundTrip(t, v, smstest.ReceiptCredentials{Secret: sinchSecret}, postNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: "01W4FFL35P4NC4K35SMSBATCH9", Status: smstest.DLRDelivered, Time: dlrTime, To: "+12017777777"},
			want: receipt.Receipt{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCH9", Status: receipt.StatusDelivered, ProviderStatus: "Delivered", Time: dlrTime},
		},
		{
			name: "undelivered with a code",
			dlr:  smstest.DLR{MessageID: "01W4FFL35P4NC4K35SMSBATCHA", Status: smstest.DLRUndelivered, ErrorCode: "406", Time: dlrTime, To: "+12017777777"},
			want: receipt.Receipt{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCHA", Status: receipt.StatusUndelivered, ProviderStatus: "Failed", ErrorCode: "406", Time: dlrTime},
		},
		{
			name: "failed with a code",
			dlr:  smstest.DLR{MessageID: "01W4FFL35P4NC4K35SMSBATCHB", Status: smstest.DLRFailed, ErrorCode: "412", Time: dlrTime, To: "+12010000000"},
			want: receipt.Receipt{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCHB", Status: receipt.StatusFailed, ProviderStatus: "Aborted", ErrorCode: "412", Time: dlrTime},
		},
		{
			name: "dispatched",
			dlr:  smstest.DLR{MessageID: "01W4FFL35P4NC4K35SMSBATCHC", Status: smstest.DLRSent, Time: dlrTime, To: "+12017777777"},
			want: receipt.Receipt{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCHC", Status: receipt.StatusSent, ProviderStatus: "Dispatched", Time: dlrTime},
		},
	})
}

func TestSinchRefusesTamperedCallbacks(t *testing.T) {
	v, err := receipt.Sinch(receipt.SinchOptions{Secret: sinchSecret})
	require.NoError(t, err)
	dlr := smstest.DLR{MessageID: "01W4FFL35P4NC4K35SMSBATCH9", Status: smstest.DLRDelivered, Time: dlrTime, To: "+12017777777"}
	for _, tc := range []struct {
		name   string
		creds  smstest.ReceiptCredentials
		postAt time.Time
		tamper func(h http.Header, body []byte) []byte
	}{
		{name: "one byte of the body", creds: smstest.ReceiptCredentials{Secret: sinchSecret}, postAt: postNow,
			tamper: func(_ http.Header, b []byte) []byte { return flipByte(b, 20) }},
		{name: "one byte of the signature", creds: smstest.ReceiptCredentials{Secret: sinchSecret}, postAt: postNow,
			tamper: func(h http.Header, b []byte) []byte {
				h.Set("X-Sinch-Webhook-Signature", rtFlip(h.Get("X-Sinch-Webhook-Signature"), 0))
				return b
			}},
		{name: "the timestamp", creds: smstest.ReceiptCredentials{Secret: sinchSecret}, postAt: postNow,
			tamper: func(h http.Header, b []byte) []byte {
				h.Set("X-Sinch-Webhook-Signature-Timestamp", strconv.FormatInt(postNow.Unix()-1, 10))
				return b
			}},
		{name: "the nonce", creds: smstest.ReceiptCredentials{Secret: sinchSecret}, postAt: postNow,
			tamper: func(h http.Header, b []byte) []byte {
				h.Set("X-Sinch-Webhook-Signature-Nonce", "another-nonce")
				return b
			}},
		{name: "no signature", creds: smstest.ReceiptCredentials{Secret: sinchSecret}, postAt: postNow,
			tamper: func(h http.Header, b []byte) []byte {
				h.Del("X-Sinch-Webhook-Signature")
				return b
			}},
		{name: "a wrong secret", creds: smstest.ReceiptCredentials{Secret: sinchSecret + "x"}, postAt: postNow},
		{name: "a stale timestamp", creds: smstest.ReceiptCredentials{Secret: sinchSecret}, postAt: postNow.Add(-receipt.DefaultReplayWindow - time.Second)},
		{name: "a timestamp from the future", creds: smstest.ReceiptCredentials{Secret: sinchSecret}, postAt: postNow.Add(receipt.DefaultReplayWindow + time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveVerifier(t, v, postNow)
			req, err := srv.poster(t, "sinch", tc.creds, tc.postAt).Request(context.Background(), dlr)
			require.NoError(t, err)
			if tc.tamper != nil {
				req = rebuilt(t, req, tc.tamper)
			}
			assert.Equal(t, http.StatusUnauthorized, rtDo(t, req))
			assert.Empty(t, srv.log.all())
		})
	}
}

func TestSinchReplayWindowOption(t *testing.T) {
	v, err := receipt.Sinch(receipt.SinchOptions{Secret: sinchSecret, ReplayWindow: time.Hour})
	require.NoError(t, err)
	srv := serveVerifier(t, v, postNow)
	dlr := smstest.DLR{MessageID: "01W4FFL35P4NC4K35SMSBATCH9", Status: smstest.DLRDelivered, Time: dlrTime}
	status, err := srv.poster(t, "sinch", smstest.ReceiptCredentials{Secret: sinchSecret}, postNow.Add(-30*time.Minute)).Post(context.Background(), dlr)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Len(t, srv.log.all(), 1)
}

func TestSinchSharedAuth(t *testing.T) {
	const token = "sinch-path-token-0123456789"
	for _, tc := range []struct {
		name  string
		opts  receipt.SinchOptions
		creds smstest.ReceiptCredentials
		want  int
	}{
		{name: "token", opts: receipt.SinchOptions{Auth: receipt.SharedAuth{Token: token}}, creds: smstest.ReceiptCredentials{Token: token}, want: http.StatusOK},
		{name: "wrong token", opts: receipt.SinchOptions{Auth: receipt.SharedAuth{Token: token}}, creds: smstest.ReceiptCredentials{Token: token + "x"}, want: http.StatusUnauthorized},
		{name: "basic", opts: receipt.SinchOptions{Auth: receipt.SharedAuth{User: "sinch", Password: token}}, creds: smstest.ReceiptCredentials{User: "sinch", Password: token}, want: http.StatusOK},
		{name: "token and HMAC", opts: receipt.SinchOptions{Secret: sinchSecret, Auth: receipt.SharedAuth{Token: token}}, creds: smstest.ReceiptCredentials{Secret: sinchSecret, Token: token}, want: http.StatusOK},
		{name: "token without the HMAC both need", opts: receipt.SinchOptions{Secret: sinchSecret, Auth: receipt.SharedAuth{Token: token}}, creds: smstest.ReceiptCredentials{Token: token}, want: http.StatusUnauthorized},
		{name: "HMAC without the token both need", opts: receipt.SinchOptions{Secret: sinchSecret, Auth: receipt.SharedAuth{Token: token}}, creds: smstest.ReceiptCredentials{Secret: sinchSecret}, want: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Sinch(tc.opts)
			require.NoError(t, err)
			postAuth(t, v, tc.creds, smstest.DLR{MessageID: "b1", Status: smstest.DLRDelivered}, tc.want)
		})
	}
}

func TestSinchOptionsValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts receipt.SinchOptions
	}{
		{name: "nothing", opts: receipt.SinchOptions{}},
		{name: "a short token", opts: receipt.SinchOptions{Auth: receipt.SharedAuth{Token: "short"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receipt.Sinch(tc.opts)
			assert.Error(t, err)
		})
	}
}

// sinchSigned returns a POST of body to the Sinch receipt path, signed
// with sinchSecret at now.
func sinchSigned(body string, now time.Time) *http.Request {
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(sinchSecret))
	mac.Write([]byte(body + ".n." + ts))
	r := httptest.NewRequest(http.MethodPost, "/receipts/sinch", nil)
	r.Header.Set("X-Sinch-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	r.Header.Set("X-Sinch-Webhook-Signature-Nonce", "n")
	r.Header.Set("X-Sinch-Webhook-Signature-Timestamp", ts)
	return r
}

func TestSinchCallbacks(t *testing.T) {
	v, err := receipt.Sinch(receipt.SinchOptions{Secret: sinchSecret})
	require.NoError(t, err)
	operatorAt := time.Date(2024, 6, 6, 8, 17, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		body    string
		want    []receipt.Receipt
		wantErr error
	}{
		{
			// The values of Sinch's SDK test event for a recipient delivery
			// report (sinch-sdk-node packages/sms/tests/rest/v1/callbacks/webhooks-events.steps.ts).
			name: "recipient delivery report",
			body: `{"at":"2024-06-06T08:17:19.210Z","batch_id":"01W4FFL35P4NC4K35SMSBATCH9","client_reference":"client-ref","code":0,"operator_status_at":"2024-06-06T08:17:00Z","recipient":"12017777777","status":"Delivered","type":"recipient_delivery_report_sms"}`,
			want: []receipt.Receipt{{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCH9", Status: receipt.StatusDelivered, ProviderStatus: "Delivered", Time: operatorAt}},
		},
		{
			name: "recipient delivery report without operator_status_at",
			body: `{"at":"2024-06-06T08:17:15.603Z","batch_id":"01W4FFL35P4NC4K35SMSBATCH9","client_reference":"client-ref","code":412,"recipient":"12010000000","status":"Aborted","type":"recipient_delivery_report_sms"}`,
			want: []receipt.Receipt{{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCH9", Status: receipt.StatusFailed, ProviderStatus: "Aborted", ErrorCode: "412", Time: time.Date(2024, 6, 6, 8, 17, 15, 603e6, time.UTC)}},
		},
		{
			name: "batch delivery report",
			body: `{"batch_id":"01W4FFL35P4NC4K35SMSBATCH8","client_reference":"client-ref","statuses":[{"code":0,"count":2,"recipients":["12017777777","33612345678"],"status":"Delivered"},{"code":402,"count":1,"recipients":["12010000000"],"status":"Failed"}],"total_message_count":3,"type":"delivery_report_sms"}`,
			want: []receipt.Receipt{
				{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCH8", Status: receipt.StatusDelivered, ProviderStatus: "Delivered", Time: postNow},
				{Provider: "sinch", MessageID: "01W4FFL35P4NC4K35SMSBATCH8", Status: receipt.StatusUndelivered, ProviderStatus: "Failed", ErrorCode: "402", Time: postNow},
			},
		},
		{
			name: "inbound message",
			body: `{"body":"Hello John!","from":"12015555555","id":"01W4FFL35P4NC4K35SMSBATCH8","operator_id":"311071","received_at":"2024-06-06T07:52:37.386Z","to":"12017777777","type":"mo_text"}`,
		},
		{name: "not JSON", body: `delivered`, wantErr: receipt.ErrMalformed},
		{name: "no batch id", body: `{"type":"recipient_delivery_report_sms","status":"Delivered"}`, wantErr: receipt.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkVerify(t, v, sinchSigned(tc.body, postNow), tc.body, tc.want, tc.wantErr)
		})
	}
}

func TestSinchStatuses(t *testing.T) {
	v, err := receipt.Sinch(receipt.SinchOptions{Secret: sinchSecret})
	require.NoError(t, err)
	for word, want := range map[string]receipt.Status{
		"Queued":     receipt.StatusAccepted,
		"Dispatched": receipt.StatusSent,
		"Unknown":    receipt.StatusSent,
		"Delivered":  receipt.StatusDelivered,
		"Rejected":   receipt.StatusUndelivered,
		"Deleted":    receipt.StatusUndelivered,
		"Failed":     receipt.StatusUndelivered,
		"Aborted":    receipt.StatusFailed,
		"Cancelled":  receipt.StatusFailed,
		"Expired":    receipt.StatusFailed,
		"Teleported": receipt.StatusUnknown,
	} {
		t.Run(word, func(t *testing.T) {
			body := `{"type":"recipient_delivery_report_sms","batch_id":"b1","status":"` + word + `","code":0}`
			got, err := v.Verify(sinchSigned(body, postNow), []byte(body), postNow)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
		})
	}
}

func TestSinchPresetReply(t *testing.T) {
	assert.Equal(t, "01FC66621XXXXX119Z8PMV1QPQ", rtPresetID(t, "sinch", "01FC66621XXXXX119Z8PMV1QPQ"))
}
