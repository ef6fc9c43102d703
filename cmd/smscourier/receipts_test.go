package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/smscourier/smscourier/presets"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"github.com/smscourier/smscourier/smstest"
)

// receiptsSecret is the webhook preset's receipt secret in these tests.
const receiptsSecret = "a-webhook-receipt-secret-0123"

// writeWebhookConfig writes a config of the webhook preset sending to gw,
// with the webhook's receipts under smscourier.receipts.
func writeWebhookConfig(t *testing.T, gw *smstest.Gateway) string {
	t.Helper()
	req, err := presets.Template("webhook", presets.RequestFile)
	require.NoError(t, err)
	resp, err := presets.Template("webhook", presets.ResponseFile)
	require.NoError(t, err)
	doc := "courier:\n  sms:\n    enabled: true\n    from: \"+12065550110\"\n    request_config:\n" +
		"      url: " + gw.Endpoint("/v1/messages") + "\n" +
		"      method: POST\n" +
		"      body: " + b64(string(req)) + "\n" +
		"      response: " + b64(string(resp)) + "\n" +
		"      headers: {Content-Type: application/json}\n" +
		"smscourier:\n  receipts:\n    providers:\n      webhook: {}\n"
	path := filepath.Join(t.TempDir(), "kratos.yml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	return path
}

var receiptsAddr = regexp.MustCompile(`msg="smscourier: serving delivery receipts" addr=(\S+)`)

// waitReceiptsAddr returns the address the worker serves receipts on, once
// its log says so.
func waitReceiptsAddr(t *testing.T, w *runningWorker) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := receiptsAddr.FindStringSubmatch(w.log.String()); m != nil {
			return m[1]
		}
		select {
		case <-w.done:
			t.Fatalf("the worker returned %d:\n%s", w.code, w.log.String())
		case <-deadline:
			t.Fatalf("no receipts server after 30 s:\n%s", w.log.String())
		case <-time.After(10 * time.Millisecond): // poll
		}
	}
}

// TestWorkerServesReceipts: a worker with --receipts-addr serves the
// webhook's receipt endpoint; the fake gateway posts each message's
// receipts back, duplicated and out of order; status shows each message
// delivered, with its receipts.
func TestWorkerServesReceipts(t *testing.T) {
	db := filepath.Join(t.TempDir(), "queue.db")
	code, _, stderr := invoke(context.Background(), "migrate", "--database", db)
	require.Equal(t, exitOK, code, stderr)
	testWorkerServesReceipts(t, db, sqliteJobs(t, db))
}

// testWorkerServesReceipts runs TestWorkerServesReceipts on the migrated
// database db, whose jobs jobs reads.
func testWorkerServesReceipts(t *testing.T, db string, jobs jobGetter) {
	gw := smstest.New(t)
	config := writeWebhookConfig(t, gw)

	env := []string{"SMSCOURIER_RECEIPTS_PROVIDERS_WEBHOOK_SECRET=" + receiptsSecret}
	w := startWorker(t, env, "--config", config, "--database", db, "--receipts-addr", "127.0.0.1:0")
	url := "http://" + waitReceiptsAddr(t, w) + "/receipts/webhook"
	poster, err := smstest.NewReceiptPoster("webhook", url, smstest.ReceiptCredentials{Secret: receiptsSecret})
	require.NoError(t, err)
	// Queued once the gateway answers as the webhook preset's service
	// does and posts the receipts back.
	gw.PostReceipts(poster, smstest.ReceiptPlan{Duplicate: true, OutOfOrder: true})
	first := enqueue(t, config, db, numberGB, "otp-1")
	second := enqueue(t, config, db, numberFR, "otp-2")

	waitJobs(t, w, jobs, first, second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, gw.WaitReceiptPosts(ctx, 8), "2 messages, 2 receipts each, each posted twice: %+v\n%s", gw.ReceiptPosts(), w.log.String())
	for _, p := range gw.ReceiptPosts() {
		assert.Equal(t, 200, p.StatusCode, "%+v", p)
	}
	forged, err := smstest.NewReceiptPoster("webhook", url, smstest.ReceiptCredentials{Secret: "another-secret-0123456789"})
	require.NoError(t, err)
	status, err := forged.Post(context.Background(), smstest.DLR{MessageID: "msg-1", Status: smstest.DLRUndelivered})
	require.NoError(t, err)
	assert.Equal(t, 401, status, "a receipt signed with another secret")
	w.stop()
	require.Equal(t, exitOK, w.code, w.log.String())
	gw.AssertCount(t, 2)

	for _, key := range []string{"otp-1", "otp-2"} {
		code, out, stderr := invoke(context.Background(), "status", "--database", db, "--key", key)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, out, "state: delivered\n", out)
		assert.Regexp(t, `(?m)^  queued .*\n  sending .*\n  sent .*\n  delivered `, out)
		assert.Regexp(t, `(?m)^receipts:\n  .* webhook delivered \(delivered\)  received .*\n  .* webhook sent \(sent\)  received .*\n\z`, out,
			"each receipt once, in the order of their times")
		assert.NotContains(t, out, numberGB[1:])
		assert.NotContains(t, out, numberFR[1:])
	}
	code, out, stderr := invoke(context.Background(), "status", "--database", db, "--message-id", "msg-1", "--json")
	require.Equal(t, exitOK, code, stderr)
	var lc queue.Lifecycle
	require.NoError(t, json.Unmarshal([]byte(out), &lc))
	assert.Equal(t, queue.StateDelivered, lc.State)
	assert.Equal(t, "msg-1", lc.MessageID)
	assert.Len(t, lc.Receipts, 2)

	logs := w.log.String()
	assert.Regexp(t, `msg="smscourier: message ended" idempotency_key=otp-1 state=delivered`, logs)
	assert.Regexp(t, `msg="smscourier: message ended" idempotency_key=otp-2 state=delivered`, logs)
	assert.Regexp(t, `msg="smscourier: receipt refused" provider=webhook status=401`, logs)
	assert.NotContains(t, logs, receiptsSecret)
}

// TestStatusProblems: status needs exactly one of --key and
// --message-id, a migrated database, and a message it knows; a message
// no worker took yet is queued.
func TestStatusProblems(t *testing.T) {
	_, config, db := migratedQueue(t)
	enqueue(t, config, db, numberGB, "otp-1")
	code, out, stderr := invoke(context.Background(), "status", "--database", db, "--key", "otp-1")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "idempotency_key: otp-1\n")
	assert.Contains(t, out, "state: queued\n")
	assert.Contains(t, out, "receipts: none\n")

	// River's tables without the lifecycle's, as an older migrate left
	// them: status and the worker name the migration to run.
	riverOnly := filepath.Join(t.TempDir(), "river-only.db")
	sqlDB, err := sqlitedb.Open(context.Background(), riverOnly)
	require.NoError(t, err)
	require.NoError(t, queue.Migrate(context.Background(), riversqlite.New(sqlDB)))
	require.NoError(t, sqlDB.Close())
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"neither", []string{"status", "--database", db}, exitUsage, "give one of --key and --message-id"},
		{"both", []string{"status", "--database", db, "--key", "k", "--message-id", "m"}, exitUsage, "give one of --key and --message-id"},
		{"unknown key", []string{"status", "--database", db, "--key", "nope"}, exitFailure, "no such message"},
		{"unknown id", []string{"status", "--database", db, "--message-id", "nope"}, exitFailure, "no such message"},
		{"no lifecycle tables", []string{"status", "--database", riverOnly, "--key", "k"}, exitFailure,
			"lacks the message lifecycle tables (smscourier_messages...) this program needs; create them first with: smscourier migrate --database " + riverOnly},
		{"worker without lifecycle tables", []string{"worker", "--config", config, "--database", riverOnly}, exitFailure,
			"create them first with: smscourier migrate --database " + riverOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := invoke(context.Background(), tc.args...)
			assert.Equal(t, tc.code, code, stderr)
			assert.Contains(t, stderr, tc.err)
		})
	}
}

// TestWorkerReceiptsNeedAConfig: --receipts-addr without providers under
// smscourier.receipts fails at start, before serving anything.
func TestWorkerReceiptsNeedAConfig(t *testing.T) {
	_, config, db := migratedQueue(t)
	code, _, stderr := invoke(context.Background(), "worker", "--config", config, "--database", db, "--receipts-addr", "127.0.0.1:0")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "no providers under smscourier.receipts")
}

// writeResendConfig writes a routing config of two gateways of the
// webhook preset, primary then secondary, whose default route resends
// undelivered messages, with the webhook's receipts.
func writeResendConfig(t *testing.T, primary, secondary *smstest.Gateway) string {
	t.Helper()
	req, err := presets.Template("webhook", presets.RequestFile)
	require.NoError(t, err)
	resp, err := presets.Template("webhook", presets.ResponseFile)
	require.NoError(t, err)
	gateway := func(name string, gw *smstest.Gateway) string {
		return "    " + name + ":\n      from: \"+12065550110\"\n      request_config:\n" +
			"        url: " + gw.Endpoint("/v1/messages") + "\n" +
			"        method: POST\n" +
			"        body: " + b64(string(req)) + "\n" +
			"        response: " + b64(string(resp)) + "\n" +
			"        headers: {Content-Type: application/json}\n"
	}
	doc := "smscourier:\n  gateways:\n" + gateway("primary", primary) + gateway("secondary", secondary) +
		"  default_route: {gateways: [primary, secondary], resend_undelivered: true}\n" +
		"  receipts:\n    providers:\n      webhook: {}\n"
	path := filepath.Join(t.TempDir(), "routing.yml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	return path
}

// TestWorkerResendsUndelivered: with a route that resends undelivered
// messages, a message the primary's receipt reports undelivered is sent
// once more at the secondary, whose receipt delivers it; status shows
// both sends' receipts.
func TestWorkerResendsUndelivered(t *testing.T) {
	primary, secondary := smstest.New(t), smstest.New(t)
	config := writeResendConfig(t, primary, secondary)
	db := filepath.Join(t.TempDir(), "queue.db")
	code, _, stderr := invoke(context.Background(), "migrate", "--database", db)
	require.Equal(t, exitOK, code, stderr)

	env := []string{"SMSCOURIER_RECEIPTS_PROVIDERS_WEBHOOK_SECRET=" + receiptsSecret}
	w := startWorker(t, env, "--config", config, "--database", db, "--receipts-addr", "127.0.0.1:0")
	url := "http://" + waitReceiptsAddr(t, w) + "/receipts/webhook"
	poster, err := smstest.NewReceiptPoster("webhook", url, smstest.ReceiptCredentials{Secret: receiptsSecret})
	require.NoError(t, err)
	primary.PostReceipts(poster, smstest.ReceiptPlan{Statuses: []string{smstest.DLRSent, smstest.DLRUndelivered}, ErrorCode: "30003", IDPrefix: "p-"})
	secondary.PostReceipts(poster, smstest.ReceiptPlan{IDPrefix: "s-"})
	enqueue(t, config, db, numberGB, "otp-1")

	deadline := time.After(time.Minute)
	var out string
	for !strings.Contains(out, "state: delivered\n") {
		select {
		case <-w.done:
			t.Fatalf("the worker returned %d:\n%s", w.code, w.log.String())
		case <-deadline:
			t.Fatalf("not delivered after a minute:\n%s\n%s", out, w.log.String())
		case <-time.After(20 * time.Millisecond): // poll
		}
		_, out, _ = invoke(context.Background(), "status", "--database", db, "--key", "otp-1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, secondary.WaitReceiptPosts(ctx, 2))
	w.stop()
	require.Equal(t, exitOK, w.code, w.log.String())

	assert.Equal(t, 1, primary.Count(), "sent once at the primary")
	assert.Equal(t, 1, secondary.Count(), "and once more at the secondary")
	assert.Equal(t, "otp-1", secondary.RequireRequest(t, 0).JSONField("idempotency_key"), "under the same key")
	assert.Contains(t, out, "gateway: secondary\nmessage_id: s-msg-1\n")
	assert.Regexp(t, `(?m)^receipts:\n(  .* webhook .*\n){4}\z`, out, "both sends' receipts")
	assert.Contains(t, out, "webhook undelivered (undelivered) error_code 30003")
	logs := w.log.String()
	assert.Contains(t, logs, "resend_undelivered=true")
	assert.Regexp(t, `msg="smscourier/queue: resend queued" idempotency_key=otp-1 state=undelivered error_code=30003 after=primary .* gateway=secondary`, logs)
}
