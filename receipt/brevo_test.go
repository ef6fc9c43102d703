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

	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// Brevo signs nothing: its webhooks carry a bearer token or basic
// credentials (or a path token), so there is no signature to tamper with,
// only credentials to get wrong.
const brevoBearer = "brevo-bearer-token-0123456789"

func brevoRequest(body, bearer string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/receipts/brevo", strings.NewReader(body))
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	return r
}

func TestBrevoDocumentedEvent(t *testing.T) {
	// The fields of the transactional SMS example that Brevo's page shows,
	// verbatim (the page's example goes on with date, type and reference):
	// https://developers.brevo.com/docs/transactional-webhooks
	const body = `{
"id": 26570,
"to": "918076001713",
"sms_count": 1,
"credits_used": 1.5,
"messageId": 123,
"remaining_credit": 11488.845,
"msg_status": "sent"
}`
	v, err := receipt.Brevo(receipt.BrevoOptions{BearerToken: brevoBearer})
	require.NoError(t, err)
	got, err := v.Verify(brevoRequest(body, brevoBearer), []byte(body), postNow)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, body, string(got[0].Raw))
	got[0].Raw = nil
	assert.Equal(t, receipt.Receipt{Provider: "brevo", MessageID: "123", Status: receipt.StatusSent, ProviderStatus: "sent", Time: postNow}, got[0])
}

func TestBrevoRoundTrip(t *testing.T) {
	const token = "brevo-path-token-0123456789"
	v, err := receipt.Brevo(receipt.BrevoOptions{BearerToken: brevoBearer, Auth: receipt.SharedAuth{User: "brevo", Password: token, Token: token}})
	require.NoError(t, err)
	winter := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		creds smstest.ReceiptCredentials
		dlr   smstest.DLR
		want  receipt.Receipt
	}{
		{
			name:  "delivered, bearer token, summer time",
			creds: smstest.ReceiptCredentials{Secret: brevoBearer},
			dlr:   smstest.DLR{MessageID: "1511882900176220", Status: smstest.DLRDelivered, Time: dlrTime, To: "+918076001713"},
			want:  receipt.Receipt{Provider: "brevo", MessageID: "1511882900176220", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: dlrTime},
		},
		{
			name:  "undelivered, basic credentials, winter time",
			creds: smstest.ReceiptCredentials{User: "brevo", Password: token},
			dlr:   smstest.DLR{MessageID: "1511882900176221", Status: smstest.DLRUndelivered, ErrorCode: "ignored", Time: winter},
			want:  receipt.Receipt{Provider: "brevo", MessageID: "1511882900176221", Status: receipt.StatusUndelivered, ProviderStatus: "hard_bounce", Time: winter},
		},
		{
			name:  "failed, path token",
			creds: smstest.ReceiptCredentials{Token: token},
			dlr:   smstest.DLR{MessageID: "1511882900176222", Status: smstest.DLRFailed, Time: dlrTime},
			want:  receipt.Receipt{Provider: "brevo", MessageID: "1511882900176222", Status: receipt.StatusFailed, ProviderStatus: "rejected", Time: dlrTime},
		},
		{
			name:  "sent",
			creds: smstest.ReceiptCredentials{Secret: brevoBearer},
			dlr:   smstest.DLR{MessageID: "1511882900176223", Status: smstest.DLRSent, Time: dlrTime},
			want:  receipt.Receipt{Provider: "brevo", MessageID: "1511882900176223", Status: receipt.StatusSent, ProviderStatus: "sent", Time: dlrTime},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveVerifier(t, v, postNow)
			status, err := srv.poster(t, "brevo", tc.creds, postNow).Post(context.Background(), tc.dlr)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
			got := srv.log.all()
			require.Len(t, got, 1)
			assert.Contains(t, string(got[0].Raw), `"messageId":`+tc.dlr.MessageID)
			got[0].Raw = nil
			got[0].Time = got[0].Time.UTC()
			assert.Equal(t, tc.want, got[0])
		})
	}
}

func TestBrevoRefusesWrongCredentials(t *testing.T) {
	const token = "brevo-path-token-0123456789"
	dlr := smstest.DLR{MessageID: "1511882900176220", Status: smstest.DLRDelivered, Time: dlrTime}
	for _, tc := range []struct {
		name  string
		opts  receipt.BrevoOptions
		creds smstest.ReceiptCredentials
	}{
		{name: "a wrong bearer token", opts: receipt.BrevoOptions{BearerToken: brevoBearer}, creds: smstest.ReceiptCredentials{Secret: brevoBearer + "x"}},
		{name: "no bearer token", opts: receipt.BrevoOptions{BearerToken: brevoBearer}},
		{name: "basic credentials where a bearer token is expected", opts: receipt.BrevoOptions{BearerToken: brevoBearer}, creds: smstest.ReceiptCredentials{User: "brevo", Password: brevoBearer}},
		{name: "a wrong password", opts: receipt.BrevoOptions{Auth: receipt.SharedAuth{User: "brevo", Password: token}}, creds: smstest.ReceiptCredentials{User: "brevo", Password: token + "x"}},
		{name: "a wrong path token", opts: receipt.BrevoOptions{Auth: receipt.SharedAuth{Token: token}}, creds: smstest.ReceiptCredentials{Token: token + "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Brevo(tc.opts)
			require.NoError(t, err)
			postAuth(t, v, tc.creds, dlr, http.StatusUnauthorized)
		})
	}
}

func TestBrevoEvents(t *testing.T) {
	v, err := receipt.Brevo(receipt.BrevoOptions{BearerToken: brevoBearer})
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		body    string
		want    []receipt.Receipt
		wantErr error
	}{
		{
			name: "Paris winter time",
			body: `{"messageId":7,"msg_status":"delivered","date":"2025-01-15 10:00:00"}`,
			want: []receipt.Receipt{{Provider: "brevo", MessageID: "7", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)}},
		},
		{
			name: "Paris summer time",
			body: `{"messageId":7,"msg_status":"delivered","date":"2025-07-15 10:00:00"}`,
			want: []receipt.Receipt{{Provider: "brevo", MessageID: "7", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: time.Date(2025, 7, 15, 8, 0, 0, 0, time.UTC)}},
		},
		{
			name: "the last hour of summer time",
			body: `{"messageId":7,"msg_status":"delivered","date":"2025-10-26 02:30:00"}`,
			want: []receipt.Receipt{{Provider: "brevo", MessageID: "7", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: time.Date(2025, 10, 26, 0, 30, 0, 0, time.UTC)}},
		},
		{
			name: "the first hour of winter time",
			body: `{"messageId":7,"msg_status":"delivered","date":"2025-10-26 03:00:00"}`,
			want: []receipt.Receipt{{Provider: "brevo", MessageID: "7", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: time.Date(2025, 10, 26, 2, 0, 0, 0, time.UTC)}},
		},
		{
			name: "a date with a zone",
			body: `{"messageId":"7","msg_status":"soft_bounce","date":"2025-07-15T10:00:00+02:00"}`,
			want: []receipt.Receipt{{Provider: "brevo", MessageID: "7", Status: receipt.StatusUndelivered, ProviderStatus: "soft_bounce", Time: time.Date(2025, 7, 15, 8, 0, 0, 0, time.UTC)}},
		},
		{
			name: "a batch, a reply skipped",
			body: `[{"messageId":1,"msg_status":"sent"},{"messageId":1,"msg_status":"replied"},{"messageId":2,"event":"hardBounce"}]`,
			want: []receipt.Receipt{
				{Provider: "brevo", MessageID: "1", Status: receipt.StatusSent, ProviderStatus: "sent", Time: postNow},
				{Provider: "brevo", MessageID: "2", Status: receipt.StatusUndelivered, ProviderStatus: "hardBounce", Time: postNow},
			},
		},
		{name: "an email event", body: `{"email":"a@example.com","message-id":"<x@y>","ts":1604933619}`},
		{name: "not JSON", body: `sent`, wantErr: receipt.ErrMalformed},
		{name: "an SMS event without messageId", body: `{"msg_status":"delivered"}`, wantErr: receipt.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkVerify(t, v, brevoRequest(tc.body, brevoBearer), tc.body, tc.want, tc.wantErr)
		})
	}
}

func TestBrevoStatuses(t *testing.T) {
	v, err := receipt.Brevo(receipt.BrevoOptions{BearerToken: brevoBearer})
	require.NoError(t, err)
	for word, want := range map[string]receipt.Status{
		"sent":        receipt.StatusSent,
		"accepted":    receipt.StatusSent,
		"delivered":   receipt.StatusDelivered,
		"soft_bounce": receipt.StatusUndelivered,
		"softBounce":  receipt.StatusUndelivered,
		"hard_bounce": receipt.StatusUndelivered,
		"hardBounce":  receipt.StatusUndelivered,
		"rejected":    receipt.StatusFailed,
		"skip":        receipt.StatusFailed,
		"teleported":  receipt.StatusUnknown,
		"replied":     "",
		"unsubscribe": "",
		"subscribe":   "",
	} {
		t.Run(word, func(t *testing.T) {
			body := `{"messageId":1,"msg_status":"` + word + `"}`
			got, err := v.Verify(brevoRequest(body, brevoBearer), []byte(body), postNow)
			require.NoError(t, err)
			if want == "" {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
		})
	}
}

func TestBrevoOptionsValidated(t *testing.T) {
	for _, opts := range []receipt.BrevoOptions{{}, {BearerToken: "short"}, {Auth: receipt.SharedAuth{Token: "short"}}} {
		_, err := receipt.Brevo(opts)
		assert.Error(t, err)
	}
}

func TestBrevoPresetReply(t *testing.T) {
	assert.Equal(t, "1511882900176220", rtPresetID(t, "brevo", "1511882900176220"))
}
