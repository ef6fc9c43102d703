// Command otel shows OpenTelemetry tracing and metrics of smscourier sends:
// the courier's HTTP client gets an otelhttp transport, so every attempt is
// a client span, and WithObserver feeds package smsmetrics, which records
// attempts by class, their latency and the segments of each message. It runs
// against a fake gateway in the same process and prints the spans and the
// metrics. This example is its own module so that the core module does not
// depend on OpenTelemetry.
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
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/examples/otel/smsmetrics"
)

func main() {
	exporter, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout), stdouttrace.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	otel.SetTracerProvider(tp)

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	observe, err := smsmetrics.NewObserver(mp.Meter("smscourier"))
	if err != nil {
		log.Fatal(err)
	}

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
		smscourier.WithObserver(observe),
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

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					fmt.Printf("metric: %s %v = %d\n", m.Name, dp.Attributes.ToSlice(), dp.Value)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					fmt.Printf("metric: %s %v count=%d\n", m.Name, dp.Attributes.ToSlice(), dp.Count)
				}
			case metricdata.Histogram[int64]:
				for _, dp := range data.DataPoints {
					fmt.Printf("metric: %s %v count=%d sum=%d\n", m.Name, dp.Attributes.ToSlice(), dp.Count, dp.Sum)
				}
			}
		}
	}
}
