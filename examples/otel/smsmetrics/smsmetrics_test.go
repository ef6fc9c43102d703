package smsmetrics_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/examples/otel/smsmetrics"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

func TestObserverRecordsAttemptsDurationsAndSegments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	obs, err := smsmetrics.NewObserver(provider.Meter("test"))
	require.NoError(t, err)

	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "0"}, smstest.Reply{Status: http.StatusCreated})
	tmpl := base64.StdEncoding.EncodeToString([]byte(`function(ctx) {to: ctx.to, text: ctx.body}`))
	courier, err := smscourier.New(smscourier.SMSConfig{Enabled: true, RequestConfig: smscourier.RequestConfig{
		URL: gw.Endpoint("/v1/messages"), Method: http.MethodPost, Body: "base64://" + tmpl,
	}}, smscourier.WithObserver(obs), smscourier.WithRetryPolicy(smscourier.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	require.NoError(t, err)
	long := strings.Repeat("x", 200) // two segments of GSM-7
	require.NoError(t, courier.Send(context.Background(), "+14134242223", long))

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}

	counts := map[attribute.Distinct]int64{}
	sum, ok := got["smscourier.attempts"].(metricdata.Sum[int64])
	require.True(t, ok, "smscourier.attempts is an int64 counter")
	for _, dp := range sum.DataPoints {
		counts[dp.Attributes.Equivalent()] = dp.Value
	}
	refused := attribute.NewSet(attribute.String("smscourier.class", "refused"), attribute.Bool("final", false))
	sent := attribute.NewSet(attribute.String("smscourier.class", "ok"), attribute.Bool("final", true))
	assert.Equal(t, map[attribute.Distinct]int64{refused.Equivalent(): 1, sent.Equivalent(): 1}, counts)

	durations, ok := got["smscourier.attempt.duration"].(metricdata.Histogram[float64])
	require.True(t, ok)
	var n uint64
	for _, dp := range durations.DataPoints {
		n += dp.Count
	}
	assert.Equal(t, uint64(2), n, "one duration per attempt")

	segments, ok := got["smscourier.segments"].(metricdata.Histogram[int64])
	require.True(t, ok)
	require.Len(t, segments.DataPoints, 1, "one record per send")
	assert.Equal(t, uint64(1), segments.DataPoints[0].Count)
	assert.Equal(t, int64(2), segments.DataPoints[0].Sum)
}

// TestObserverSkipsBreakerEvents checks that a Router's breaker changes,
// which are not attempts, record nothing.
func TestObserverSkipsBreakerEvents(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	obs, err := smsmetrics.NewObserver(provider.Meter("test"))
	require.NoError(t, err)
	obs(smscourier.Event{Gateway: "twilio", Breaker: smscourier.BreakerOpen})
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				assert.Empty(t, d.DataPoints, m.Name)
			case metricdata.Histogram[float64]:
				assert.Empty(t, d.DataPoints, m.Name)
			}
		}
	}
}

func TestDeliveryObserver(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	obs, err := smsmetrics.NewDeliveryObserver(provider.Meter("test"))
	require.NoError(t, err)

	obs(receipt.Delivery{Gateway: "primary", CallingCode: "+44", Status: receipt.StatusDelivered, Latency: 3 * time.Second})
	obs(receipt.Delivery{Gateway: "primary", CallingCode: "+44", Status: receipt.StatusDelivered, Latency: 5 * time.Second})
	obs(receipt.Delivery{Gateway: "primary", CallingCode: "+44", Status: receipt.StatusUndelivered, Latency: 40 * time.Second})
	obs(receipt.Delivery{Gateway: "backup", CallingCode: "+33", Status: receipt.StatusFailed}) // no latency known

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	set := func(gw, cc string, st receipt.Status) attribute.Distinct {
		s := attribute.NewSet(attribute.String("smscourier.gateway", gw), attribute.String("smscourier.calling_code", cc),
			attribute.String("smscourier.delivery.status", string(st)))
		return s.Equivalent()
	}
	sum, ok := got["smscourier.deliveries"].(metricdata.Sum[int64])
	require.True(t, ok, "smscourier.deliveries is an int64 counter")
	counts := map[attribute.Distinct]int64{}
	for _, dp := range sum.DataPoints {
		counts[dp.Attributes.Equivalent()] = dp.Value
	}
	assert.Equal(t, map[attribute.Distinct]int64{
		set("primary", "+44", receipt.StatusDelivered):   2,
		set("primary", "+44", receipt.StatusUndelivered): 1,
		set("backup", "+33", receipt.StatusFailed):       1,
	}, counts)

	hist, ok := got["smscourier.delivery.latency"].(metricdata.Histogram[float64])
	require.True(t, ok)
	latencies := map[attribute.Distinct][2]float64{} // count, sum
	for _, dp := range hist.DataPoints {
		latencies[dp.Attributes.Equivalent()] = [2]float64{float64(dp.Count), dp.Sum}
	}
	assert.Equal(t, map[attribute.Distinct][2]float64{
		set("primary", "+44", receipt.StatusDelivered):   {2, 8},
		set("primary", "+44", receipt.StatusUndelivered): {1, 40},
	}, latencies, "a delivery without a known latency is counted, not timed")
}
