//go:build postgres

package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier/internal/pgtest"
	"github.com/smscourier/smscourier/queue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	afterTests = append(afterTests, func() { _ = pgtest.StopShared() })
}

// pgJobs returns a client that reads the jobs of the queue at dsn.
func pgJobs(t *testing.T, dsn string) (jobGetter, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	client, err := queue.NewClient[pgx.Tx](riverpgxv5.New(pool), nil, queue.Config{})
	require.NoError(t, err)
	return client, pool
}

// TestSendCountsInThePostgresStore: send --database counts the guard's
// limits in the queue's PostgreSQL database, so that a recipient's
// cooldown holds across sends; without migrate, it names the command;
// without a key secret (here from the environment), it names the key.
func TestSendCountsInThePostgresStore(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	gw := newGateway(t)
	dir := writeFiles(t, map[string]string{"kratos.yml": guardDoc(gw, "limits:\n  recipient: {cooldown: 1h}\n")})
	env := []string{"SMSCOURIER_GUARD_KEY_SECRET=" + keySecret}
	send := func(key string, flags ...string) result {
		return runCLI(t, dir, env, append([]string{"send", "--config", "kratos.yml", "--database", dsn, "--to", numberGB, "--body", "Your code is 123456", "--idempotency-key", key}, flags...)...)
	}

	r := send("otp-0")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "has no tables for the guard; create them first with: smscourier migrate --database ")
	gw.AssertCount(t, 0)

	r = runCLI(t, dir, nil, "migrate", "--database", dsn)
	require.Equal(t, exitOK, r.code, r.stderr)

	r = send("otp-0", "--env=false")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "  smscourier.guard.key_secret: required with a Store other than a MemoryStore")
	gw.AssertCount(t, 0)

	r = send("otp-1")
	require.Equal(t, exitOK, r.code, r.stderr)
	r = send("otp-2")
	assert.Equal(t, exitBlocked, r.code, r.stderr)
	assert.Contains(t, r.stdout, "class: blocked\n")
	assert.Regexp(t, `rule: recipient_cooldown\ncountry: GB\nretry_after: 59m5\d`, r.stdout)
	assert.Regexp(t, `^smscourier: blocked by recipient_cooldown \(country GB\); allowed again in 59m5\d.*; nothing was sent\n$`, r.stderr)
	gw.AssertCount(t, 1)

	// A retry of the message let through passes again, uncounted.
	r = send("otp-1")
	assert.Equal(t, exitOK, r.code, r.stderr)
	gw.AssertCount(t, 2)

	r = runCLI(t, dir, nil, "send", "--config", "kratos.yml", "--database", "./queue.db", "--to", numberGB, "--body", "x")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--database of send must be a PostgreSQL URL")
}

// TestWorkerThroughThePostgresGuard is TestWorkerThroughTheGuard with the
// queue and the guard's store in one PostgreSQL database.
func TestWorkerThroughThePostgresGuard(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	gw := newGateway(t)
	ctx := context.Background()
	code, _, stderr := invoke(ctx, "migrate", "--database", dsn)
	require.Equal(t, exitOK, code, stderr)
	plain := writeGuardConfig(t, gw, "")
	const cooldown = 1500 * time.Millisecond
	const guard = denyFR + "limits:\n  recipient: {cooldown: 1500ms}\n"
	config := writeGuardConfig(t, gw, guard+"key_secret: "+keySecret+"\n")
	jobs, pool := pgJobs(t, dsn)

	// A shared store needs the key secret.
	code, _, stderr = invoke(ctx, "worker", "--config", writeGuardConfig(t, gw, guard), "--database", dsn)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "  smscourier.guard.key_secret: required with a Store other than a MemoryStore")

	denied := enqueue(t, plain, dsn, numberFR, "otp-fr")
	first := enqueue(t, config, dsn, numberGB, "otp-1")
	second := enqueue(t, config, dsn, numberGB, "otp-2")

	w := startWorker(t, nil, "--config", config, "--database", dsn)
	rows := waitJobs(t, w, jobs, denied, first, second)
	w.stop()
	require.Equal(t, exitOK, w.code, w.log.String())

	assert.Equal(t, rivertype.JobStateCancelled, rows[0].State)
	out, ok := queue.OutputOf(rows[0])
	require.True(t, ok)
	assert.Equal(t, "blocked by the guard's rule deny_country; not sent", out.Reason)
	assert.Equal(t, rivertype.JobStateCompleted, rows[1].State)
	assert.Equal(t, rivertype.JobStateCompleted, rows[2].State)
	require.True(t, gw.AssertCount(t, 2), "exactly the two GB messages, once each")
	reqs := gw.Requests()
	assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), cooldown/2, "the second was sent before the cooldown passed")

	logs := w.log.String()
	assert.Contains(t, logs, "guard=postgres")
	assert.NotContains(t, logs, keySecret)
	assert.Contains(t, logs, `msg="smscourier: blocked" rule=recipient_cooldown country=GB`)
	var admissions int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM smscourier_guard_admissions").Scan(&admissions))
	assert.Equal(t, 2, admissions, "the guard counted in PostgreSQL")
}
