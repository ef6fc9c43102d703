package guard_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/smstest"
)

// exampleCourier returns a Courier that sends to gw.
func exampleCourier(gw *smstest.Gateway) *smscourier.Courier {
	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:    gw.Endpoint("/sms"),
			Method: http.MethodPost,
			Body:   "base64://" + base64.StdEncoding.EncodeToString([]byte("function(ctx) { to: ctx.to, text: ctx.body }")),
		},
	})
	if err != nil {
		panic(err)
	}
	return courier
}

// A Guard with the recommended settings in front of a Courier: a premium
// rate number is refused by the policy, a second code to a number within
// 30 seconds by the per-recipient cooldown, with the time until it would
// be allowed.
func Example() {
	gw := smstest.NewServer()
	defer gw.Close()
	courier := exampleCourier(gw)
	ctx := context.Background()

	g, err := guard.New(courier, guard.RecommendedConfig())
	if err != nil {
		panic(err)
	}
	for _, to := range []string{"+33899123456", "+447400123456", "+447400123456"} {
		_, err := g.SendMessage(ctx, smscourier.Message{To: to, Body: "Your code is 123456"})
		var blocked *smscourier.BlockedError
		switch {
		case errors.As(err, &blocked):
			fmt.Println(blocked.Rule, blocked.Country, blocked.RetryAfter.Round(time.Second))
		case err != nil:
			panic(err)
		default:
			fmt.Println("sent")
		}
	}
	fmt.Println(gw.Count(), "sent")
	// Output:
	// number_type FR 0s
	// sent
	// recipient_cooldown GB 30s
	// 1 sent
}

// The guard's settings, read from the smscourier.guard section of a
// config file.
func ExampleParseConfig() {
	cfg, err := guard.ParseConfig([]byte(`
smscourier:
  guard:
    policy:
      allow_countries: [GB, FR]
      refuse_invalid: true
    limits:
      recipient: {cooldown: 30s, per_hour: 5}
`))
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Policy.AllowCountries, cfg.Limits.Recipient.Cooldown, cfg.Limits.Recipient.PerHour)

	_, err = guard.ParseConfig([]byte("smscourier:\n  guard:\n    limits:\n      recipient: {per_hour: many}\n"))
	fmt.Println(err)
	// Output:
	// [GB FR] 30s 5
	// smscourier: invalid config: smscourier.guard.limits.recipient.per_hour: must be a whole number from 0 to 1000000000
}

// Check tells, counting nothing, what would refuse a message now: what
// the smscourier command's validate and render explain.
func ExampleGuard_Check() {
	gw := smstest.NewServer()
	defer gw.Close()
	cfg := guard.Config{Policy: guard.Policy{AllowCountries: []string{"GB"}}}
	g, err := guard.New(exampleCourier(gw), cfg)
	if err != nil {
		panic(err)
	}
	fmt.Println(g.Check(context.Background(), smscourier.Message{To: "+33612345678"}))
	fmt.Println(g.Check(context.Background(), smscourier.Message{To: "+447400123456"}))
	// Output:
	// smscourier: blocked by not_allowed_country (country FR)
	// <nil>
}
