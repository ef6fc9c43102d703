//lint:file-ignore SA4006 the README's fragment leaves errors unchecked for brevity, as written there

package smscourier_test

// The Go fragments of README.md, docs/*.md and presets/README.md, each
// verbatim in a function so that it compiles. TestDocs (docs_test.go) checks
// that every fragment of the documentation appears in a Go file of the
// repository; these functions are compiled, never run.

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/presets"
)

// docsReadmeUse is the fragment of the README's "Use it from Go".
func docsReadmeUse(ctx context.Context) error {
	cfg, err := smscourier.LoadConfig("kratos.yml") // or build an SMSConfig in Go
	courier, err := smscourier.New(cfg)             // validates, loads the template once
	err = courier.Send(ctx, "+14134242223", "Your code is 123456")
	return err
}

// docsSendMessage is the fragment of docs/retries.md, "Sending".
func docsSendMessage(ctx context.Context, courier *smscourier.Courier) (smscourier.Result, error) {
	res, err := courier.SendMessage(ctx, smscourier.Message{
		To: "+14134242223", Body: "Your code is 123456",
		IdempotencyKey: "otp-7f3a", // optional: stable across retries and resubmissions
	})
	return res, err
}

// The helpers the failure-class fragment of docs/retries.md calls.
func requeueAfter(smscourier.Message, time.Duration) {}
func markMaybeDelivered(smscourier.Message, string)  {}
func requeue(smscourier.Message)                     {}

// docsFailureClasses is the fragment of docs/retries.md, "Failures after
// trying: four classes".
func docsFailureClasses(ctx context.Context, courier *smscourier.Courier, msg smscourier.Message) {
	res, err := courier.SendMessage(ctx, msg)
	var gerr *smscourier.GatewayError
	switch {
	case err == nil:
	case errors.Is(err, smscourier.ErrCancel): // the template declined to send
	case errors.Is(err, smscourier.ErrRefused) && errors.As(err, &gerr):
		requeueAfter(msg, gerr.RetryAfter) // the gateway asked us to wait
	case errors.Is(err, smscourier.ErrOutcomeUnknown):
		markMaybeDelivered(msg, res.IdempotencyKey) // do not resend without dedup
	case errors.Is(err, smscourier.ErrNotSent):
		requeue(msg) // safe: the gateway never saw it
	}
}

// docsPresets is the fragment of presets/README.md, "Use from Go".
func docsPresets(sid, token string) error {
	cfg, err := presets.Config("twilio") // templates embedded as base64:// URIs
	if err != nil {
		return err
	}
	cfg.From = "+12065550110"
	cfg.RequestConfig.URL = strings.Replace(cfg.RequestConfig.URL, "YOUR_ACCOUNT_SID", sid, 1)
	cfg.RequestConfig.Auth.Config.User = sid
	cfg.RequestConfig.Auth.Config.Password = smscourier.Secret(token)
	courier, err := smscourier.New(cfg)
	_ = courier
	return err
}

// docsRouting is the fragment of docs/routing.md, "A two-provider config".
func docsRouting(ctx context.Context) error {
	cfg, err := smscourier.LoadRoutingConfigEnv("smscourier.yml", os.Environ())
	if err != nil {
		return err
	}
	router, err := smscourier.NewRouter(cfg, smscourier.WithIdempotencyKeyHeader("Idempotency-Key"))
	if err != nil {
		return err
	}
	res, err := router.SendMessage(ctx, smscourier.Message{To: "+447700900123", Body: "Your code is 123456"})
	// res.Gateway is "vonage", or "twilio" if Vonage certainly did not send.
	_ = res
	return err
}

// The fragments are compiled, not run.
var _ = []any{docsReadmeUse, docsSendMessage, docsFailureClasses, docsPresets, docsRouting}
