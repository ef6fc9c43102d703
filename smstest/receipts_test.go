package smstest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// recordSink records receipts in the order they arrive.
type recordSink struct {
	mu  sync.Mutex
	got []receipt.Receipt
}

func (s *recordSink) Receive(_ context.Context, rs []receipt.Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, rs...)
	return nil
}

// statuses returns, per message id, the statuses received, in order.
func (s *recordSink) statuses() map[string][]receipt.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]receipt.Status{}
	for _, r := range s.got {
		out[r.MessageID] = append(out[r.MessageID], r.Status)
	}
	return out
}

// receiptProvider is one provider as the Gateway tests use it: its
// Verifier and the credentials its poster signs with.
type receiptProvider struct {
	verifier receipt.Verifier
	creds    smstest.ReceiptCredentials
}

func receiptProviders(t *testing.T) map[string]receiptProvider {
	t.Helper()
	const secret = "a-secret-of-sufficient-length"
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	must := func(v receipt.Verifier, err error) receipt.Verifier {
		t.Helper()
		require.NoError(t, err)
		return v
	}
	sec := smstest.ReceiptCredentials{Secret: secret}
	return map[string]receiptProvider{
		"twilio":          {must(receipt.Twilio(secret, receipt.TwilioOptions{})), sec},
		"vonage-sms":      {must(receipt.VonageSMS(secret, receipt.VonageSMSOptions{})), sec},
		"vonage-messages": {must(receipt.VonageMessages(secret, receipt.VonageMessagesOptions{})), sec},
		"plivo":           {must(receipt.Plivo(secret, receipt.PlivoOptions{})), sec},
		"telnyx": {must(receipt.Telnyx(base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), receipt.TelnyxOptions{})),
			smstest.ReceiptCredentials{PrivateKey: priv}},
		"webhook": {must(receipt.Webhook(secret, receipt.WebhookOptions{})), sec},
	}
}

// receiptEndpoint serves v's receipts on a loopback server and returns
// their URL and sink.
func receiptEndpoint(t *testing.T, v receipt.Verifier) (string, *recordSink) {
	t.Helper()
	sink := &recordSink{}
	mux, err := receipt.NewMux("/receipts", sink, []receipt.Verifier{v})
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/receipts/" + v.Provider(), sink
}

// presetCourier returns a courier of preset name that sends to gw.
func presetCourier(t *testing.T, name string, gw *smstest.Gateway) *smscourier.Courier {
	t.Helper()
	cfg, err := presets.Config(name)
	require.NoError(t, err)
	u, err := url.Parse(cfg.RequestConfig.URL)
	require.NoError(t, err)
	cfg.RequestConfig.URL = gw.Endpoint(u.Path)
	cfg.From = "+12065550110"
	c, err := smscourier.New(cfg, smscourier.WithHTTPClient(gw.Client()))
	require.NoError(t, err)
	return c
}

func waitPosts(t *testing.T, gw *smstest.Gateway, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, gw.WaitReceiptPosts(ctx, n))
}

func TestGatewayPostsReceiptsForEveryPreset(t *testing.T) {
	// The real preset sends, reads the message id from the provider's
	// reply, and the provider's signed receipts for that id reach the
	// provider's Verifier.
	for name, p := range receiptProviders(t) {
		t.Run(name, func(t *testing.T) {
			u, sink := receiptEndpoint(t, p.verifier)
			poster, err := smstest.NewReceiptPoster(name, u, p.creds)
			require.NoError(t, err)
			gw := smstest.New(t)
			gw.PostReceipts(poster, smstest.ReceiptPlan{})
			courier := presetCourier(t, name, gw)

			for i := 1; i <= 2; i++ {
				res, err := courier.SendMessage(context.Background(), smscourier.Message{To: "+14134242223", Body: "Your code is 123456"})
				require.NoError(t, err)
				assert.Equal(t, "msg-"+string(rune('0'+i)), res.MessageID)
			}
			waitPosts(t, gw, 4)
			for _, post := range gw.ReceiptPosts() {
				assert.NoError(t, post.Err)
				assert.Equal(t, http.StatusOK, post.StatusCode, "%+v", post.DLR)
				assert.Contains(t, post.DLR.To, "4134242223", "the recipient, read from the send")
			}
			assert.Equal(t, map[string][]receipt.Status{
				"msg-1": {receipt.StatusSent, receipt.StatusDelivered},
				"msg-2": {receipt.StatusSent, receipt.StatusDelivered},
			}, sink.statuses())
		})
	}
}

func TestGatewayReceiptPlans(t *testing.T) {
	cases := []struct {
		name      string
		plan      smstest.ReceiptPlan
		wantPosts []string
		wantCodes []string
		wantID    string // default msg-1
	}{
		{name: "default", wantPosts: []string{"sent", "delivered"}, wantCodes: []string{"", ""}},
		{name: "id prefix", plan: smstest.ReceiptPlan{IDPrefix: "p-"}, wantPosts: []string{"sent", "delivered"}, wantCodes: []string{"", ""}, wantID: "p-msg-1"},
		{
			name:      "failed with an error code",
			plan:      smstest.ReceiptPlan{Statuses: []string{smstest.DLRAccepted, smstest.DLRFailed}, ErrorCode: "E42"},
			wantPosts: []string{"accepted", "failed"}, wantCodes: []string{"", "E42"},
		},
		{
			name:      "duplicated",
			plan:      smstest.ReceiptPlan{Duplicate: true},
			wantPosts: []string{"sent", "sent", "delivered", "delivered"}, wantCodes: []string{"", "", "", ""},
		},
		{
			name:      "out of order",
			plan:      smstest.ReceiptPlan{Statuses: []string{smstest.DLRSent, smstest.DLRUndelivered}, ErrorCode: "absent", OutOfOrder: true},
			wantPosts: []string{"undelivered", "sent"}, wantCodes: []string{"absent", ""},
		},
		{
			name:      "duplicated out of order",
			plan:      smstest.ReceiptPlan{Duplicate: true, OutOfOrder: true},
			wantPosts: []string{"delivered", "delivered", "sent", "sent"}, wantCodes: []string{"", "", "", ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := receipt.Webhook("a-secret-of-sufficient-length", receipt.WebhookOptions{})
			require.NoError(t, err)
			u, sink := receiptEndpoint(t, v)
			poster, err := smstest.NewReceiptPoster("webhook", u, smstest.ReceiptCredentials{Secret: "a-secret-of-sufficient-length"})
			require.NoError(t, err)
			gw := smstest.New(t)
			gw.PostReceipts(poster, tc.plan)

			resp, err := http.Post(gw.Endpoint("/v1/messages"), "application/json", strings.NewReader(`{"to":"+14134242223","body":"hi"}`))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusCreated, resp.StatusCode)
			waitPosts(t, gw, len(tc.wantPosts))

			id := tc.wantID
			if id == "" {
				id = "msg-1"
			}
			posts := gw.ReceiptPosts()
			require.Len(t, posts, len(tc.wantPosts))
			for i, p := range posts {
				assert.Equal(t, id, p.DLR.MessageID)
				assert.Equal(t, tc.wantPosts[i], p.DLR.Status, "post %d", i)
				assert.Equal(t, tc.wantCodes[i], p.DLR.ErrorCode, "post %d", i)
				assert.Equal(t, http.StatusOK, p.StatusCode)
			}
			got := sink.statuses()[id]
			require.Len(t, got, len(tc.wantPosts))
			for i, st := range got {
				assert.Equal(t, receipt.Status(tc.wantPosts[i]), st)
			}
		})
	}
}

func TestGatewayReceiptDelay(t *testing.T) {
	v, err := receipt.Webhook("a-secret-of-sufficient-length", receipt.WebhookOptions{})
	require.NoError(t, err)
	u, sink := receiptEndpoint(t, v)
	poster, err := smstest.NewReceiptPoster("webhook", u, smstest.ReceiptCredentials{Secret: "a-secret-of-sufficient-length"})
	require.NoError(t, err)
	gw := smstest.New(t)
	const delay = 100 * time.Millisecond
	gw.PostReceipts(poster, smstest.ReceiptPlan{Delay: delay})

	start := time.Now()
	resp, err := http.Post(gw.Endpoint("/v1/messages"), "application/json", strings.NewReader(`{"to":"+14134242223"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, sink.statuses(), "nothing before the delay")
	waitPosts(t, gw, 2)
	assert.GreaterOrEqual(t, time.Since(start), delay)
	assert.Len(t, sink.statuses()["msg-1"], 2)
}

func TestGatewayCloseDropsDelayedReceipts(t *testing.T) {
	v, err := receipt.Webhook("a-secret-of-sufficient-length", receipt.WebhookOptions{})
	require.NoError(t, err)
	u, sink := receiptEndpoint(t, v)
	poster, err := smstest.NewReceiptPoster("webhook", u, smstest.ReceiptCredentials{Secret: "a-secret-of-sufficient-length"})
	require.NoError(t, err)
	gw := smstest.NewServer()
	gw.PostReceipts(poster, smstest.ReceiptPlan{Delay: time.Hour})
	resp, err := http.Post(gw.Endpoint("/v1/messages"), "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()

	start := time.Now()
	gw.Close() // waits for the posting goroutine; goleak checks none is left
	assert.Less(t, time.Since(start), time.Minute, "Close does not wait out the delay")
	posts := gw.ReceiptPosts()
	require.Len(t, posts, 2)
	for _, p := range posts {
		assert.ErrorIs(t, p.Err, smstest.ErrGatewayClosed)
		assert.Zero(t, p.StatusCode)
	}
	assert.Empty(t, sink.statuses())
}

func TestGatewayRecordsFailedPosts(t *testing.T) {
	// A receipt endpoint that refuses the signature, and one that is gone.
	v, err := receipt.Webhook("another-secret-of-enough-length", receipt.WebhookOptions{})
	require.NoError(t, err)
	u, _ := receiptEndpoint(t, v)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	for _, tc := range []struct {
		name, url  string
		wantStatus int
		wantErr    bool
	}{
		{name: "refused", url: u, wantStatus: http.StatusUnauthorized},
		{name: "unreachable", url: deadURL, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			poster, err := smstest.NewReceiptPoster("webhook", tc.url, smstest.ReceiptCredentials{Secret: "a-secret-of-sufficient-length"})
			require.NoError(t, err)
			gw := smstest.New(t)
			gw.PostReceipts(poster, smstest.ReceiptPlan{Statuses: []string{smstest.DLRDelivered}})
			resp, err := http.Post(gw.Endpoint("/v1/messages"), "application/json", strings.NewReader(`{}`))
			require.NoError(t, err)
			resp.Body.Close()
			waitPosts(t, gw, 1)
			p := gw.ReceiptPosts()[0]
			assert.Equal(t, tc.wantStatus, p.StatusCode)
			assert.Equal(t, tc.wantErr, p.Err != nil, "%v", p.Err)
		})
	}
}

func TestGatewayWaitReceiptPostsContext(t *testing.T) {
	gw := smstest.New(t)
	assert.NoError(t, gw.WaitReceiptPosts(context.Background(), 0))
	assert.Nil(t, gw.ReceiptPosts())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	assert.True(t, errors.Is(gw.WaitReceiptPosts(ctx, 1), context.DeadlineExceeded))
}

func TestGatewayScriptEndsPostReceipts(t *testing.T) {
	poster, err := smstest.NewReceiptPoster("webhook", "http://127.0.0.1:1/unused", smstest.ReceiptCredentials{Secret: "x"})
	require.NoError(t, err)
	gw := smstest.New(t)
	gw.PostReceipts(poster, smstest.ReceiptPlan{})
	gw.Script(smstest.Reply{Status: http.StatusAccepted})
	resp, err := http.Post(gw.Endpoint("/v1/messages"), "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	gw.Close()
	assert.Nil(t, gw.ReceiptPosts())
}
