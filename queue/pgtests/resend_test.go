//go:build postgres

package pgtests

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResendUndeliveredPostgres: on PostgreSQL, a message the primary took
// and a receipt reports undelivered is sent once more at the secondary,
// under the same key; the resend's own undelivered receipt resends
// nothing.
func TestResendUndeliveredPostgres(t *testing.T) {
	dsn := freshDB(t)
	gws := map[string]*smstest.Gateway{}
	cfgs := map[string]smscourier.SMSConfig{}
	for _, name := range []string{"primary", "secondary", "tertiary"} {
		gw := smstest.New(t)
		prefix := name[:1]
		gw.Respond(func(r smstest.Request) smstest.Reply {
			key, _ := r.JSONField("key").(string)
			return smstest.Reply{Status: 201, Body: `{"id":"` + prefix + `-` + key + `"}`}
		})
		gws[name] = gw
		cfgs[name] = smscourier.SMSConfig{Enabled: true, From: "+12065550110", RequestConfig: smscourier.RequestConfig{
			URL: gw.URL() + "/v1/messages", Method: "POST", Body: b64(bodyTemplate), Response: b64(idResponse),
		}}
	}
	router, err := smscourier.NewRouter(smscourier.RoutingConfig{
		Gateways: cfgs,
		Default: smscourier.Route{
			Gateways:          []smscourier.RouteStep{{Gateway: "primary"}, {Gateway: "secondary"}, {Gateway: "tertiary"}},
			ResendUndelivered: true,
		},
	}, smscourier.WithoutRetries())
	require.NoError(t, err)

	res := queue.NewResender(nil)
	tr, err := queue.NewTracker(sqlDB(t, dsn), queue.TrackerConfig{Retention: -1, OnFinal: res.OnFinal})
	require.NoError(t, err)
	require.NoError(t, tr.Migrate(context.Background()))
	in := startInstance(t, dsn, queue.NewWorker(router, queue.WorkerConfig{Tracker: tr, Resender: res}), queue.Config{})

	sendOne(t, in, "pg-resend")
	jobs := func() int {
		list, err := in.client.JobList(context.Background(), river.NewJobListParams().Kinds(queue.Kind).First(10))
		require.NoError(t, err)
		return len(list.Jobs)
	}
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("p-pg-resend", receipt.StatusUndelivered, "30003", time.Now())}))
	require.Equal(t, 2, jobs(), "a resend queued")
	for _, job := range waitFinal(t, 1, in) {
		out := outputOf(t, job)
		assert.Equal(t, queue.OutcomeSent, out.Outcome)
		assert.Equal(t, "secondary", out.Gateway)
		assert.NotZero(t, out.ResendOf)
	}
	assert.Equal(t, map[string]int{"pg-resend": 1}, keysAt(gws["primary"]))
	assert.Equal(t, map[string]int{"pg-resend": 1}, keysAt(gws["secondary"]))

	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("s-pg-resend", receipt.StatusUndelivered, "30003", time.Now())}))
	assert.Equal(t, 2, jobs(), "a resend is not resent")
	gws["tertiary"].AssertCount(t, 0)
	lc, err := tr.LookupMessageID(context.Background(), "p-pg-resend")
	require.NoError(t, err)
	assert.Equal(t, queue.StateUndelivered, lc.State)
	assert.Equal(t, "secondary", lc.Gateway)
	assert.Len(t, lc.Receipts, 2)
}
