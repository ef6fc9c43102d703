package smstest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
)

// A courier with a Twilio-style form template sends one SMS; the gateway
// records the request with its form body decoded. In a test, use New(t)
// instead of NewServer: it closes the gateway when the test ends.
func Example() {
	gw := smstest.NewServer()
	defer gw.Close()

	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL:     gw.Endpoint("/2010-04-01/Accounts/AC123/Messages.json"),
			Method:  http.MethodPost,
			Body:    "file://./testdata/twilio.request.jsonnet",
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Auth: smscourier.AuthConfig{
				Type:   smscourier.AuthBasicAuth,
				Config: smscourier.AuthParams{User: "AC123", Password: "secret"},
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := courier.SendMessage(context.Background(), smscourier.Message{
		To:   "+14134242223",
		Body: "Your code is 123456",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	req := gw.Requests()[0]
	user, _, _ := req.BasicAuth()
	fmt.Println(req.Method, req.Path)
	fmt.Println("Content-Type:", req.Header.Get("Content-Type"))
	fmt.Println("user:", user)
	for _, key := range []string{"From", "To", "Body"} {
		fmt.Printf("%s=%s\n", key, req.FormValue(key))
	}
	fmt.Printf("reply: %d %s\n", res.StatusCode, res.Body)
	// Output:
	// POST /2010-04-01/Accounts/AC123/Messages.json
	// Content-Type: application/x-www-form-urlencoded
	// user: AC123
	// From=+12065550110
	// To=+14134242223
	// Body=Your code is 123456
	// reply: 201 {"id":"msg-1","status":"queued"}
}

// A JSON body is decoded too; JSONField reaches into it.
func Example_json() {
	gw := smstest.NewServer()
	defer gw.Close()

	template := `function(ctx) { message: { to: [ctx.to], text: ctx.body }, ref: ctx.idempotency_key, parts: 1 }`
	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:    gw.Endpoint("/v1/messages"),
			Method: http.MethodPost,
			Body:   "base64://" + base64.StdEncoding.EncodeToString([]byte(template)),
			Auth: smscourier.AuthConfig{
				Type:   smscourier.AuthAPIKey,
				Config: smscourier.AuthParams{In: smscourier.APIKeyInHeader, Name: "X-Api-Key", Value: "k-123"},
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = courier.SendMessage(context.Background(), smscourier.Message{
		To:             "+14134242223",
		Body:           "Your code is 123456",
		IdempotencyKey: "otp-7f3a",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	req := gw.Requests()[0]
	fmt.Println(req.Header.Get("Content-Type"))
	fmt.Println("api key:", req.Header.Get("X-Api-Key"))
	fmt.Println("to:", req.JSONField("message", "to", "0"))
	fmt.Println("text:", req.JSONField("message", "text"))
	fmt.Println("ref:", req.JSONField("ref"))
	fmt.Printf("parts: %v (%T)\n", req.JSONField("parts"), req.JSONField("parts"))
	// Output:
	// application/json
	// api key: k-123
	// to: +14134242223
	// text: Your code is 123456
	// ref: otp-7f3a
	// parts: 1 (json.Number)
}

// A gateway that answers 429 Too Many Requests with Retry-After: 0, then
// 201: the courier waits as asked and sends the identical request again.
func ExampleGateway_Script() {
	gw := smstest.NewServer()
	defer gw.Close()
	gw.Script(
		smstest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "0"},
		smstest.Reply{Status: http.StatusCreated, Body: `{"sid":"SM1"}`},
	)

	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:    gw.Endpoint("/send"),
			Method: http.MethodPost,
			Body:   "file://./testdata/twilio.request.jsonnet",
		},
	}, smscourier.WithRetryPolicy(smscourier.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond}))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := courier.SendMessage(context.Background(), smscourier.Message{To: "+14134242223", Body: "hi"})
	if err != nil {
		fmt.Println(err)
		return
	}
	reqs := gw.Requests()
	fmt.Println("attempts:", res.Attempts, "recorded:", len(reqs))
	fmt.Println("identical bodies:", reqs[0].Body == reqs[1].Body)
	fmt.Printf("reply: %d %s\n", res.StatusCode, res.Body)
	// Output:
	// attempts: 2 recorded: 2
	// identical bodies: true
	// reply: 201 {"sid":"SM1"}
}

// A connection reset after the gateway read the request leaves the outcome
// unknown: the message may have been delivered, so without an idempotency
// key header the courier does not send it again.
func ExampleReply_reset() {
	gw := smstest.NewServer()
	defer gw.Close()
	gw.Script(smstest.Reply{Reset: true})

	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:    gw.Endpoint("/send"),
			Method: http.MethodPost,
			Body:   "file://./testdata/twilio.request.jsonnet",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := courier.SendMessage(context.Background(), smscourier.Message{To: "+14134242223", Body: "hi"})
	fmt.Println("outcome unknown:", errors.Is(err, smscourier.ErrOutcomeUnknown))
	fmt.Println("attempts:", res.Attempts, "recorded:", gw.Count())
	// Output:
	// outcome unknown: true
	// attempts: 1 recorded: 1
}

// Respond computes each reply from the request: here the gateway rejects
// numbers outside +1.
func ExampleGateway_Respond() {
	gw := smstest.NewServer()
	defer gw.Close()
	gw.Respond(func(r smstest.Request) smstest.Reply {
		if !strings.HasPrefix(r.JSONField("to").(string), "+1") {
			return smstest.Reply{Status: http.StatusBadRequest, Body: `{"error":"unsupported region"}`}
		}
		return smstest.Reply{Status: http.StatusAccepted}
	})

	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:    gw.Endpoint("/send"),
			Method: http.MethodPost,
			Body:   "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) { to: ctx.to, text: ctx.body }`)),
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, to := range []string{"+14134242223", "+442071838750"} {
		err := courier.Send(context.Background(), to, "hi")
		var gerr *smscourier.GatewayError
		switch {
		case err == nil:
			fmt.Println(to, "sent")
		case errors.As(err, &gerr):
			fmt.Println(to, gerr.StatusCode, string(gerr.Body), errors.Is(err, smscourier.ErrRejected))
		default:
			fmt.Println(to, err)
		}
	}
	// Output:
	// +14134242223 sent
	// +442071838750 400 {"error":"unsupported region"} true
}
