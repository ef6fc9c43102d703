package receipt_test

// Helpers of the receipt tests: a recording Sink, a loopback server of a
// Verifier, posters, round trips, tampering and the presets' message ids.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/presets"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rtNow is the clock of the round-trip tests: the poster signs at rtNow,
// the Handler checks at rtNow.
var rtNow = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

// rtPoster returns a poster of provider's receipts to u, signed with
// creds at clock: for a URL other than a receiptServer's own (whose
// poster method posts there).
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
	want receipt.Receipt // Raw is checked to hold the DLR's message id only
}

// rtRoundTrip posts each case's DLR through the provider's poster to v's
// Handler, whose clock and the poster's read now, and checks the
// receipts the sink got.
func rtRoundTrip(t *testing.T, v receipt.Verifier, creds smstest.ReceiptCredentials, now time.Time, cases []rtCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveVerifier(t, v, now)
			status, err := srv.poster(t, v.Provider(), creds, now).Post(context.Background(), tc.dlr)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			got := srv.log.all()
			require.Len(t, got, 1)
			assert.NotEmpty(t, got[0].Raw)
			assert.Contains(t, string(got[0].Raw), tc.dlr.MessageID)
			got[0].Raw = nil
			got[0].Time = got[0].Time.UTC()
			assert.Equal(t, tc.want, got[0])
		})
	}
}

// postAuth posts dlr to a new server of v with the provider's poster and
// creds, and checks the answer is want, and that a refused callback
// reached no sink.
func postAuth(t *testing.T, v receipt.Verifier, creds smstest.ReceiptCredentials, dlr smstest.DLR, want int) {
	t.Helper()
	srv := serveVerifier(t, v, postNow)
	status, err := srv.poster(t, v.Provider(), creds, postNow).Post(context.Background(), dlr)
	require.NoError(t, err)
	assert.Equal(t, want, status)
	if want != http.StatusOK {
		assert.Empty(t, srv.log.all())
	}
}

// rtTamper checks that v refuses, with 401 and nothing for the sink, a
// callback whose body or signature has one byte changed, one signed with
// a wrong secret, and, when stale is set, one signed long ago.
// tamperSig changes one byte of the request's signature.
func rtTamper(t *testing.T, v receipt.Verifier, creds, wrong smstest.ReceiptCredentials, stale bool, tamperSig func(t *testing.T, r *http.Request)) {
	t.Helper()
	dlr := smstest.DLR{MessageID: "msg-tamper-1", Status: smstest.DLRDelivered, To: "+14134242223", Time: rtNow}
	type tamperCase struct {
		name   string
		creds  smstest.ReceiptCredentials
		clock  time.Time
		tamper func(t *testing.T, r *http.Request)
		ok     bool // the callback is accepted
	}
	cases := []tamperCase{
		{name: "intact", creds: creds, clock: rtNow, ok: true},
		{name: "one byte of the body", creds: creds, clock: rtNow, tamper: func(t *testing.T, r *http.Request) {
			rtSetBody(t, r, func(b []byte) []byte { return bytes.Replace(b, []byte("tamper-1"), []byte("tamper-7"), 1) })
		}},
		{name: "one byte of the signature", creds: creds, clock: rtNow, tamper: tamperSig},
		{name: "wrong secret", creds: wrong, clock: rtNow},
	}
	if stale {
		cases = append(cases,
			tamperCase{name: "signed 6 minutes ago", creds: creds, clock: rtNow.Add(-6 * time.Minute)},
			tamperCase{name: "signed 6 minutes ahead", creds: creds, clock: rtNow.Add(6 * time.Minute)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveVerifier(t, v, rtNow)
			req, err := srv.poster(t, v.Provider(), tc.creds, tc.clock).Request(context.Background(), dlr)
			require.NoError(t, err)
			if tc.tamper != nil {
				tc.tamper(t, req)
			}
			status := rtDo(t, req)
			if tc.ok {
				assert.Equal(t, http.StatusOK, status)
				assert.Len(t, srv.log.all(), 1)
				return
			}
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Empty(t, srv.log.all(), "a refused callback reaches no sink")
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

// rtPresetID is presetMessageID with the provider's success reply for id.
func rtPresetID(t *testing.T, name, id string) string {
	t.Helper()
	p, err := smstest.NewReceiptPoster(name, "http://127.0.0.1/unused", smstest.ReceiptCredentials{})
	require.NoError(t, err)
	return presetMessageID(t, name, p.Reply(id))
}

// receiptLog is a Sink that records the receipts it takes.
type receiptLog struct {
	mu  sync.Mutex
	got []receipt.Receipt
}

func (l *receiptLog) Receive(_ context.Context, rs []receipt.Receipt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, rs...)
	return nil
}

func (l *receiptLog) all() []receipt.Receipt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]receipt.Receipt(nil), l.got...)
}

// receiptServer serves v's callbacks at /receipts/{provider}[/{token}]
// through NewMux, on a loopback server whose Handler reads the time from
// now.
type receiptServer struct {
	url    string // the provider's receipt URL, without a token
	client *http.Client
	log    *receiptLog
}

func serveVerifier(t *testing.T, v receipt.Verifier, now time.Time) receiptServer {
	t.Helper()
	log := &receiptLog{}
	mux, err := receipt.NewMux("/receipts", log, []receipt.Verifier{v}, receipt.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return receiptServer{url: srv.URL + "/receipts/" + v.Provider(), client: srv.Client(), log: log}
}

// poster returns a poster of provider's receipts to s with creds, whose
// clock reads now.
func (s receiptServer) poster(t *testing.T, provider string, creds smstest.ReceiptCredentials, now time.Time) *smstest.ReceiptPoster {
	t.Helper()
	p, err := smstest.NewReceiptPoster(provider, s.url, creds)
	require.NoError(t, err)
	return p.WithClient(s.client).WithClock(func() time.Time { return now })
}

// rebuilt returns a copy of req whose body is mutate's result on req's
// body; mutate may also change the copy's header.
func rebuilt(t *testing.T, req *http.Request, mutate func(h http.Header, body []byte) []byte) *http.Request {
	t.Helper()
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		require.NoError(t, err)
	}
	out := req.Clone(req.Context())
	body = mutate(out.Header, bytes.Clone(body))
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	return out
}

// flipByte changes b[i] to another byte; i < 0 counts from the end.
func flipByte(b []byte, i int) []byte {
	if i < 0 {
		i += len(b)
	}
	b[i] ^= 0x01
	return b
}

// presetMessageID sends a message with preset name's config to a fake
// gateway that answers reply, and returns the message id the preset's
// response template found.
func presetMessageID(t *testing.T, name string, reply smstest.Reply) string {
	t.Helper()
	gw := smstest.New(t)
	gw.Script(reply)
	cfg, err := presets.Config(name)
	require.NoError(t, err)
	u, err := url.Parse(cfg.RequestConfig.URL)
	require.NoError(t, err)
	gwURL, err := url.Parse(gw.URL())
	require.NoError(t, err)
	u.Scheme, u.Host = gwURL.Scheme, gwURL.Host
	cfg.RequestConfig.URL = u.String()
	cfg.From = "+13104661805"
	courier, err := smscourier.New(cfg, smscourier.WithoutRetries())
	require.NoError(t, err)
	res, err := courier.SendMessage(context.Background(), smscourier.Message{To: "+14134242223", Body: "Your code is 123456"})
	require.NoError(t, err)
	assert.Equal(t, 1, gw.Count())
	return res.MessageID
}

// withToken returns req with the {token} path value NewMux would set.
func withToken(req *http.Request, token string) *http.Request {
	req.SetPathValue("token", token)
	return req
}

// The time receipts are posted at, and the time of their DLRs.
var (
	postNow = time.Date(2025, 6, 6, 10, 0, 0, 0, time.UTC)
	dlrTime = time.Date(2025, 6, 6, 9, 58, 30, 0, time.UTC)
)

// checkVerify has v verify r, whose body is body, at postNow, and checks
// that it fails with wantErr or, when wantErr is nil, returns want, each
// receipt's Raw and its Time's location aside: each Raw must be body.
func checkVerify(t *testing.T, v receipt.Verifier, r *http.Request, body string, want []receipt.Receipt, wantErr error) {
	t.Helper()
	got, err := v.Verify(r, []byte(body), postNow)
	if wantErr != nil {
		assert.ErrorIs(t, err, wantErr)
		return
	}
	require.NoError(t, err)
	for i := range got {
		assert.Equal(t, body, string(got[i].Raw))
		got[i].Raw = nil
		got[i].Time = got[i].Time.UTC()
	}
	assert.Equal(t, want, got)
}
