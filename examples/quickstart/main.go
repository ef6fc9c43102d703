// Command quickstart sends one SMS through a Kratos-style Twilio config to a
// fake Twilio gateway running in the same process, and prints what the
// gateway received. Run it from the repository root:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
)

func main() {
	// A fake gateway (package smstest) that answers like Twilio: 201 with
	// the message's sid.
	gateway := smstest.NewServer()
	defer gateway.Close()
	gateway.Script(smstest.Reply{
		Status: http.StatusCreated,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   `{"sid":"SM0123456789abcdef","status":"queued"}`,
	})

	doc, err := os.ReadFile("examples/quickstart/kratos.yml")
	if err != nil {
		log.Fatalf("%v (run from the repository root)", err)
	}
	// Point the config at the fake gateway instead of api.twilio.com.
	doc = []byte(strings.Replace(string(doc), "https://api.twilio.com", gateway.URL(), 1))

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

	r := gateway.Requests()[0]
	user, _, _ := r.BasicAuth()
	fmt.Println("gateway received:")
	fmt.Printf("  %s %s\n", r.Method, r.Path)
	fmt.Printf("  Content-Type: %s\n", r.Header.Get("Content-Type"))
	fmt.Printf("  basic auth user: %s\n", user)
	for _, k := range []string{"From", "To", "Body"} {
		fmt.Printf("  %s=%s\n", k, r.FormValue(k))
	}
	fmt.Printf("  raw body: %s\n", r.Body)
	fmt.Printf("sent: status %d after %d attempt(s), reply %s\n", res.StatusCode, res.Attempts, res.Body)
}
