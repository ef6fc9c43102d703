// Command quickstart sends one SMS through a Kratos-style Twilio config to a
// fake Twilio gateway running in the same process, and prints what the
// gateway received. Run it from the repository root:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/smscourier/smscourier"
)

func main() {
	// The fake gateway answers like Twilio: 201 with the message's sid.
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		user, _, _ := r.BasicAuth()
		fmt.Println("gateway received:")
		fmt.Printf("  %s %s\n", r.Method, r.URL.Path)
		fmt.Printf("  Content-Type: %s\n", r.Header.Get("Content-Type"))
		fmt.Printf("  basic auth user: %s\n", user)
		for _, k := range []string{"From", "To", "Body"} {
			fmt.Printf("  %s=%s\n", k, form.Get(k))
		}
		fmt.Printf("  raw body: %s\n", body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"sid":"SM0123456789abcdef","status":"queued"}`)
	}))
	defer gateway.Close()

	doc, err := os.ReadFile("examples/quickstart/kratos.yml")
	if err != nil {
		log.Fatalf("%v (run from the repository root)", err)
	}
	// Point the config at the fake gateway instead of api.twilio.com.
	doc = []byte(strings.Replace(string(doc), "https://api.twilio.com", gateway.URL, 1))

	cfg, err := smscourier.ParseConfig(doc)
	if err != nil {
		log.Fatal(err)
	}
	courier, err := smscourier.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	res, err := courier.SendMessage(context.Background(), smscourier.Message{
		To:   "+14134242223",
		Body: "Your verification code is 123456",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent: status %d after %d attempt(s), reply %s\n", res.StatusCode, res.Attempts, res.Body)
}
