package smscourier_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/smscourier/smscourier"
)

// A Courier built from a Kratos-style config document sends one SMS to a
// local gateway.
func Example() {
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(r.Method, r.URL.Path)
		fmt.Println(r.Header.Get("Content-Type"))
		fmt.Println(string(body))
		w.WriteHeader(http.StatusCreated)
	}))
	defer gateway.Close()

	cfg, err := smscourier.ParseConfig([]byte(`
courier:
  sms:
    enabled: true
    from: "+12065550110"
    request_config:
      url: ` + gateway.URL + `/2010-04-01/Accounts/AC123/Messages.json
      method: POST
      body: file://./testdata/twilio.request.jsonnet
      header:
        Content-Type: application/x-www-form-urlencoded
      auth:
        type: basic_auth
        config: { user: AC123, password: secret }
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	courier, err := smscourier.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := courier.Send(context.Background(), "+14134242223", "Your code is 123456"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// POST /2010-04-01/Accounts/AC123/Messages.json
	// application/x-www-form-urlencoded
	// Body=Your+code+is+123456&From=%2B12065550110&To=%2B14134242223
}

// A reply outside 2xx is a *GatewayError carrying the status, the header, a
// bounded prefix of the body, and the wait the gateway asked for. A
// Retry-After longer than RetryPolicy.MaxRetryAfter (30 s) is not slept:
// SendMessage returns at once so that a queue can reschedule the message.
func ExampleGatewayError() {
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"code":20429,"message":"Too Many Requests"}`)
	}))
	defer gateway.Close()

	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:    gateway.URL + "/v1/messages",
			Method: http.MethodPost,
			Body:   "file://./testdata/sms.jsonnet",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = courier.Send(context.Background(), "+14134242223", "hello")
	var gerr *smscourier.GatewayError
	if errors.As(err, &gerr) {
		fmt.Println(gerr.StatusCode, gerr.RetryAfter)
		fmt.Println(string(gerr.Body))
	}
	fmt.Println(errors.Is(err, smscourier.ErrRefused))
	fmt.Println(err)
	// Output:
	// 429 2m0s
	// {"code":20429,"message":"Too Many Requests"}
	// true
	// smscourier: gateway replied with status 429 Too Many Requests
}

// Render shows the exact request a message produces without sending it.
func ExampleCourier_Render() {
	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		From:    "ACME",
		RequestConfig: smscourier.RequestConfig{
			URL:    "https://sms.example.com/v1/messages",
			Method: http.MethodPost,
			Body:   "file://./testdata/sms.jsonnet",
			Auth: smscourier.AuthConfig{
				Type:   smscourier.AuthAPIKey,
				Config: smscourier.AuthParams{Name: "X-API-Key", Value: "k-123", In: smscourier.APIKeyInHeader},
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	req, err := courier.Render(context.Background(), smscourier.Message{To: "+14134242223", Body: "hi"})
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(req.Body)
	fmt.Println(req.Method, req.URL)
	fmt.Println(req.Header.Get("X-API-Key"), req.Header.Get("Content-Type"))
	fmt.Print(strings.ReplaceAll(string(body), "   ", "  "))
	// Output:
	// POST https://sms.example.com/v1/messages
	// k-123 application/json
	// {
	//   "body": "hi",
	//   "from": "ACME",
	//   "to": "+14134242223"
	// }
}

// Configuration problems are all reported at once, each with its key path.
func ExampleParseConfig_errors() {
	_, err := smscourier.ParseConfig([]byte(`
courier:
  sms:
    enabled: true
    request_config:
      url: ftp://example.com/send
      methdo: POST
      auth:
        type: basic_auth
        config: { user: me }
`))
	var cerr *smscourier.ConfigError
	if errors.As(err, &cerr) {
		for _, p := range cerr.Problems {
			fmt.Println(p)
		}
	}
	fmt.Println(errors.Is(err, smscourier.ErrInvalidConfig))
	// Output:
	// courier.sms.request_config.methdo: unknown key
	// courier.sms.request_config.url: must start with http:// or https://
	// courier.sms.request_config.method: required
	// courier.sms.request_config.auth.config.password: required
	// true
}
