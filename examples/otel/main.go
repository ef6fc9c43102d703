// Command otel shows OpenTelemetry tracing of smscourier sends: the courier's
// HTTP client gets an otelhttp transport, so every attempt is a client span,
// and WithObserver feeds a metrics hook. It runs against a fake gateway in
// the same process and prints the spans and events. This example is its own
// module so that the core module does not depend on OpenTelemetry.
//
//	cd examples/otel && go run .
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/smscourier/smscourier"
)

func main() {
	exporter, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout), stdouttrace.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	otel.SetTracerProvider(tp)

	// A gateway that throttles the first request.
	var calls atomic.Int32
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer gateway.Close()

	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport), Timeout: 10 * time.Second}
	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL:    gateway.URL + "/v1/messages",
			Method: http.MethodPost,
			Body:   "base64://ZnVuY3Rpb24oY3R4KSB7IHRvOiBjdHgudG8sIGZyb206IGN0eC5mcm9tLCB0ZXh0OiBjdHguYm9keSB9",
		},
	},
		smscourier.WithHTTPClient(client),
		smscourier.WithObserver(func(e smscourier.Event) {
			// Feed your metrics here: a counter by class, a latency histogram.
			fmt.Printf("event: attempt=%d class=%s status=%d final=%v\n", e.Attempt, e.Class, e.Status, e.Final)
		}),
	)
	if err != nil {
		log.Fatal(err)
	}

	ctx, span := tp.Tracer("example").Start(context.Background(), "send verification code")
	res, err := courier.SendMessage(ctx, smscourier.Message{To: "+14134242223", Body: "Your code is 123456"})
	span.End()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent: status %d after %d attempts\n", res.StatusCode, res.Attempts)
}
