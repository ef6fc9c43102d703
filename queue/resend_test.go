package queue

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replyIDs makes gw accept every message with the id prefix-KEY.
func replyIDs(gw *smstest.Gateway, prefix string) {
	gw.Respond(func(r smstest.Request) smstest.Reply {
		key, _ := r.JSONField("key").(string)
		return smstest.Reply{Status: 201, Body: `{"id":"` + prefix + `-` + key + `"}`}
	})
}

// resendRouter returns a Router over gateways primary, secondary and
// tertiary, in that order, whose default route resends undelivered
// messages when resend is set.
func resendRouter(t *testing.T, primary, secondary, tertiary *smstest.Gateway, resend bool) *smscourier.Router {
	t.Helper()
	r, err := smscourier.NewRouter(smscourier.RoutingConfig{
		Gateways: map[string]smscourier.SMSConfig{
			"primary": gatewayConfig(primary), "secondary": gatewayConfig(secondary), "tertiary": gatewayConfig(tertiary),
		},
		Default: smscourier.Route{
			Gateways:          []smscourier.RouteStep{{Gateway: "primary"}, {Gateway: "secondary"}, {Gateway: "tertiary"}},
			ResendUndelivered: resend,
		},
	}, smscourier.WithoutRetries())
	require.NoError(t, err)
	return r
}

// TestResendUndelivered: a message the primary took and its receipt says
// undelivered is sent once more, at the secondary, under the same key, and
// its lifecycle goes on there; a second undelivered receipt, or one about
// the resend, resends nothing; a route without resend_undelivered and a
// delivered receipt resend nothing.
func TestResendUndelivered(t *testing.T) {
	for _, tc := range []struct {
		name          string
		resend        bool
		status        receipt.Status
		wantSecondary int
	}{
		{name: "undelivered, resent", resend: true, status: receipt.StatusUndelivered, wantSecondary: 1},
		{name: "failed, resent", resend: true, status: receipt.StatusFailed, wantSecondary: 1},
		{name: "delivered, not resent", resend: true, status: receipt.StatusDelivered},
		{name: "the route does not resend", status: receipt.StatusUndelivered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, secondary, tertiary := smstest.New(t), smstest.New(t), smstest.New(t)
			replyIDs(primary, "p")
			replyIDs(secondary, "s")
			replyIDs(tertiary, "t")
			db := newDB(t)
			res := NewResender(nil)
			reports := &reportLog{}
			tr, err := NewTracker(db, TrackerConfig{Retention: -1, OnFinal: func(ctx context.Context, r DeliveryReport) {
				reports.add(ctx, r)
				res.OnFinal(ctx, r)
			}})
			require.NoError(t, err)
			require.NoError(t, tr.Migrate(context.Background()))
			w := NewWorker(resendRouter(t, primary, secondary, tertiary, tc.resend), WorkerConfig{Tracker: tr, Resender: res})
			h := &harness{db: db}
			h.client = newClient(t, db, w, testConfig())
			h.start(t)

			first, err := Enqueue(context.Background(), h.client, message("otp-1"), nil)
			require.NoError(t, err)
			h.waitKind(t, Kind, 1)
			require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("p-otp-1", tc.status, "30003", time.Now())}))
			// OnFinal runs in Receive: a resend is queued, or not, when it
			// returns.
			jobCount := func() int {
				res, err := h.client.JobList(context.Background(), river.NewJobListParams().Kinds(Kind).First(10))
				require.NoError(t, err)
				return len(res.Jobs)
			}
			if tc.wantSecondary == 0 {
				assert.Equal(t, 1, jobCount(), "no resend queued")
				secondary.AssertCount(t, 0)
				primary.AssertCount(t, 1)
				return
			}
			assert.Equal(t, 2, jobCount(), "a resend queued")
			jobs := h.waitKind(t, Kind, 1)
			var resend *rivertype.JobRow
			for _, j := range jobs {
				resend = j
			}
			out := output(t, resend)
			assert.Equal(t, OutcomeSent, out.Outcome)
			assert.Equal(t, "secondary", out.Gateway)
			assert.Equal(t, first.Job.ID, out.ResendOf)
			assert.Equal(t, map[string]int{"otp-1": 1}, keysAt(primary))
			assert.Equal(t, map[string]int{"otp-1": 1}, keysAt(secondary), "resent once, under the same key")

			lc, err := tr.Lookup(context.Background(), "otp-1")
			require.NoError(t, err)
			assert.Equal(t, StateSent, lc.State)
			assert.Equal(t, "secondary", lc.Gateway)
			assert.Equal(t, "s-otp-1", lc.MessageID)
			firstSend, err := tr.LookupMessageID(context.Background(), "p-otp-1")
			require.NoError(t, err, "found by the first send's id too")
			assert.Equal(t, lc, firstSend)
			require.Len(t, lc.Receipts, 1, "the first send's receipt is the message's")
			assert.Equal(t, "p-otp-1", lc.Receipts[0].MessageID)

			// The resend's job gone (past the queue's retention), then its
			// undelivered receipt, and another of the first send: nothing
			// more is sent, as a receipt about a resend never resends.
			_, err = h.client.JobDelete(context.Background(), resend.ID)
			require.NoError(t, err)
			require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{
				dlr("p-otp-1", receipt.StatusUndelivered, "30005", time.Now()),
				dlr("s-otp-1", receipt.StatusUndelivered, "30003", time.Now()),
			}))
			assert.Equal(t, 1, jobCount(), "no second resend")
			primary.AssertCount(t, 1)
			secondary.AssertCount(t, 1)
			tertiary.AssertCount(t, 0)
			lc, err = tr.Lookup(context.Background(), "otp-1")
			require.NoError(t, err)
			assert.Equal(t, StateUndelivered, lc.State)
			assert.Equal(t, "secondary", lc.Gateway)
			assert.Len(t, lc.Receipts, 3, "both sends' receipts")
		})
	}
}
