package receipt_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// TestConfigEveryProvider parses a document that serves every provider
// and checks that each gets its Verifier.
func TestConfigEveryProvider(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	doc := fmt.Sprintf(`
courier:
  sms: {enabled: false}
smscourier:
  receipts:
    path: /dlr
    providers:
      twilio: {auth_token: twilio-token-0123456789, base_url: "https://sms.example.com"}
      plivo: {auth_token: plivo-token-0123456789}
      vonage-sms: {signature_secret: vonage-secret-0123, signature_method: sha256, replay_window: 2m}
      vonage-messages: {signature_secret: vonage-secret-0123, api_key: abcd1234}
      telnyx: {public_key: %q}
      webhook: {secret: webhook-secret-0123456789, old_secrets: [webhook-secret-old-012345]}
      sinch: {secret: sinch-secret-0123456789}
      messagebird: {signing_key: mb-key-0123456789, public_url: "https://sms.example.com/dlr/messagebird"}
      infobip: {token: infobip-token-0123456789}
      brevo: {bearer_token: brevo-token-0123456789}
      textmagic: {user: tm, password: textmagic-pass-0123456789}
`, base64.StdEncoding.EncodeToString(pub))
	cfg, err := receipt.ParseConfig([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, "/dlr", cfg.Path)
	assert.Equal(t, 2*time.Minute, cfg.Providers["vonage-sms"].ReplayWindow)
	vs, err := cfg.Verifiers()
	require.NoError(t, err)
	var names []string
	for _, v := range vs {
		names = append(names, v.Provider())
	}
	assert.Equal(t, receipt.Providers(), names)
	assert.Len(t, names, 11)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		assert.NotContains(t, s, "twilio-token-0123456789")
		assert.NotContains(t, s, "webhook-secret-old-012345")
	}
}

// TestConfigProblems checks that each mistake is reported at its key path,
// all at once, and that no value is quoted.
func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		paths []string
	}{
		{name: "unknown provider", doc: "smscourier: {receipts: {providers: {twillio: {auth_token: abcdefghijklmnop}}}}",
			paths: []string{"smscourier.receipts.providers.twillio"}},
		{name: "a key of another provider", doc: "smscourier: {receipts: {providers: {twilio: {auth_token: abcdefghijklmnop, secret: abcdefghijklmnop}}}}",
			paths: []string{"smscourier.receipts.providers.twilio.secret"}},
		{name: "unknown key", doc: "smscourier: {receipts: {paths: /x}}",
			paths: []string{"smscourier.receipts.paths"}},
		{name: "wrong types", doc: "smscourier: {receipts: {path: 3, providers: {webhook: {secret: [a], old_secrets: abcdefghijklmnop}}}}",
			paths: []string{"smscourier.receipts.path", "smscourier.receipts.providers.webhook.old_secrets", "smscourier.receipts.providers.webhook.secret"}},
		{name: "bad duration", doc: "smscourier: {receipts: {providers: {telnyx: {public_key: k, replay_window: soon}}}}",
			paths: []string{"smscourier.receipts.providers.telnyx.replay_window"}},
		{name: "relative path", doc: "smscourier: {receipts: {path: dlr}}",
			paths: []string{"smscourier.receipts.path"}},
		{name: "duplicate key", doc: "smscourier:\n  receipts:\n    path: /a\n    path: /b\n",
			paths: []string{"document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receipt.ParseConfig([]byte(tc.doc))
			var ce *smscourier.ConfigError
			require.ErrorAs(t, err, &ce)
			require.ErrorIs(t, err, smscourier.ErrInvalidConfig)
			var paths []string
			for _, p := range ce.Problems {
				paths = append(paths, p.Path)
			}
			assert.ElementsMatch(t, tc.paths, paths)
			assert.NotContains(t, err.Error(), "abcdefghijklmnop")
		})
	}
}

// TestConfigVerifiersRefused checks that a provider's constructor
// refusing its settings is a problem at the provider's path.
func TestConfigVerifiersRefused(t *testing.T) {
	cfg, err := receipt.ParseConfig([]byte("smscourier: {receipts: {providers: {twilio: {}, infobip: {token: short}, webhook: {secret: webhook-secret-0123456789}}}}"))
	require.NoError(t, err)
	_, err = cfg.Verifiers()
	var ce *smscourier.ConfigError
	require.ErrorAs(t, err, &ce)
	var paths []string
	for _, p := range ce.Problems {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{"smscourier.receipts.providers.infobip", "smscourier.receipts.providers.twilio"}, paths)
	assert.NotContains(t, err.Error(), "short")
}

// TestConfigEnv checks that the environment sets a listed provider's
// keys and the path, and nothing for a provider not listed.
func TestConfigEnv(t *testing.T) {
	doc := []byte("smscourier:\n  receipts:\n    providers:\n      webhook: {}\n      vonage-sms: {signature_secret: from-the-file-0123}\n")
	cfg, err := receipt.ParseConfigEnv(doc, []string{
		"SMSCOURIER_RECEIPTS_PATH=/hooks",
		"SMSCOURIER_RECEIPTS_PROVIDERS_WEBHOOK_SECRET=webhook-secret-0123456789",
		"SMSCOURIER_RECEIPTS_PROVIDERS_WEBHOOK_OLD_SECRETS=old-secret-one-0123456, old-secret-two-0123456",
		"SMSCOURIER_RECEIPTS_PROVIDERS_VONAGE_SMS_SIGNATURE_SECRET=from-the-environment-0123",
		"SMSCOURIER_RECEIPTS_PROVIDERS_TWILIO_AUTH_TOKEN=twilio-token-0123456789",
	})
	require.NoError(t, err)
	assert.Equal(t, "/hooks", cfg.Path)
	assert.Equal(t, smscourier.Secret("webhook-secret-0123456789"), cfg.Providers["webhook"].Secret)
	assert.Equal(t, []smscourier.Secret{"old-secret-one-0123456", "old-secret-two-0123456"}, cfg.Providers["webhook"].OldSecrets)
	assert.Equal(t, smscourier.Secret("from-the-environment-0123"), cfg.Providers["vonage-sms"].SignatureSecret)
	assert.NotContains(t, cfg.Providers, "twilio")

	cfg, err = receipt.ParseConfigEnv([]byte("courier: {sms: {enabled: false}}"), []string{"SMSCOURIER_RECEIPTS_PATH=/hooks"})
	require.NoError(t, err)
	assert.Equal(t, receipt.Config{}, cfg, "no receipts section: the zero Config")
}

// TestConfigMux serves a Config's providers and posts a receipt to each
// kind of endpoint: a signed one, and one authenticated by a path token.
func TestConfigMux(t *testing.T) {
	cfg, err := receipt.ParseConfig([]byte("smscourier: {receipts: {providers: {webhook: {secret: webhook-secret-0123456789}, infobip: {token: infobip-token-0123456789}}}}"))
	require.NoError(t, err)
	var got []receipt.Receipt
	mux, err := cfg.Mux(receipt.SinkFunc(func(_ context.Context, rs []receipt.Receipt) error {
		got = append(got, rs...)
		return nil
	}))
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		provider, url string
		creds         smstest.ReceiptCredentials
		want          int
	}{
		{"webhook", srv.URL + "/receipts/webhook", smstest.ReceiptCredentials{Secret: "webhook-secret-0123456789"}, 200},
		{"webhook", srv.URL + "/receipts/webhook", smstest.ReceiptCredentials{Secret: "another-secret-0123456789"}, 401},
		{"infobip", srv.URL + "/receipts/infobip", smstest.ReceiptCredentials{Token: "infobip-token-0123456789"}, 200},
		{"infobip", srv.URL + "/receipts/infobip", smstest.ReceiptCredentials{Token: "infobip-token-9876543210"}, 401},
	} {
		p, err := smstest.NewReceiptPoster(tc.provider, tc.url, tc.creds)
		require.NoError(t, err)
		status, err := p.Post(context.Background(), smstest.DLR{MessageID: "msg-1", Status: smstest.DLRDelivered})
		require.NoError(t, err)
		assert.Equal(t, tc.want, status, "%s with %+v", tc.provider, tc.creds.Token != "")
	}
	require.Len(t, got, 2)
	assert.Equal(t, "webhook", got[0].Provider)
	assert.Equal(t, "infobip", got[1].Provider)
	for _, r := range got {
		assert.Equal(t, "msg-1", r.MessageID)
		assert.Equal(t, receipt.StatusDelivered, r.Status)
	}
}
