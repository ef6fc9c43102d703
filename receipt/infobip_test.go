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

// Infobip signs nothing: its callbacks are authenticated by a shared
// secret (basic credentials or a path token), so there is no signature to
// tamper with, only credentials to get wrong.
const infobipToken = "infobip-path-token-0123456789"

func TestInfobipDocumentedReport(t *testing.T) {
	// The first report of Infobip's documented example, verbatim:
	// https://www.infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/receive-outbound-sms-message-report
	const body = `{"results":[{"bulkId":"BULK-ID-123-xyz","messageId":"MESSAGE-ID-123-xyz","to":"41793026727","sentAt":"2019-11-09T16:00:00.000+0000","doneAt":"2019-11-09T16:00:00.000+0000","smsCount":1,"callbackData":"callbackData","price":{"pricePerMessage":0.01,"currency":"EUR"},"status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET","description":"Message delivered to handset"},"error":{"groupId":0,"groupName":"Ok","id":0,"name":"NO_ERROR","description":"No Error","permanent":false},"entityId":"promotional-traffic-entity","applicationId":"marketing-automation-application"}]}`
	v, err := receipt.Infobip(receipt.SharedAuth{Token: infobipToken})
	require.NoError(t, err)
	got, err := v.Verify(withToken(httptest.NewRequest(http.MethodPost, "/receipts/infobip/"+infobipToken, nil), infobipToken), []byte(body), postNow)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, body, string(got[0].Raw))
	got[0].Raw = nil
	got[0].Time = got[0].Time.UTC()
	assert.Equal(t, receipt.Receipt{
		Provider: "infobip", MessageID: "MESSAGE-ID-123-xyz", Status: receipt.StatusDelivered,
		ProviderStatus: "DELIVERED_TO_HANDSET", Time: time.Date(2019, 11, 9, 16, 0, 0, 0, time.UTC),
	}, got[0])
}

func TestInfobipRoundTrip(t *testing.T) {
	v, err := receipt.Infobip(receipt.SharedAuth{Token: infobipToken})
	require.NoError(t, err)
	rtRoundTrip(t, v, smstest.ReceiptCredentials{Token: infobipToken}, postNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: "2034072219640523072", Status: smstest.DLRDelivered, Time: dlrTime, To: "+41793026727"},
			want: receipt.Receipt{Provider: "infobip", MessageID: "2034072219640523072", Status: receipt.StatusDelivered, ProviderStatus: "DELIVERED_TO_HANDSET", Time: dlrTime},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: "2034072219640523073", Status: smstest.DLRUndelivered, ErrorCode: "EC_ABSENT_SUBSCRIBER", Time: dlrTime, To: "+41793026727"},
			want: receipt.Receipt{Provider: "infobip", MessageID: "2034072219640523073", Status: receipt.StatusUndelivered, ProviderStatus: "UNDELIVERABLE_NOT_DELIVERED", ErrorCode: "EC_ABSENT_SUBSCRIBER", Time: dlrTime},
		},
		{
			name: "failed with an error code",
			dlr:  smstest.DLR{MessageID: "2034072219640523074", Status: smstest.DLRFailed, ErrorCode: "EC_ILLEGAL_SUBSCRIBER", Time: dlrTime},
			want: receipt.Receipt{Provider: "infobip", MessageID: "2034072219640523074", Status: receipt.StatusFailed, ProviderStatus: "REJECTED_NETWORK", ErrorCode: "EC_ILLEGAL_SUBSCRIBER", Time: dlrTime},
		},
		{
			name: "accepted",
			dlr:  smstest.DLR{MessageID: "2034072219640523075", Status: smstest.DLRAccepted, Time: dlrTime},
			want: receipt.Receipt{Provider: "infobip", MessageID: "2034072219640523075", Status: receipt.StatusAccepted, ProviderStatus: "PENDING_ACCEPTED", Time: dlrTime},
		},
	})
}

func TestInfobipRefusesWrongCredentials(t *testing.T) {
	dlr := smstest.DLR{MessageID: "2034072219640523072", Status: smstest.DLRDelivered, Time: dlrTime}
	basic := receipt.SharedAuth{User: "infobip", Password: infobipToken}
	for _, tc := range []struct {
		name  string
		auth  receipt.SharedAuth
		creds smstest.ReceiptCredentials
		want  int
	}{
		{name: "basic credentials", auth: basic, creds: smstest.ReceiptCredentials{User: "infobip", Password: infobipToken}, want: http.StatusOK},
		{name: "a wrong password", auth: basic, creds: smstest.ReceiptCredentials{User: "infobip", Password: infobipToken + "x"}, want: http.StatusUnauthorized},
		{name: "a wrong user", auth: basic, creds: smstest.ReceiptCredentials{User: "infobiq", Password: infobipToken}, want: http.StatusUnauthorized},
		{name: "no credentials", auth: basic, want: http.StatusUnauthorized},
		{name: "a wrong token", auth: receipt.SharedAuth{Token: infobipToken}, creds: smstest.ReceiptCredentials{Token: "infobip-path-token-0123456788"}, want: http.StatusUnauthorized},
		{name: "no token", auth: receipt.SharedAuth{Token: infobipToken}, want: http.StatusUnauthorized},
		{name: "a token where basic credentials are expected", auth: basic, creds: smstest.ReceiptCredentials{Token: infobipToken}, want: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Infobip(tc.auth)
			require.NoError(t, err)
			postAuth(t, v, tc.creds, dlr, tc.want)
		})
	}
}

func TestInfobipReports(t *testing.T) {
	v, err := receipt.Infobip(receipt.SharedAuth{Token: infobipToken})
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		body    string
		want    []receipt.Receipt
		wantErr error
	}{
		{
			name: "several reports, an inbound message skipped",
			body: `{"results":[` +
				`{"messageId":"m1","doneAt":"2019-11-09T16:00:00.000+0100","status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"},"error":{"id":0,"name":"NO_ERROR"}},` +
				`{"messageId":"m2","status":{"groupId":4,"groupName":"EXPIRED","id":15,"name":"EXPIRED_EXPIRED"},"error":{"groupId":1,"groupName":"HANDSET_ERRORS","id":27,"name":"EC_ABSENT_SUBSCRIBER"}},` +
				`{"messageId":"m3","from":"41793026727","to":"447860021130","text":"hi","receivedAt":"2019-11-09T16:00:00.000+0000"}` +
				`]}`,
			want: []receipt.Receipt{
				{Provider: "infobip", MessageID: "m1", Status: receipt.StatusDelivered, ProviderStatus: "DELIVERED_TO_HANDSET", Time: time.Date(2019, 11, 9, 15, 0, 0, 0, time.UTC)},
				{Provider: "infobip", MessageID: "m2", Status: receipt.StatusUndelivered, ProviderStatus: "EXPIRED_EXPIRED", ErrorCode: "EC_ABSENT_SUBSCRIBER", Time: postNow},
			},
		},
		{name: "no results", body: `{}`},
		{name: "not JSON", body: `results`, wantErr: receipt.ErrMalformed},
		{name: "a report without messageId", body: `{"results":[{"status":{"groupName":"DELIVERED"}}]}`, wantErr: receipt.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := withToken(httptest.NewRequest(http.MethodPost, "/receipts/infobip/"+infobipToken, strings.NewReader(tc.body)), infobipToken)
			checkVerify(t, v, r, tc.body, tc.want, tc.wantErr)
		})
	}
}

func TestInfobipStatuses(t *testing.T) {
	v, err := receipt.Infobip(receipt.SharedAuth{Token: infobipToken})
	require.NoError(t, err)
	for _, tc := range []struct {
		status string
		want   receipt.Status
	}{
		{`{"groupId":1,"groupName":"PENDING","id":26,"name":"PENDING_ACCEPTED"}`, receipt.StatusAccepted},
		{`{"groupId":1,"groupName":"PENDING","id":7,"name":"PENDING_ENROUTE"}`, receipt.StatusSent},
		{`{"groupId":1,"groupName":"PENDING","id":3,"name":"PENDING_WAITING_DELIVERY"}`, receipt.StatusSent},
		{`{"groupId":3,"groupName":"DELIVERED","id":2,"name":"DELIVERED_TO_OPERATOR"}`, receipt.StatusSent},
		{`{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"}`, receipt.StatusDelivered},
		{`{"groupId":2,"groupName":"UNDELIVERABLE","id":4,"name":"UNDELIVERABLE_REJECTED_OPERATOR"}`, receipt.StatusUndelivered},
		{`{"groupId":4,"groupName":"EXPIRED","id":15,"name":"EXPIRED_EXPIRED"}`, receipt.StatusUndelivered},
		{`{"groupId":5,"groupName":"REJECTED","id":52,"name":"REJECTED_DESTINATION"}`, receipt.StatusFailed},
		{`{"groupId":5,"id":6,"name":"REJECTED_NETWORK"}`, receipt.StatusFailed},
		{`{"groupId":9,"groupName":"TELEPORTED","id":99,"name":"TELEPORTED_AWAY"}`, receipt.StatusUnknown},
	} {
		t.Run(tc.status, func(t *testing.T) {
			body := `{"results":[{"messageId":"m1","status":` + tc.status + `}]}`
			r := withToken(httptest.NewRequest(http.MethodPost, "/receipts/infobip/x", nil), infobipToken)
			got, err := v.Verify(r, []byte(body), postNow)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, tc.want, got[0].Status)
		})
	}
}

func TestInfobipAuthValidated(t *testing.T) {
	for _, auth := range []receipt.SharedAuth{{}, {Token: "short"}, {Password: infobipToken}} {
		_, err := receipt.Infobip(auth)
		assert.Error(t, err)
	}
}

func TestInfobipPresetReply(t *testing.T) {
	assert.Equal(t, "2034072219640523072", rtPresetID(t, "infobip", "2034072219640523072"))
}
