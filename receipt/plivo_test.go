package receipt_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// Plivo's docs (https://www.plivo.com/docs/voice/xml/request/validation)
// give no example signature. These vectors are those of Plivo's own Go
// SDK, verbatim:
// https://github.com/plivo/plivo-go/blob/master/utils_test.go
// (TestValidateSignatureV3Pass1-4).
func TestPlivoSDKExamples(t *testing.T) {
	const token = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
	const nonce = "31627761595286130198"
	params := url.Values{
		"Direction":       {"outbound"},
		"From":            {"19792014278"},
		"ALegUUID":        {"3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
		"CallStatus":      {"in-progress"},
		"BillRate":        {"0.002"},
		"ParentAuthID":    {"MANWVLYTK4ZWU1YTY4QA"},
		"To":              {"sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com"},
		"ALegRequestUUID": {"3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
		"CallUUID":        {"3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
		"RequestUUID":     {"3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
		"SIP-H-To":        {"<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1"},
		"SessionStart":    {"2020-04-08 11:34:33.238707"},
		"Event":           {"StartApp"},
	}
	cases := []struct {
		name, method, url, sig string
	}{
		{name: "POST, URL with a query", method: http.MethodPost, url: "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d", sig: "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="},
		{name: "GET, URL with a query", method: http.MethodGet, url: "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d", sig: "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="},
		{name: "POST", method: http.MethodPost, url: "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml", sig: "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="},
		{name: "GET", method: http.MethodGet, url: "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml", sig: "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="},
	}
	v, err := receipt.Plivo(token, receipt.PlivoOptions{})
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, header := range []string{"X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"} {
				for _, sig := range []string{tc.sig, "c29tZXRoaW5nIGVsc2U=," + tc.sig, rtFlip(tc.sig, 0)} {
					var r *http.Request
					var body []byte
					if tc.method == http.MethodGet {
						sep := "?"
						if strings.Contains(tc.url, "?") {
							sep = "&"
						}
						r = httptest.NewRequest(http.MethodGet, tc.url+sep+params.Encode(), nil)
					} else {
						body = []byte(params.Encode())
						r = httptest.NewRequest(http.MethodPost, tc.url, nil)
						r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					}
					r.Header.Set(header, sig)
					r.Header.Set("X-Plivo-Signature-V3-Nonce", nonce)
					got, err := v.Verify(r, body, rtNow)
					if sig == rtFlip(tc.sig, 0) {
						assert.ErrorIs(t, err, receipt.ErrUnauthenticated, header)
						continue
					}
					require.NoError(t, err, header)
					assert.Empty(t, got, "a call event is no message status")
				}
			}
		})
	}
}

func TestPlivoRoundTrip(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "plivo-auth-token-0123456789"}
	v, err := receipt.Plivo(smscourier.Secret(creds.Secret), receipt.PlivoOptions{})
	require.NoError(t, err)
	at := time.Date(2026, 5, 4, 12, 28, 1, 123456000, time.UTC)
	id := "db3ce55a-7f1d-11e1-8ea7-1231380bc196"
	rtRoundTrip(t, v, creds, rtNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRDelivered, To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "plivo", MessageID: id, Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: at},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRUndelivered, ErrorCode: "200", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "plivo", MessageID: id, Status: receipt.StatusUndelivered, ProviderStatus: "undelivered", ErrorCode: "200", Time: at},
		},
		{
			name: "failed with an error code",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRFailed, ErrorCode: "420", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "plivo", MessageID: id, Status: receipt.StatusFailed, ProviderStatus: "failed", ErrorCode: "420", Time: at},
		},
	})
}

func TestPlivoTamper(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "plivo-auth-token-0123456789"}
	v, err := receipt.Plivo(smscourier.Secret(creds.Secret), receipt.PlivoOptions{})
	require.NoError(t, err)
	rtTamper(t, v, creds, smstest.ReceiptCredentials{Secret: "plivo-auth-token-9876543210"}, false, func(t *testing.T, r *http.Request) {
		rtFlipHeader("X-Plivo-Signature-V3")(t, r)
		rtFlipHeader("X-Plivo-Signature-Ma-V3")(t, r)
	})
}

func TestPlivoRefusesV2Only(t *testing.T) {
	// V2 signs the URL and nonce only: a captured V2 signature would pass
	// with any body. A callback with V2 headers alone is refused.
	creds := smstest.ReceiptCredentials{Secret: "plivo-auth-token-0123456789"}
	v, err := receipt.Plivo(smscourier.Secret(creds.Secret), receipt.PlivoOptions{})
	require.NoError(t, err)
	srv := serveVerifier(t, v, rtNow)
	req, err := srv.poster(t, "plivo", creds, rtNow).Request(context.Background(), smstest.DLR{MessageID: "m1", Status: smstest.DLRDelivered})
	require.NoError(t, err)
	req.Header.Del("X-Plivo-Signature-V3")
	req.Header.Del("X-Plivo-Signature-Ma-V3")
	require.NotEmpty(t, req.Header.Get("X-Plivo-Signature-V2"))
	assert.Equal(t, http.StatusUnauthorized, rtDo(t, req))
	assert.Empty(t, srv.log.all())
}

func TestPlivoURLWithQuery(t *testing.T) {
	// The url given to Plivo may carry a query of its own; it is signed.
	creds := smstest.ReceiptCredentials{Secret: "plivo-auth-token-0123456789"}
	v, err := receipt.Plivo(smscourier.Secret(creds.Secret), receipt.PlivoOptions{})
	require.NoError(t, err)
	srv := serveVerifier(t, v, rtNow)
	status, err := rtPoster(t, "plivo", srv.url+"?tenant=acme&b=2", creds, rtNow).Post(context.Background(), smstest.DLR{MessageID: "m1", Status: smstest.DLRDelivered})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Len(t, srv.log.all(), 1)
}

// plivoV3 signs a POST form to u the way Plivo does, computed independently.
func plivoV3(token, u, nonce string, form url.Values) string {
	s := u + "?"
	for _, n := range slices.Sorted(maps.Keys(form)) {
		s += n + form.Get(n)
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(s + "." + nonce))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestPlivoStatusMapping(t *testing.T) {
	cases := map[string]receipt.Status{
		"queued": receipt.StatusAccepted, "sent": receipt.StatusSent, "delivered": receipt.StatusDelivered,
		"read": receipt.StatusDelivered, "undelivered": receipt.StatusUndelivered, "rejected": receipt.StatusUndelivered,
		"failed": receipt.StatusFailed, "brand-new": receipt.StatusUnknown,
	}
	v, err := receipt.Plivo("plivo-token", receipt.PlivoOptions{})
	require.NoError(t, err)
	for word, want := range cases {
		t.Run(word, func(t *testing.T) {
			form := url.Values{"MessageUUID": {"m1"}, "Status": {word}}
			r := httptest.NewRequest(http.MethodPost, "http://example.com/receipts/plivo", nil)
			r.Header.Set("X-Plivo-Signature-V3-Nonce", "123")
			r.Header.Set("X-Plivo-Signature-V3", plivoV3("plivo-token", "http://example.com/receipts/plivo", "123", form))
			got, err := v.Verify(r, []byte(form.Encode()), rtNow)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
			assert.Equal(t, rtNow, got[0].Time, "no time given: the arrival")
		})
	}
	// An inbound message is authentic and no receipt.
	form := url.Values{"MessageUUID": {"m1"}, "From": {"14134242223"}, "Text": {"hi"}, "Type": {"sms"}}
	r := httptest.NewRequest(http.MethodPost, "http://example.com/receipts/plivo", nil)
	r.Header.Set("X-Plivo-Signature-V3-Nonce", "123")
	r.Header.Set("X-Plivo-Signature-V3", plivoV3("plivo-token", "http://example.com/receipts/plivo", "123", form))
	got, err := v.Verify(r, []byte(form.Encode()), rtNow)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestPlivoConstructor(t *testing.T) {
	_, err := receipt.Plivo("", receipt.PlivoOptions{})
	assert.Error(t, err)
	_, err = receipt.Plivo("t", receipt.PlivoOptions{BaseURL: "sms.example.com"})
	assert.Error(t, err)
}

func TestPlivoPresetReply(t *testing.T) {
	assert.Equal(t, "db3ce55a-7f1d-11e1-8ea7-1231380bc196", rtPresetID(t, "plivo", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"))
}
