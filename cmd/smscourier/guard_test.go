package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Numbers of the guard tests: valid mobile numbers of France and the
// United Kingdom, as libphonenumber knows them.
const (
	numberFR = "+33612345678"
	numberGB = "+447400123456"
)

// guardDoc returns a Kratos config sending JSON {to, text, key} to gw, with
// guard as its smscourier.guard section (YAML, indented two spaces), or
// none when guard is "".
func guardDoc(gw *smstest.Gateway, guard string) string {
	doc := "courier:\n  sms:\n    enabled: true\n    from: \"+12065550110\"\n    request_config:\n" +
		"      url: " + gw.Endpoint("/v1/messages") + "\n" +
		"      method: POST\n" +
		"      body: " + b64(`function(ctx) { to: ctx.to, text: ctx.body, key: ctx.idempotency_key }`) + "\n"
	if guard != "" {
		doc += "smscourier:\n  guard:\n" + indent(guard, "    ")
	}
	return doc
}

// indent prefixes each line of s with prefix.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

// writeGuardConfig writes guardDoc(gw, guard) into a new directory and
// returns its path.
func writeGuardConfig(t *testing.T, gw *smstest.Gateway, guard string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kratos.yml")
	require.NoError(t, os.WriteFile(path, []byte(guardDoc(gw, guard)), 0o600))
	return path
}

// denyFR is a guard section that refuses French numbers.
const denyFR = "policy:\n  deny_countries: [FR]\n"

func TestSendThroughTheGuard(t *testing.T) {
	cases := []struct {
		name     string
		guard    string
		to       string
		code     int
		stdout   []string
		stderr   string
		requests int
	}{
		{
			name:  "blocked by the policy",
			guard: denyFR, to: numberFR, code: exitBlocked,
			stdout: []string{"status: none\nclass: blocked\nattempts: 0\nidempotency_key: otp-1\nsegments: 1 (GSM-7, 19 characters)\nrule: deny_country\ncountry: FR\n"},
			stderr: "smscourier: blocked by deny_country (country FR); nothing was sent\n",
		},
		{
			name:  "allowed by the policy",
			guard: denyFR, to: numberGB, code: exitOK,
			stdout:   []string{"status: 201\nclass: ok\nattempts: 1\n"},
			requests: 1,
		},
		{
			name:  "a message longer than the segment budget",
			guard: "limits:\n  global: {segments_per_hour: 1}\n", to: numberGB, code: exitBlocked,
			stdout: []string{"class: blocked\n", "rule: global_segments_per_hour\ncountry: GB\n"},
			stderr: "smscourier: blocked by global_segments_per_hour (country GB); nothing was sent\n",
		},
		{
			name:  "dry run: a warning, and sent",
			guard: denyFR + "dry_run: true\n", to: numberFR, code: exitOK,
			stdout:   []string{"status: 201\nclass: ok\n"},
			stderr:   "smscourier send: warning: the guard would block the message by deny_country (country FR); dry_run is on, so it was sent\n",
			requests: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t)
			body := "Your code is 123456"
			if strings.Contains(tc.guard, "segments") {
				body = strings.Repeat("Your code is 123456 ", 9) // 180 characters: 2 segments
			}
			dir := writeFiles(t, map[string]string{"kratos.yml": guardDoc(gw, tc.guard)})
			r := runCLI(t, dir, nil, "send", "--config", "kratos.yml", "--to", tc.to, "--body", body, "--idempotency-key", "otp-1")
			assert.Equal(t, tc.code, r.code, r.stderr)
			for _, want := range tc.stdout {
				assert.Contains(t, r.stdout, want)
			}
			if tc.stderr != "" || tc.code == exitOK {
				assert.Equal(t, tc.stderr, r.stderr)
			}
			assert.NotContains(t, r.stdout+r.stderr, tc.to[1:], "the full number printed")
			assert.NotContains(t, r.stdout+r.stderr, "123456", "the text printed")
			gw.AssertCount(t, tc.requests)
		})
	}
}

func TestValidateAndRenderExplainTheGuard(t *testing.T) {
	gw := newGateway(t)
	const summaryLine = "valid: layout=courier.sms enabled=true method=POST host="
	const guardLine = "guard: dry_run=false policy=deny_countries limits=global.segments_per_hour\n"
	const guard = denyFR + "limits:\n  global: {segments_per_hour: 1}\n"
	long := strings.Repeat("Your code is 123456 ", 9) // 2 segments
	cases := []struct {
		name   string
		guard  string
		args   []string
		code   int
		stdout string // the lines after validate's summary; render: a prefix
		stderr string
	}{
		{
			name: "validate: the guard's settings", guard: guard,
			args:   []string{"validate"},
			stdout: guardLine,
		},
		{
			name: "validate --to: blocked by the policy", guard: guard,
			args: []string{"validate", "--to", numberFR}, code: exitBlocked,
			stdout: guardLine + "guard: --to would be blocked by deny_country (country FR)\n",
		},
		{
			name: "validate --to: allowed", guard: guard,
			args:   []string{"validate", "--to", numberGB},
			stdout: guardLine + "guard: --to is allowed by the policy; the limits are not checked (they count the messages sent)\n",
		},
		{
			name: "validate --to: not E.164", guard: guard,
			args: []string{"validate", "--to", "0612345678"}, code: exitBlocked,
			stdout: guardLine + "guard: --to would be blocked by not_e164\n",
		},
		{
			name: "validate --to: dry run", guard: denyFR + "dry_run: true\n",
			args:   []string{"validate", "--to", numberFR},
			stdout: "guard: dry_run=true policy=deny_countries limits=none\nguard: --to would be blocked by deny_country (country FR), but dry_run is on: it would be sent\n",
		},
		{
			name:   "validate --to without a guard section",
			args:   []string{"validate", "--to", numberFR},
			stdout: "",
		},
		{
			name: "render: blocked by the policy", guard: guard,
			args: []string{"render", "--to", numberFR, "--body", "Your code is 123456"}, code: exitBlocked,
			stderr: "smscourier: blocked by deny_country (country FR); nothing would be sent\n",
		},
		{
			name: "render: a message longer than the segment budget", guard: guard,
			args: []string{"render", "--to", numberGB, "--body", long}, code: exitBlocked,
			stderr: "smscourier: blocked by global_segments_per_hour (country GB); nothing would be sent\n",
		},
		{
			name: "render: allowed", guard: guard,
			args:   []string{"render", "--to", numberGB, "--body", "Your code is 123456"},
			stdout: "POST " + gw.Endpoint("/v1/messages") + "\n",
			stderr: "smscourier render: guard: allowed by the policy, and by the limits with nothing counted yet (so only a segment budget shorter than the message could block it)\n",
		},
		{
			name: "render: dry run", guard: denyFR + "dry_run: true\n",
			args:   []string{"render", "--to", numberFR, "--body", "Your code is 123456", "--json"},
			stdout: "{\n",
			stderr: "smscourier render: guard: would block by deny_country (country FR), but dry_run is on: it would be sent\n",
		},
		{
			name:   "render without a guard section",
			args:   []string{"render", "--to", numberFR, "--body", "Your code is 123456"},
			stdout: "POST " + gw.Endpoint("/v1/messages") + "\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"kratos.yml": guardDoc(gw, tc.guard)})
			args := append([]string{tc.args[0], "--config", "kratos.yml"}, tc.args[1:]...)
			r := runCLI(t, dir, nil, args...)
			assert.Equal(t, tc.code, r.code, r.stderr)
			assert.Equal(t, tc.stderr, r.stderr)
			if tc.args[0] == "validate" {
				first, rest, _ := strings.Cut(r.stdout, "\n")
				assert.True(t, strings.HasPrefix(first, summaryLine), r.stdout)
				assert.Equal(t, tc.stdout, rest)
				return
			}
			assert.True(t, strings.HasPrefix(r.stdout, tc.stdout), r.stdout)
			if tc.code != exitOK {
				assert.Empty(t, r.stdout)
			}
		})
	}
	gw.AssertCount(t, 0)
}

// TestGuardConfigProblems: the guard's problems are reported with the
// courier's, each at its key path, and a section with only a guard
// leaves a Kratos config a Kratos config.
func TestGuardConfigProblems(t *testing.T) {
	gw := newGateway(t)
	doc := strings.Replace(guardDoc(gw, "policy:\n  deny_countries: [XX]\n"),
		"method: POST", "method: P OST", 1)
	dir := writeFiles(t, map[string]string{"kratos.yml": doc})
	r := runCLI(t, dir, nil, "validate", "--config", "kratos.yml")
	assert.Equal(t, exitFailure, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "smscourier: kratos.yml: invalid config:\n")
	assert.Contains(t, r.stderr, "  courier.sms.request_config.method: ")
	assert.Contains(t, r.stderr, "  smscourier.guard.policy.deny_countries[0]: ")
	assert.NotContains(t, r.stderr, "default_route", "read as a routing config")
}

// jobGetter is what the tests need of a River client.
type jobGetter interface {
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

// sqliteJobs returns a client that reads the jobs of the SQLite queue db.
func sqliteJobs(t *testing.T, db string) jobGetter {
	t.Helper()
	sqlDB, err := sqlitedb.Open(context.Background(), db)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sqlDB.Close() })
	client, err := queue.NewClient[*sql.Tx](riversqlite.New(sqlDB), nil, queue.Config{})
	require.NoError(t, err)
	return client
}

var queuedJob = regexp.MustCompile(`^queued: job (\d+), `)

// enqueue queues a message with the config and returns its job id.
func enqueue(t *testing.T, config, db, to, key string) int64 {
	t.Helper()
	code, out, stderr := invoke(context.Background(), "enqueue", "--config", config, "--database", db, "--to", to, "--body", "Your code is 123456", "--idempotency-key", key)
	require.Equal(t, exitOK, code, stderr)
	m := queuedJob.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	id, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return id
}

// runningWorker is a worker run in this process until stop.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	code   int
	log    syncBuffer
}

func startWorker(t *testing.T, environ []string, args ...string) *runningWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &runningWorker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.code = run(ctx, append([]string{"worker"}, args...), environ, &syncBuffer{}, &w.log)
	}()
	t.Cleanup(w.stop)
	return w
}

// stop stops the worker and waits for it to return.
func (w *runningWorker) stop() {
	w.cancel()
	<-w.done
}

// waitJobs waits until every job of ids is finalized (completed,
// cancelled or discarded) and returns them, in the order of ids. It fails
// when w returns first, or after a minute.
func waitJobs(t *testing.T, w *runningWorker, jobs jobGetter, ids ...int64) []*rivertype.JobRow {
	t.Helper()
	deadline := time.After(time.Minute)
	rows := make([]*rivertype.JobRow, len(ids))
	for {
		finished := 0
		for i, id := range ids {
			row, err := jobs.JobGet(context.Background(), id)
			require.NoError(t, err)
			if row.FinalizedAt != nil {
				rows[i] = row
				finished++
			}
		}
		if finished == len(ids) {
			return rows
		}
		select {
		case <-w.done:
			t.Fatalf("the worker returned %d before the jobs %v finished:\n%s", w.code, ids, w.log.String())
		case <-deadline:
			t.Fatalf("jobs %v not finished after a minute:\n%s", ids, w.log.String())
		case <-time.After(20 * time.Millisecond): // poll
		}
	}
}

func TestEnqueueRefusesWhatTheGuardBlocks(t *testing.T) {
	gw, _, db := migratedQueue(t)
	config := writeGuardConfig(t, gw, denyFR)
	ctx := context.Background()

	code, out, stderr := invoke(ctx, "enqueue", "--config", config, "--database", db, "--to", numberFR, "--body", "Your code is 123456")
	assert.Equal(t, exitBlocked, code)
	assert.Equal(t, "class: blocked\nrule: deny_country\ncountry: FR\n", out)
	assert.Equal(t, "smscourier: blocked by deny_country (country FR); nothing was queued\n", stderr)

	sqlDB, err := sqlitedb.Open(ctx, db)
	require.NoError(t, err)
	var jobs int
	require.NoError(t, sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM river_job").Scan(&jobs))
	require.NoError(t, sqlDB.Close())
	assert.Zero(t, jobs, "a blocked message was queued")

	code, out, stderr = invoke(ctx, "enqueue", "--config", config, "--database", db, "--to", numberGB, "--body", "Your code is 123456")
	assert.Equal(t, exitOK, code, stderr)
	assert.True(t, strings.HasPrefix(out, "queued: job "), out)

	// A limit is not counted at enqueue: a cooldown does not refuse a
	// second message to the same number.
	config = writeGuardConfig(t, gw, "limits:\n  recipient: {cooldown: 1h}\n")
	for _, key := range []string{"otp-a", "otp-b"} {
		enqueue(t, config, db, numberGB, key)
	}
	gw.AssertCount(t, 0)
}

// TestWorkerThroughTheGuard runs the worker with a real guard on a
// SQLite queue: a job its policy blocks is cancelled, naming the rule;
// of two jobs to one number under a recipient cooldown, one is sent at
// once and the other snoozed and sent once the cooldown has passed.
func TestWorkerThroughTheGuard(t *testing.T) {
	gw, plain, db := migratedQueue(t)
	const cooldown = 1500 * time.Millisecond
	config := writeGuardConfig(t, gw, denyFR+"limits:\n  recipient: {cooldown: 1500ms}\n")
	jobs := sqliteJobs(t, db)

	// Queued before the policy denied France: the worker refuses it.
	denied := enqueue(t, plain, db, numberFR, "otp-fr")
	first := enqueue(t, config, db, numberGB, "otp-1")
	second := enqueue(t, config, db, numberGB, "otp-2")

	w := startWorker(t, nil, "--config", config, "--database", db)
	rows := waitJobs(t, w, jobs, denied, first, second)
	w.stop()
	require.Equal(t, exitOK, w.code, w.log.String())

	assert.Equal(t, rivertype.JobStateCancelled, rows[0].State)
	out, ok := queue.OutputOf(rows[0])
	require.True(t, ok)
	assert.Equal(t, queue.OutcomeCancelled, out.Outcome)
	assert.Equal(t, "blocked", out.Class)
	assert.Equal(t, "blocked by the guard's rule deny_country; not sent", out.Reason)

	assert.Equal(t, rivertype.JobStateCompleted, rows[1].State)
	assert.Equal(t, rivertype.JobStateCompleted, rows[2].State)
	snoozed := 0
	for _, row := range rows[1:] {
		if strings.Contains(string(row.Metadata), `"snoozes":`) {
			snoozed++
		}
	}
	assert.Equal(t, 1, snoozed, "one of the two jobs snoozed")

	require.True(t, gw.AssertCount(t, 2), "exactly the two GB messages, once each")
	reqs := gw.Requests()
	assert.ElementsMatch(t, []any{"otp-1", "otp-2"}, []any{reqs[0].JSONField("key"), reqs[1].JSONField("key")})
	assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), cooldown/2, "the second was sent before the cooldown passed")

	logs := w.log.String()
	assert.Contains(t, logs, "guard=memory")
	assert.Contains(t, logs, `msg="smscourier: blocked" rule=deny_country country=FR`)
	assert.Contains(t, logs, `msg="smscourier: blocked" rule=recipient_cooldown country=GB`)
	assert.NotContains(t, logs, numberFR[1:], "a full number logged")
	assert.NotContains(t, logs, numberGB[1:], "a full number logged")
}

// TestRouterThroughTheGuard: the guard wraps a Router as it wraps a
// Courier.
func TestRouterThroughTheGuard(t *testing.T) {
	primary, secondary := newGateway(t), newGateway(t)
	doc := routingDoc(primary.URL(), secondary.URL(), "", "  guard:\n    policy:\n      deny_prefixes: [\"+4474\"]\n")
	dir := writeFiles(t, map[string]string{"routing.yml": doc})

	r := runCLI(t, dir, nil, "send", "--config", "routing.yml", "--to", numberGB, "--body", "Your code is 123456", "--idempotency-key", "otp-1")
	assert.Equal(t, exitBlocked, r.code, r.stderr)
	assert.Equal(t, "status: none\nclass: blocked\nattempts: 0\ngateway: none\ntried: none\nidempotency_key: otp-1\n"+
		"segments: 1 (GSM-7, 19 characters)\nrule: deny_prefix\ncountry: GB\n", r.stdout)
	assert.Equal(t, "smscourier: blocked by deny_prefix (country GB); nothing was sent\n", r.stderr)

	r = runCLI(t, dir, nil, "render", "--config", "routing.yml", "--to", "+447700900456", "--body", "Your code is 123456")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, "gateway primary (1 of 2)\n"), r.stdout)
	assert.Contains(t, r.stderr, "guard: allowed by the policy")

	r = runCLI(t, dir, nil, "send", "--config", "routing.yml", "--to", numberFR, "--body", "Your code is 123456")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "gateway: secondary\ntried: secondary ok\n")
	primary.AssertCount(t, 0)
	secondary.AssertCount(t, 1)
}
