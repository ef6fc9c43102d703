package receipt_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"hash"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// Vonage's signing docs
// (https://developer.vonage.com/en/getting-started/concepts/signing-messages)
// give no example signature. These vectors are those of Vonage's own
// Python SDK, verbatim:
// https://github.com/Vonage/vonage-python-sdk/blob/main/http_client/tests/test_auth.py
// (test_sign_params*, test_check_signature_valid_signature), signature
// secret "signature_secret", timestamp 1234567890.
func TestVonageSMSSDKExamples(t *testing.T) {
	cases := []struct {
		name   string
		method receipt.VonageSignatureMethod
		query  string
		sig    string
	}{
		{name: "sha256 HMAC", method: receipt.VonageSHA256, query: "param1=value1&param2=value2&timestamp=1234567890", sig: "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"},
		{name: "md5 HMAC", method: receipt.VonageMD5HMAC, query: "param1=value1&param2=value2&timestamp=1234567890", sig: "724c2bf6ca423c36e20631b11d1c5753"},
		{name: "md5 HMAC, & and = in values", method: receipt.VonageMD5HMAC, query: "param1=value%261&param2=value%3D2&timestamp=1234567890", sig: "2bbf0abafb2c55e5af6231513896a2ac"},
		{name: "md5 HMAC, check_signature", method: receipt.VonageMD5HMAC, query: "param=value&timestamp=1234567890", sig: "655a4d0b7f064dff438defc52b012cf5"},
		{name: "upper-case hex", method: receipt.VonageMD5HMAC, query: "param=value&timestamp=1234567890", sig: "655A4D0B7F064DFF438DEFC52B012CF5"},
	}
	now := time.Unix(1234567890, 0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.VonageSMS("signature_secret", receipt.VonageSMSOptions{Method: tc.method})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodGet, "http://example.com/receipts/vonage-sms?"+tc.query+"&sig="+tc.sig, nil)
			got, err := v.Verify(r, nil, now)
			require.NoError(t, err)
			assert.Empty(t, got, "no messageId: no receipt")

			r = httptest.NewRequest(http.MethodGet, "http://example.com/receipts/vonage-sms?"+tc.query+"&sig="+strings.Repeat("0", len(tc.sig)), nil)
			_, err = v.Verify(r, nil, now)
			assert.ErrorIs(t, err, receipt.ErrUnauthenticated)
		})
	}
}

func TestVonageSMSRoundTrip(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "vonage-signature-secret-0123"}
	v, err := receipt.VonageSMS(smscourier.Secret(creds.Secret), receipt.VonageSMSOptions{})
	require.NoError(t, err)
	at := time.Date(2026, 5, 4, 12, 28, 0, 0, time.UTC)
	rtRoundTrip(t, v, creds, rtNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: "0A0000000123ABCD1", Status: smstest.DLRDelivered, To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "vonage-sms", MessageID: "0A0000000123ABCD1", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: at},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: "0A0000000123ABCD2", Status: smstest.DLRUndelivered, ErrorCode: "6", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "vonage-sms", MessageID: "0A0000000123ABCD2", Status: receipt.StatusUndelivered, ProviderStatus: "failed", ErrorCode: "6", Time: at},
		},
		{
			name: "failed with an error code",
			dlr:  smstest.DLR{MessageID: "0A0000000123ABCD3", Status: smstest.DLRFailed, ErrorCode: "99", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "vonage-sms", MessageID: "0A0000000123ABCD3", Status: receipt.StatusFailed, ProviderStatus: "rejected", ErrorCode: "99", Time: at},
		},
	})
}

func TestVonageSMSTamper(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "vonage-signature-secret-0123"}
	v, err := receipt.VonageSMS(smscourier.Secret(creds.Secret), receipt.VonageSMSOptions{})
	require.NoError(t, err)
	rtTamper(t, v, creds, smstest.ReceiptCredentials{Secret: "vonage-signature-secret-9999"}, true, func(t *testing.T, r *http.Request) {
		rtSetBody(t, r, func(b []byte) []byte {
			form, err := url.ParseQuery(string(b))
			require.NoError(t, err)
			form.Set("sig", rtFlip(form.Get("sig"), 0))
			return []byte(form.Encode())
		})
	})
}

// vonageSign is the SMS API's signature of params, computed independently
// of package receipt and smstest, by method.
func vonageSign(method receipt.VonageSignatureMethod, secret string, params map[string]string) string {
	var h hash.Hash
	switch method {
	case receipt.VonageMD5Hash:
		h = md5.New()
	case receipt.VonageMD5HMAC:
		h = hmac.New(md5.New, []byte(secret))
	case receipt.VonageSHA1:
		h = hmac.New(sha1.New, []byte(secret))
	case receipt.VonageSHA256:
		h = hmac.New(sha256.New, []byte(secret))
	case receipt.VonageSHA512:
		h = hmac.New(sha512.New, []byte(secret))
	}
	for _, n := range slices.Sorted(maps.Keys(params)) {
		v := strings.NewReplacer("&", "_", "=", "_").Replace(params[n])
		h.Write([]byte("&" + n + "=" + v))
	}
	if method == receipt.VonageMD5Hash {
		h.Write([]byte(secret))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// vonageDLR is a delivery receipt's parameters as the SMS API reference
// shows them (https://developer.vonage.com/en/api/sms#delivery-receipt),
// signed at rtNow.
func vonageDLR() map[string]string {
	return map[string]string{
		"msisdn": "447700900000", "to": "AcmeInc", "network-code": "12345",
		"messageId": "0A0000001234567B", "price": "0.03330000", "status": "expired",
		"scts": "2001011400", "err-code": "1", "api-key": "abcd1234",
		"client-ref": "my-personal-reference", "message-timestamp": "2020-01-01 12:00:00",
		"timestamp": strconv.FormatInt(rtNow.Unix(), 10), "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9",
	}
}

func TestVonageSMSMethodsAndTransports(t *testing.T) {
	const secret = "vonage-signature-secret-0123"
	want := receipt.Receipt{
		Provider: "vonage-sms", MessageID: "0A0000001234567B", Status: receipt.StatusUndelivered,
		ProviderStatus: "expired", ErrorCode: "1", Time: time.Date(2020, 1, 1, 14, 0, 0, 0, time.UTC),
	}
	for _, method := range []receipt.VonageSignatureMethod{receipt.VonageMD5Hash, receipt.VonageMD5HMAC, receipt.VonageSHA1, receipt.VonageSHA256, receipt.VonageSHA512} {
		for _, transport := range []string{"GET", "POST form", "POST JSON"} {
			t.Run(string(method)+"/"+transport, func(t *testing.T) {
				v, err := receipt.VonageSMS(secret, receipt.VonageSMSOptions{Method: method})
				require.NoError(t, err)
				params := vonageDLR()
				params["sig"] = vonageSign(method, secret, params)
				form := url.Values{}
				for n, val := range params {
					form.Set(n, val)
				}
				var r *http.Request
				var body []byte
				switch transport {
				case "GET":
					r = httptest.NewRequest(http.MethodGet, "http://example.com/receipts/vonage-sms?"+form.Encode(), nil)
				case "POST form":
					body = []byte(form.Encode())
					r = httptest.NewRequest(http.MethodPost, "http://example.com/receipts/vonage-sms", nil)
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				default:
					body, err = json.Marshal(params)
					require.NoError(t, err)
					r = httptest.NewRequest(http.MethodPost, "http://example.com/receipts/vonage-sms", nil)
					r.Header.Set("Content-Type", "application/json")
				}
				got, err := v.Verify(r, body, rtNow)
				require.NoError(t, err)
				require.Len(t, got, 1)
				assert.NotEmpty(t, got[0].Raw)
				got[0].Raw = nil
				assert.Equal(t, want, got[0])

				// Another method's signature of the same parameters is refused.
				other := receipt.VonageSHA256
				if method == other {
					other = receipt.VonageSHA512
				}
				params["sig"] = vonageSign(other, secret, vonageDLR())
				q := url.Values{}
				for n, val := range params {
					q.Set(n, val)
				}
				r = httptest.NewRequest(http.MethodGet, "http://example.com/receipts/vonage-sms?"+q.Encode(), nil)
				_, err = v.Verify(r, nil, rtNow)
				assert.ErrorIs(t, err, receipt.ErrUnauthenticated)
			})
		}
	}
}

func TestVonageSMSStatusMapping(t *testing.T) {
	cases := map[string]receipt.Status{
		"delivered": receipt.StatusDelivered, "expired": receipt.StatusUndelivered, "failed": receipt.StatusUndelivered,
		"rejected": receipt.StatusFailed, "accepted": receipt.StatusSent, "buffered": receipt.StatusSent,
		"unknown": receipt.StatusUnknown, "brand-new": receipt.StatusUnknown,
	}
	v, err := receipt.VonageSMS("s3cret", receipt.VonageSMSOptions{})
	require.NoError(t, err)
	for word, want := range cases {
		t.Run(word, func(t *testing.T) {
			params := vonageDLR()
			params["status"], params["err-code"] = word, "0"
			params["sig"] = vonageSign(receipt.VonageMD5Hash, "s3cret", params)
			q := url.Values{}
			for n, val := range params {
				q.Set(n, val)
			}
			got, err := v.Verify(httptest.NewRequest(http.MethodGet, "http://example.com/r?"+q.Encode(), nil), nil, rtNow)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
			assert.Empty(t, got[0].ErrorCode, `err-code "0" is no error`)
		})
	}
}

func TestVonageSMSConstructor(t *testing.T) {
	_, err := receipt.VonageSMS("", receipt.VonageSMSOptions{})
	assert.Error(t, err)
	_, err = receipt.VonageSMS("s3cret", receipt.VonageSMSOptions{Method: "sha384"})
	assert.Error(t, err)
}

func TestVonageSMSPresetReply(t *testing.T) {
	assert.Equal(t, "0A0000000123ABCD1", rtPresetID(t, "vonage-sms", "0A0000000123ABCD1"))
}

// The Messages API's signed-webhook docs
// (https://developer.vonage.com/en/messages/concepts/signed-webhooks) give
// no example token: the tests sign their own, with golang-jwt.

func TestVonageMessagesRoundTrip(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "vonage-signature-secret-0123"}
	v, err := receipt.VonageMessages(smscourier.Secret(creds.Secret), receipt.VonageMessagesOptions{APIKey: "abcd1234"})
	require.NoError(t, err)
	at := time.Date(2026, 5, 4, 12, 28, 1, 250e6, time.UTC)
	id := "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"
	rtRoundTrip(t, v, creds, rtNow, []rtCase{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRDelivered, To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "vonage-messages", MessageID: id, Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: at},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRUndelivered, ErrorCode: "1320", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "vonage-messages", MessageID: id, Status: receipt.StatusUndelivered, ProviderStatus: "rejected", ErrorCode: "1320", Time: at},
		},
		{
			name: "failed with an error code",
			dlr:  smstest.DLR{MessageID: id, Status: smstest.DLRFailed, ErrorCode: "1300", To: "+14134242223", Time: at},
			want: receipt.Receipt{Provider: "vonage-messages", MessageID: id, Status: receipt.StatusFailed, ProviderStatus: "undeliverable", ErrorCode: "1300", Time: at},
		},
	})
}

func TestVonageMessagesTamper(t *testing.T) {
	creds := smstest.ReceiptCredentials{Secret: "vonage-signature-secret-0123"}
	v, err := receipt.VonageMessages(smscourier.Secret(creds.Secret), receipt.VonageMessagesOptions{})
	require.NoError(t, err)
	rtTamper(t, v, creds, smstest.ReceiptCredentials{Secret: "vonage-signature-secret-9999"}, true, func(t *testing.T, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		i := strings.LastIndexByte(tok, '.') + 1
		r.Header.Set("Authorization", "Bearer "+rtFlip(tok, i))
	})
}

// vonageToken signs claims with key by method, as a bearer header value.
func vonageToken(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return "Bearer " + s
}

func TestVonageMessagesTokens(t *testing.T) {
	const secret = "vonage-signature-secret-0123"
	body := []byte(`{"message_uuid":"aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab","to":"447700900000","from":"447700900001","timestamp":"2020-01-01T14:00:00.000Z","status":"delivered","channel":"sms"}`)
	sum := sha256.Sum256(body)
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iat": rtNow.Unix(), "jti": "x", "iss": "Vonage", "payload_hash": hex.EncodeToString(sum[:]), "api_key": "abcd1234"}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name   string
		auth   string
		apiKey string
		ok     bool
	}{
		{name: "valid", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), good()), ok: true},
		{name: "valid, api_key as configured", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), good()), apiKey: "abcd1234", ok: true},
		{name: "another account's api_key", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), good()), apiKey: "zzzz9999"},
		{name: "upper-case payload_hash", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), with("payload_hash", strings.ToUpper(hex.EncodeToString(sum[:])))), ok: true},
		{name: "HS512 refused", auth: vonageToken(t, jwt.SigningMethodHS512, []byte(secret), good())},
		{name: "alg none refused", auth: vonageToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good())},
		{name: "payload_hash of another body", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), with("payload_hash", hex.EncodeToString(make([]byte, 32))))},
		{name: "no payload_hash", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), with("payload_hash", nil))},
		{name: "no iat", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), with("iat", nil))},
		{name: "iat 6 minutes ago", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), with("iat", rtNow.Add(-6*time.Minute).Unix()))},
		{name: "iat 6 minutes ahead", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), with("iat", rtNow.Add(6*time.Minute).Unix()))},
		{name: "expired", auth: vonageToken(t, jwt.SigningMethodHS256, []byte(secret), with("exp", rtNow.Add(-time.Hour).Unix()))},
		{name: "no bearer", auth: "Basic YWJjZDoxMjM0"},
		{name: "unsigned", auth: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.VonageMessages(secret, receipt.VonageMessagesOptions{APIKey: tc.apiKey})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodPost, "http://example.com/receipts/vonage-messages", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			got, err := v.Verify(r, body, rtNow)
			if !tc.ok {
				assert.ErrorIs(t, err, receipt.ErrUnauthenticated)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, time.Date(2020, 1, 1, 14, 0, 0, 0, time.UTC), got[0].Time)
		})
	}
}

func TestVonageMessagesNotAStatus(t *testing.T) {
	const secret = "vonage-signature-secret-0123"
	v, err := receipt.VonageMessages(secret, receipt.VonageMessagesOptions{})
	require.NoError(t, err)
	body := []byte(`{"channel":"sms","message_uuid":"aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab","to":"447700900000","from":"447700900001","timestamp":"2020-01-01T14:00:00Z","text":"Hello","message_type":"text"}`)
	sum := sha256.Sum256(body)
	r := httptest.NewRequest(http.MethodPost, "http://example.com/receipts/vonage-messages", nil)
	r.Header.Set("Authorization", vonageToken(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"iat": rtNow.Unix(), "payload_hash": hex.EncodeToString(sum[:])}))
	got, err := v.Verify(r, body, rtNow)
	require.NoError(t, err)
	assert.Empty(t, got, "an inbound message is no status")
}

func TestVonageMessagesStatusMapping(t *testing.T) {
	cases := map[string]receipt.Status{
		"submitted": receipt.StatusSent, "delivered": receipt.StatusDelivered, "read": receipt.StatusDelivered,
		"rejected": receipt.StatusUndelivered, "undeliverable": receipt.StatusFailed, "brand-new": receipt.StatusUnknown,
	}
	creds := smstest.ReceiptCredentials{Secret: "vonage-signature-secret-0123"}
	v, err := receipt.VonageMessages(smscourier.Secret(creds.Secret), receipt.VonageMessagesOptions{})
	require.NoError(t, err)
	for word, want := range cases {
		t.Run(word, func(t *testing.T) {
			srv := serveVerifier(t, v, rtNow)
			status, err := srv.poster(t, "vonage-messages", creds, rtNow).Post(context.Background(), smstest.DLR{MessageID: "m1", Status: word})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			got := srv.log.all()
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
		})
	}
}

func TestVonageMessagesConstructor(t *testing.T) {
	_, err := receipt.VonageMessages("", receipt.VonageMessagesOptions{})
	assert.Error(t, err)
}

func TestVonageMessagesPresetReply(t *testing.T) {
	assert.Equal(t, "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab", rtPresetID(t, "vonage-messages", "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"))
}
