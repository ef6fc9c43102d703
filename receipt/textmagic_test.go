package receipt_test

import (
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

// Textmagic documents its callback's fields and status codes but no
// example callback and no signature: there is no provider vector here, and
// no signature to tamper with, only credentials to get wrong.
const textmagicToken = "textmagic-path-token-0123456789"

func TestTextmagicRoundTrip(t *testing.T) {
	v, err := receipt.Textmagic(receipt.SharedAuth{Token: textmagicToken})
	require.NoError(t, err)
	rtRoundTrip(t, v, smstest.ReceiptCredentials{Token: textmagicToken}, postNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: "49576009", Status: smstest.DLRDelivered, Time: dlrTime, To: "+447860021130"},
			want: receipt.Receipt{Provider: "textmagic", MessageID: "49576009", Status: receipt.StatusDelivered, ProviderStatus: "d", Time: dlrTime},
		},
		{
			name: "undelivered",
			dlr:  smstest.DLR{MessageID: "49576010", Status: smstest.DLRUndelivered, ErrorCode: "ignored", Time: dlrTime},
			want: receipt.Receipt{Provider: "textmagic", MessageID: "49576010", Status: receipt.StatusUndelivered, ProviderStatus: "f", Time: dlrTime},
		},
		{
			name: "failed",
			dlr:  smstest.DLR{MessageID: "49576011", Status: smstest.DLRFailed, Time: dlrTime},
			want: receipt.Receipt{Provider: "textmagic", MessageID: "49576011", Status: receipt.StatusFailed, ProviderStatus: "e", Time: dlrTime},
		},
		{
			name: "sent",
			dlr:  smstest.DLR{MessageID: "49576012", Status: smstest.DLRSent, Time: dlrTime},
			want: receipt.Receipt{Provider: "textmagic", MessageID: "49576012", Status: receipt.StatusSent, ProviderStatus: "r", Time: dlrTime},
		},
	})
}

func TestTextmagicRefusesWrongCredentials(t *testing.T) {
	dlr := smstest.DLR{MessageID: "49576009", Status: smstest.DLRDelivered, Time: dlrTime}
	basic := receipt.SharedAuth{User: "textmagic", Password: textmagicToken}
	for _, tc := range []struct {
		name  string
		auth  receipt.SharedAuth
		creds smstest.ReceiptCredentials
		want  int
	}{
		{name: "basic credentials", auth: basic, creds: smstest.ReceiptCredentials{User: "textmagic", Password: textmagicToken}, want: http.StatusOK},
		{name: "a wrong password", auth: basic, creds: smstest.ReceiptCredentials{User: "textmagic", Password: "textmagic-path-token-0123456788"}, want: http.StatusUnauthorized},
		{name: "no credentials", auth: basic, want: http.StatusUnauthorized},
		{name: "a wrong token", auth: receipt.SharedAuth{Token: textmagicToken}, creds: smstest.ReceiptCredentials{Token: textmagicToken + "x"}, want: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Textmagic(tc.auth)
			require.NoError(t, err)
			postAuth(t, v, tc.creds, dlr, tc.want)
		})
	}
}

func TestTextmagicCallbacks(t *testing.T) {
	v, err := receipt.Textmagic(receipt.SharedAuth{Token: textmagicToken})
	require.NoError(t, err)
	at := time.Unix(1717664400, 0).UTC()
	for _, tc := range []struct {
		name, contentType, body string
		want                    []receipt.Receipt
		wantErr                 error
	}{
		{
			name: "urlencoded", contentType: "application/x-www-form-urlencoded",
			body: "message_id=49576009&timestamp=1717664400&status=d&credits_cost=1",
			want: []receipt.Receipt{{Provider: "textmagic", MessageID: "49576009", Status: receipt.StatusDelivered, ProviderStatus: "d", Time: at}},
		},
		{
			name: "JSON resource", contentType: "application/json",
			body: `{"id":49576009,"receiver":"447860021130","messageTime":"2024-06-06T09:00:00+0000","status":"j","text":"","charset":"ISO-8859-1","price":0.04,"partsCount":1}`,
			want: []receipt.Receipt{{Provider: "textmagic", MessageID: "49576009", Status: receipt.StatusUndelivered, ProviderStatus: "j", Time: postNow}},
		},
		{
			name: "inbound message", contentType: "application/json",
			body: `{"id":1782832,"sender":"447860021130","receiver":"447624800500","messageTime":"2012-11-28T18:38:28+0000","text":"Test reply"}`,
		},
		{name: "no message id", contentType: "application/x-www-form-urlencoded", body: "status=d", wantErr: receipt.ErrMalformed},
		{name: "broken JSON", contentType: "application/json", body: `{"id":`, wantErr: receipt.ErrMalformed},
		{name: "broken multipart", contentType: "multipart/form-data; boundary=xyz", body: "--xyz\r\nbroken", wantErr: receipt.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := withToken(httptest.NewRequest(http.MethodPost, "/receipts/textmagic/x", strings.NewReader(tc.body)), textmagicToken)
			r.Header.Set("Content-Type", tc.contentType)
			checkVerify(t, v, r, tc.body, tc.want, tc.wantErr)
		})
	}
}

func TestTextmagicStatuses(t *testing.T) {
	v, err := receipt.Textmagic(receipt.SharedAuth{Token: textmagicToken})
	require.NoError(t, err)
	for code, want := range map[string]receipt.Status{
		"q": receipt.StatusAccepted,
		"s": receipt.StatusAccepted,
		"r": receipt.StatusSent,
		"a": receipt.StatusSent,
		"b": receipt.StatusSent,
		"d": receipt.StatusDelivered,
		"f": receipt.StatusUndelivered,
		"j": receipt.StatusUndelivered,
		"e": receipt.StatusFailed,
		"u": receipt.StatusUnknown,
		"z": receipt.StatusUnknown,
	} {
		t.Run(code, func(t *testing.T) {
			body := "message_id=1&status=" + code
			r := withToken(httptest.NewRequest(http.MethodPost, "/receipts/textmagic/x", strings.NewReader(body)), textmagicToken)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			got, err := v.Verify(r, []byte(body), postNow)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
		})
	}
}

func TestTextmagicAuthValidated(t *testing.T) {
	for _, auth := range []receipt.SharedAuth{{}, {Token: "short"}} {
		_, err := receipt.Textmagic(auth)
		assert.Error(t, err)
	}
}

func TestTextmagicPresetReply(t *testing.T) {
	assert.Equal(t, "49576009", rtPresetID(t, "textmagic", "49576009"))
}
