// Package smsmetrics turns smscourier's events into OpenTelemetry metrics:
// a consumer of smscourier.Event for WithObserver.
//
//	obs, err := smsmetrics.NewObserver(otel.Meter("smscourier"))
//	courier, err := smscourier.New(cfg, smscourier.WithObserver(obs))
//
// It records, for every HTTP attempt:
//
//   - smscourier.attempts (counter): attempts, by smscourier.class and
//     final (whether it was the send's last);
//   - smscourier.attempt.duration (histogram, seconds): the request and reply,
//     by smscourier.class;
//
// and for every send that made an attempt, on its final event:
//
//   - smscourier.segments (histogram): SMS segments per message, by
//     smscourier.class (segments are what providers bill).
//
// NewDeliveryObserver adds delivery rate and latency, from delivery
// receipts (package receipt).
//
// No attribute holds a number, a key or the text: the class and the final
// flag only, so the series stay few. It lives in the examples/otel module so
// that the core module does not depend on OpenTelemetry; its API is small
// enough to copy.
package smsmetrics

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
)

// NewObserver returns a function for smscourier.WithObserver that records
// the instruments above with meter. It fails when an instrument cannot be
// created.
func NewObserver(meter metric.Meter) (func(smscourier.Event), error) {
	attempts, err := meter.Int64Counter("smscourier.attempts",
		metric.WithDescription("HTTP attempts to send an SMS, by outcome class"), metric.WithUnit("{attempt}"))
	if err != nil {
		return nil, err
	}
	duration, err := meter.Float64Histogram("smscourier.attempt.duration",
		metric.WithDescription("Time of one HTTP attempt, request and reply"), metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	segments, err := meter.Int64Histogram("smscourier.segments",
		metric.WithDescription("SMS segments of each message sent or given up"), metric.WithUnit("{segment}"),
		metric.WithExplicitBucketBoundaries(1, 2, 3, 4, 6, 10))
	if err != nil {
		return nil, err
	}
	// The attribute sets, made once: recording then allocates nothing for
	// attributes.
	type sets struct{ class, attempt, final metric.MeasurementOption }
	byClass := map[smscourier.Class]sets{}
	for _, c := range smscourier.Classes() {
		class := attribute.String("smscourier.class", string(c))
		byClass[c] = sets{
			class:   metric.WithAttributeSet(attribute.NewSet(class)),
			attempt: metric.WithAttributeSet(attribute.NewSet(class, attribute.Bool("final", false))),
			final:   metric.WithAttributeSet(attribute.NewSet(class, attribute.Bool("final", true))),
		}
	}
	return func(e smscourier.Event) {
		if e.Breaker != "" {
			return // a Router's circuit breaker changed state: not an attempt
		}
		ctx := context.Background()
		s := byClass[e.Class]
		if e.Final {
			segments.Record(ctx, int64(e.Segments), s.class)
		}
		if e.Abandoned { // its attempt was recorded already
			return
		}
		if e.Final {
			attempts.Add(ctx, 1, s.final)
		} else {
			attempts.Add(ctx, 1, s.attempt)
		}
		duration.Record(ctx, e.Duration.Seconds(), s.class)
	}, nil
}

// NewDeliveryObserver returns a function that records, for each message
// whose delivery ended (a receipt.Delivery, as package queue's message
// lifecycle reports it), with meter:
//
//   - smscourier.deliveries (counter): messages whose delivery ended, by
//     smscourier.gateway, smscourier.calling_code ("+44") and
//     smscourier.delivery.status (delivered, undelivered, failed); the
//     delivery rate of a gateway or a country is its delivered count over
//     its total;
//   - smscourier.delivery.latency (histogram, seconds): from the gateway's
//     acceptance to the final receipt, by gateway, calling code and
//     status, when known.
//
// The gateway and the calling code are the only attributes beside the
// status: a few series per gateway and country.
func NewDeliveryObserver(meter metric.Meter) (func(receipt.Delivery), error) {
	deliveries, err := meter.Int64Counter("smscourier.deliveries",
		metric.WithDescription("Messages whose delivery ended, by gateway, calling code and final status"), metric.WithUnit("{message}"))
	if err != nil {
		return nil, err
	}
	latency, err := meter.Float64Histogram("smscourier.delivery.latency",
		metric.WithDescription("Time from the gateway's acceptance of a message to its final delivery receipt"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600))
	if err != nil {
		return nil, err
	}
	return func(d receipt.Delivery) {
		ctx := context.Background()
		attrs := metric.WithAttributeSet(attribute.NewSet(
			attribute.String("smscourier.gateway", d.Gateway),
			attribute.String("smscourier.calling_code", d.CallingCode),
			attribute.String("smscourier.delivery.status", string(d.Status))))
		deliveries.Add(ctx, 1, attrs)
		if d.Latency > 0 {
			latency.Record(ctx, d.Latency.Seconds(), attrs)
		}
	}, nil
}
