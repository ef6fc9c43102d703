package receipt_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
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

func TestTwilioDocumentedExamples(t *testing.T) {
	// The example of Twilio's security docs, verbatim:
	// https://www.twilio.com/docs/usage/webhooks/webhooks-security
	// ("https://example.com/myapp.php?foo=1&bar=2", Auth Token 12345).
	docForm := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675310"},
		"Digits":  {"1234"},
		"From":    {"+14158675310"},
		"To":      {"+18005551212"},
	}
	// twilio-go's RequestValidator tests, which check the port handling:
	// https://github.com/twilio/twilio-go/blob/main/client/request_validator_test.go
	sdkForm := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
	cases := []struct {
		name    string
		url     string
		form    url.Values
		sig     string
		wantErr bool
	}{
		{name: "security docs", url: "https://example.com/myapp.php?foo=1&bar=2", form: docForm, sig: "L/OH5YylLD5NRKLltdqwSvS0BnU="},
		{name: "sdk", url: "https://mycompany.com/myapp.php?foo=1&bar=2", form: sdkForm, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{name: "sdk: https with a port, signed without it", url: "https://mycompany.com:1234/myapp.php?foo=1&bar=2", form: sdkForm, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{name: "sdk: https signed with port 443", url: "https://mycompany.com/myapp.php?foo=1&bar=2", form: sdkForm, sig: "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{name: "sdk: http signed without a port", url: "http://mycompany.com/myapp.php?foo=1&bar=2", form: sdkForm, sig: "0ZXoZLH/DfblKGATFgpif+LLRf4="},
		{name: "sdk: http with port 1234, signed with it", url: "http://mycompany.com:1234/myapp.php?foo=1&bar=2", form: sdkForm, sig: "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="},
		{name: "sdk: wrong signature", url: "https://mycompany.com/myapp.php?foo=1&bar=2", form: sdkForm, sig: "WRONGSIGNATUREWRONGSIGNATURE", wantErr: true},
		{name: "docs: another token's URL", url: "https://example.com/myapp.php?foo=1&bar=3", form: docForm, sig: "L/OH5YylLD5NRKLltdqwSvS0BnU=", wantErr: true},
	}
	v, err := receipt.Twilio("12345", receipt.TwilioOptions{})
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.form.Encode()
			r := httptest.NewRequest(http.MethodPost, tc.url, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Twilio-Signature", tc.sig) // httptest sets TLS for https URLs
			got, err := v.Verify(r, []byte(body), rtNow)
			if tc.wantErr {
				assert.ErrorIs(t, err, receipt.ErrUnauthenticated)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, got, "a voice callback is no message status")
		})
	}
}

func TestTwilioRoundTrip(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "twilio-auth-token-0123456789"}
	v, err := receipt.Twilio(smscourier.Secret(creds.Secret), receipt.TwilioOptions{})
	require.NoError(t, err)
	done := time.Date(2026, 5, 4, 12, 28, 0, 0, time.UTC)
	rtRoundTrip(t, v, creds, rtNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: "SM0123456789abcdef0123456789abcdef", Status: smstest.DLRDelivered, To: "+14134242223", Time: done},
			want: receipt.Receipt{Provider: "twilio", MessageID: "SM0123456789abcdef0123456789abcdef", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: done},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: "SM1", Status: smstest.DLRUndelivered, ErrorCode: "30003", To: "+14134242223", Time: done},
			want: receipt.Receipt{Provider: "twilio", MessageID: "SM1", Status: receipt.StatusUndelivered, ProviderStatus: "undelivered", ErrorCode: "30003", Time: done},
		},
		{
			name: "failed with an error code: no time from Twilio",
			dlr:  smstest.DLR{MessageID: "SM2", Status: smstest.DLRFailed, ErrorCode: "30008", To: "+14134242223", Time: done},
			want: receipt.Receipt{Provider: "twilio", MessageID: "SM2", Status: receipt.StatusFailed, ProviderStatus: "failed", ErrorCode: "30008", Time: rtNow},
		},
		{
			name: "sent",
			dlr:  smstest.DLR{MessageID: "SM3", Status: smstest.DLRSent, To: "+14134242223", Time: done},
			want: receipt.Receipt{Provider: "twilio", MessageID: "SM3", Status: receipt.StatusSent, ProviderStatus: "sent", Time: rtNow},
		},
	})
}

func TestTwilioTamper(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "twilio-auth-token-0123456789"}
	v, err := receipt.Twilio(smscourier.Secret(creds.Secret), receipt.TwilioOptions{})
	require.NoError(t, err)
	rtTamper(t, v, creds, smstest.ReceiptCredentials{Secret: "twilio-auth-token-9876543210"}, false, rtFlipHeader("X-Twilio-Signature"))
}

func TestTwilioBaseURL(t *testing.T) {
	// Behind a proxy Twilio signs the public URL; the request shows
	// another. The poster signs the public URL, the request goes to the
	// server's own.
	creds := smstest.ReceiptCredentials{Secret: "twilio-auth-token-0123456789"}
	dlr := smstest.DLR{MessageID: "SM1", Status: smstest.DLRDelivered, To: "+14134242223", Time: rtNow}
	cases := []struct {
		name       string
		base       string
		signedBase string
		wantStatus int
	}{
		{name: "BaseURL is the public URL", base: "https://sms.example.com", signedBase: "https://sms.example.com", wantStatus: http.StatusOK},
		{name: "BaseURL with a path prefix", base: "https://sms.example.com/api/", signedBase: "https://sms.example.com/api", wantStatus: http.StatusOK},
		{name: "no BaseURL: the request's URL is not the public one", signedBase: "https://sms.example.com", wantStatus: http.StatusUnauthorized},
		{name: "another public host", base: "https://other.example.com", signedBase: "https://sms.example.com", wantStatus: http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Twilio(smscourier.Secret(creds.Secret), receipt.TwilioOptions{BaseURL: tc.base})
			require.NoError(t, err)
			srv := serveVerifier(t, v, rtNow)
			local, err := url.Parse(srv.url)
			require.NoError(t, err)
			req, err := rtPoster(t, "twilio", tc.signedBase+local.Path, creds, rtNow).Request(context.Background(), dlr)
			require.NoError(t, err)
			// The proxy forwards to the server, stripping any path prefix.
			req.URL.Scheme, req.URL.Host, req.URL.Path, req.Host = local.Scheme, local.Host, local.Path, ""
			assert.Equal(t, tc.wantStatus, rtDo(t, req))
			assert.Equal(t, tc.wantStatus == http.StatusOK, len(srv.log.all()) == 1)
		})
	}
}

func TestTwilioNotAStatus(t *testing.T) {
	// An inbound message, signed: authentic, no receipt.
	v, err := receipt.Twilio("12345", receipt.TwilioOptions{})
	require.NoError(t, err)
	form := url.Values{"MessageSid": {"SM1"}, "SmsStatus": {"received"}, "Body": {"hello"}, "From": {"+14134242223"}}
	for _, status := range []string{"", "received"} {
		f := url.Values{}
		for k, vs := range form {
			f[k] = vs
		}
		if status != "" {
			f.Set("MessageStatus", status)
		}
		req := twilioSigned(t, "12345", "http://example.com/receipts/twilio", f)
		got, err := v.Verify(req, []byte(f.Encode()), rtNow)
		require.NoError(t, err)
		assert.Empty(t, got)
	}
}

// twilioSigned returns a form POST to u signed the way Twilio signs it,
// computed independently of package smstest.
func twilioSigned(t *testing.T, token, u string, form url.Values) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", twilioSignature(token, u, form))
	return r
}

// twilioSignature is Twilio's signature of a form POST to u.
func twilioSignature(token, u string, form url.Values) string {
	for _, n := range slices.Sorted(maps.Keys(form)) {
		u += n + form.Get(n)
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(u))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestTwilioStatusMapping(t *testing.T) {
	cases := map[string]receipt.Status{
		"accepted": receipt.StatusAccepted, "scheduled": receipt.StatusAccepted, "queued": receipt.StatusAccepted,
		"sending": receipt.StatusAccepted, "sent": receipt.StatusSent, "delivered": receipt.StatusDelivered,
		"read": receipt.StatusDelivered, "undelivered": receipt.StatusUndelivered, "failed": receipt.StatusFailed,
		"canceled": receipt.StatusFailed, "partially_delivered": receipt.StatusUnknown, "something-new": receipt.StatusUnknown,
	}
	v, err := receipt.Twilio("12345", receipt.TwilioOptions{})
	require.NoError(t, err)
	for word, want := range cases {
		t.Run(word, func(t *testing.T) {
			f := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {word}}
			got, err := v.Verify(twilioSigned(t, "12345", "http://example.com/r", f), []byte(f.Encode()), rtNow)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
		})
	}
}

func TestTwilioConstructor(t *testing.T) {
	_, err := receipt.Twilio("", receipt.TwilioOptions{})
	assert.Error(t, err, "empty Auth Token")
	for _, base := range []string{"example.com", "ftp://example.com", "https://example.com/?q=1", "https://u:p@example.com"} {
		_, err := receipt.Twilio("12345", receipt.TwilioOptions{BaseURL: base})
		require.Error(t, err, base)
		assert.NotContains(t, err.Error(), "u:p", "no credentials in errors")
	}
}

func TestTwilioPresetReply(t *testing.T) {
	assert.Equal(t, "SM0123456789abcdef0123456789abcdef", rtPresetID(t, "twilio", "SM0123456789abcdef0123456789abcdef"))
}
