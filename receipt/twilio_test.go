package receipt_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/presets"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// rtNow is the clock of the round-trip tests: the poster signs at rtNow,
// the Handler checks at rtNow.
var rtNow = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

// rtSink records what a Handler hands it.
type rtSink struct {
	mu  sync.Mutex
	got []receipt.Receipt
}

func (s *rtSink) Receive(_ context.Context, rs []receipt.Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, rs...)
	return nil
}

func (s *rtSink) all() []receipt.Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receipt.Receipt(nil), s.got...)
}

// rtServe serves v under /receipts (receipt.NewMux) on a loopback server
// whose clock is rtNow, and returns the URL of v's endpoint and its sink.
func rtServe(t *testing.T, v receipt.Verifier) (string, *rtSink) {
	t.Helper()
	sink := &rtSink{}
	mux, err := receipt.NewMux("/receipts", sink, []receipt.Verifier{v}, receipt.WithClock(func() time.Time { return rtNow }))
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/receipts/" + v.Provider(), sink
}

// rtPoster returns a poster of provider's receipts to u, signed with
// creds at clock.
func rtPoster(t *testing.T, provider, u string, creds smstest.ReceiptCredentials, clock time.Time) *smstest.ReceiptPoster {
	t.Helper()
	p, err := smstest.NewReceiptPoster(provider, u, creds)
	require.NoError(t, err)
	return p.WithClock(func() time.Time { return clock })
}

// rtDo sends req and returns the answer's status.
func rtDo(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// rtCase is one DLR of a round trip and the receipt it must become.
type rtCase struct {
	name string
	dlr  smstest.DLR
	want receipt.Receipt // Raw is checked to be non-empty only
}

// rtRoundTrip posts each case's DLR through the provider's poster to v's
// Handler and checks the receipts the sink got.
func rtRoundTrip(t *testing.T, v receipt.Verifier, creds smstest.ReceiptCredentials, cases []rtCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, sink := rtServe(t, v)
			status, err := rtPoster(t, v.Provider(), u, creds, rtNow).Post(context.Background(), tc.dlr)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			got := sink.all()
			require.Len(t, got, 1)
			assert.NotEmpty(t, got[0].Raw)
			got[0].Raw = nil
			assert.Equal(t, tc.want, got[0])
		})
	}
}

// rtTamper checks that v refuses, with 401 and nothing for the sink, a
// callback whose body or signature has one byte changed, one signed with
// a wrong secret, and, when stale is set, one signed long ago.
// tamperSig changes one byte of the request's signature.
func rtTamper(t *testing.T, v receipt.Verifier, creds, wrong smstest.ReceiptCredentials, stale bool, tamperSig func(t *testing.T, r *http.Request)) {
	t.Helper()
	dlr := smstest.DLR{MessageID: "msg-tamper-1", Status: smstest.DLRDelivered, To: "+14134242223", Time: rtNow}
	cases := []struct {
		name   string
		creds  smstest.ReceiptCredentials
		clock  time.Time
		tamper func(t *testing.T, r *http.Request)
	}{
		{name: "intact", creds: creds, clock: rtNow},
		{name: "one byte of the body", creds: creds, clock: rtNow, tamper: func(t *testing.T, r *http.Request) {
			rtSetBody(t, r, func(b []byte) []byte { return bytes.Replace(b, []byte("tamper-1"), []byte("tamper-7"), 1) })
		}},
		{name: "one byte of the signature", creds: creds, clock: rtNow, tamper: tamperSig},
		{name: "wrong secret", creds: wrong, clock: rtNow},
	}
	if stale {
		cases = append(cases,
			struct {
				name   string
				creds  smstest.ReceiptCredentials
				clock  time.Time
				tamper func(t *testing.T, r *http.Request)
			}{name: "signed 6 minutes ago", creds: creds, clock: rtNow.Add(-6 * time.Minute)},
			struct {
				name   string
				creds  smstest.ReceiptCredentials
				clock  time.Time
				tamper func(t *testing.T, r *http.Request)
			}{name: "signed 6 minutes ahead", creds: creds, clock: rtNow.Add(6 * time.Minute)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, sink := rtServe(t, v)
			req, err := rtPoster(t, v.Provider(), u, tc.creds, tc.clock).Request(context.Background(), dlr)
			require.NoError(t, err)
			if tc.tamper != nil {
				tc.tamper(t, req)
			}
			status := rtDo(t, req)
			if tc.name == "intact" {
				assert.Equal(t, http.StatusOK, status)
				assert.Len(t, sink.all(), 1)
				return
			}
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Empty(t, sink.all(), "a refused callback reaches no sink")
		})
	}
}

// rtSetBody replaces r's body by edit of it, and fails the test when edit
// changed nothing.
func rtSetBody(t *testing.T, r *http.Request, edit func([]byte) []byte) {
	t.Helper()
	old, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	b := edit(bytes.Clone(old))
	require.NotEqual(t, old, b, "the tamper changed nothing")
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
}

// rtFlip changes one character of s at i to another of the same alphabet
// (base64, hex).
func rtFlip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	if strings.ContainsRune("0123456789abcdef", rune(s[i])) && !strings.ContainsAny(s, "+/=GHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz") {
		c = '0'
		if s[i] == '0' {
			c = '1'
		}
	}
	return s[:i] + string(c) + s[i+1:]
}

// rtFlipHeader changes one character of header h.
func rtFlipHeader(h string) func(t *testing.T, r *http.Request) {
	return func(t *testing.T, r *http.Request) {
		v := r.Header.Get(h)
		require.NotEmpty(t, v, h)
		r.Header.Set(h, rtFlip(v, 0))
	}
}

// rtSortedKeys returns v's names, sorted.
func rtSortedKeys(v url.Values) []string {
	names := make([]string, 0, len(v))
	for n := range v {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// rtPresetID sends through preset name's configuration to a fake gateway
// answering with the provider's success reply for id, and returns the
// Result's MessageID.
func rtPresetID(t *testing.T, name, id string) string {
	t.Helper()
	p, err := smstest.NewReceiptPoster(name, "http://127.0.0.1/unused", smstest.ReceiptCredentials{})
	require.NoError(t, err)
	gw := smstest.New(t)
	gw.Script(p.Reply(id))
	cfg, err := presets.Config(name)
	require.NoError(t, err)
	u, err := url.Parse(cfg.RequestConfig.URL)
	require.NoError(t, err)
	cfg.RequestConfig.URL = gw.Endpoint(u.Path)
	cfg.From = "+12065550110"
	courier, err := smscourier.New(cfg)
	require.NoError(t, err)
	res, err := courier.SendMessage(context.Background(), smscourier.Message{To: "+14134242223", Body: "Your code is 123456"})
	require.NoError(t, err)
	assert.Equal(t, 1, gw.Count())
	return res.MessageID
}

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
	rtRoundTrip(t, v, creds, []rtCase{
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
			u, sink := rtServe(t, v)
			local, err := url.Parse(u)
			require.NoError(t, err)
			req, err := rtPoster(t, "twilio", tc.signedBase+local.Path, creds, rtNow).Request(context.Background(), dlr)
			require.NoError(t, err)
			// The proxy forwards to the server, stripping any path prefix.
			req.URL.Scheme, req.URL.Host, req.URL.Path, req.Host = local.Scheme, local.Host, local.Path, ""
			assert.Equal(t, tc.wantStatus, rtDo(t, req))
			assert.Equal(t, tc.wantStatus == http.StatusOK, len(sink.all()) == 1)
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
	for _, n := range rtSortedKeys(form) {
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
