package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers: the
// worker's goroutines, or os/exec's copying goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// invoke runs the command line and returns its exit status and output.
func invoke(ctx context.Context, args ...string) (int, string, string) {
	var stdout, stderr syncBuffer
	code := run(ctx, args, nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// migratedQueue starts a fake gateway, writes a config for it and migrates
// a new SQLite queue database, returning the three.
func migratedQueue(t *testing.T) (*smstest.Gateway, string, string) {
	t.Helper()
	gw := smstest.New(t)
	config := writeConfig(t, gw)
	db := filepath.Join(t.TempDir(), "queue.db")
	code, _, stderr := invoke(context.Background(), "migrate", "--database", db)
	require.Equal(t, exitOK, code, stderr)
	return gw, config, db
}

// writeConfig writes a Kratos config that sends JSON to gw.
func writeConfig(t *testing.T, gw *smstest.Gateway) string {
	t.Helper()
	tmpl := base64.StdEncoding.EncodeToString([]byte(`function(ctx) { to: ctx.to, text: ctx.body, key: ctx.idempotency_key }`))
	doc := "courier:\n  sms:\n    enabled: true\n    from: \"+12065550110\"\n    request_config:\n" +
		"      url: " + gw.Endpoint("/v1/messages") + "\n" +
		"      method: POST\n" +
		"      body: base64://" + tmpl + "\n"
	path := filepath.Join(t.TempDir(), "kratos.yml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	return path
}

func TestHelp(t *testing.T) {
	ctx := context.Background()
	code, out, _ := invoke(ctx, "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "smscourier migrate")
	for _, name := range []string{"migrate", "worker", "enqueue"} {
		code, out, _ := invoke(ctx, name, "--help")
		assert.Equal(t, exitOK, code, name)
		assert.Contains(t, out, "Usage: smscourier "+name, name)
		assert.Contains(t, out, "-database", name)
		code, out2, _ := invoke(ctx, "help", name)
		assert.Equal(t, exitOK, code, name)
		assert.Equal(t, out, out2)
	}
}

// TestQueueHelpNamesJobAttempts: the queue's attempts are job attempts,
// not the HTTP requests of send --attempts.
func TestQueueHelpNamesJobAttempts(t *testing.T) {
	for _, name := range []string{"worker", "enqueue"} {
		code, out, _ := invoke(context.Background(), name, "--help")
		assert.Equal(t, exitOK, code, name)
		assert.Contains(t, out, "job attempts", name)
	}
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"help", "frobnicate"},
		{"worker"},
		{"enqueue", "--config", "x.yml", "--to", "+1"},
		{"worker", "--config", "x.yml", "--max-workers", "0"},
		{"worker", "--config", "x.yml", "--rate", "-1"},
		{"migrate", "extra"},
		{"migrate", "--database", ""},
	} {
		code, _, stderr := invoke(ctx, args...)
		assert.Equal(t, exitUsage, code, "%q", args)
		assert.NotEmpty(t, stderr, "%q", args)
	}
}

func TestMigrateEnqueueWork(t *testing.T) {
	gw := smstest.New(t)
	config := writeConfig(t, gw)
	db := filepath.Join(t.TempDir(), "queue.db")
	ctx := context.Background()

	code, out, stderr := invoke(ctx, "migrate", "--database", db)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "migrated: "+db+"\n", out)

	enqueue := []string{"enqueue", "--config", config, "--database", "sqlite://" + db, "--to", "+14134242223", "--body", "Your code is 123456", "--idempotency-key", "otp-1"}
	code, out, stderr = invoke(ctx, enqueue...)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `^queued: job \d+, idempotency_key otp-1, state available\n$`, out)
	code, out, stderr = invoke(ctx, enqueue...)
	require.Equal(t, exitOK, code, stderr)
	assert.True(t, strings.HasPrefix(out, "duplicate: job "), out)
	code, out, stderr = invoke(ctx, "enqueue", "--config", config, "--database", "file:"+db, "--to", "+14134242224", "--body", "Your code is 654321")
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `idempotency_key [0-9a-f-]{36}`, out)

	workCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var workCode int
	var workErr syncBuffer
	wg.Go(func() {
		workCode = run(workCtx, []string{"worker", "--config", config, "--database", db, "--rate", "100", "--burst", "10"}, nil, &syncBuffer{}, &workErr)
	})
	require.Eventually(t, func() bool { return gw.Count() == 2 }, 30*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Count(workErr.String(), "outcome=sent") == 2 }, 30*time.Second, 10*time.Millisecond)
	stop()
	wg.Wait()
	assert.Equal(t, exitOK, workCode, workErr.String())

	logs := workErr.String()
	assert.Contains(t, logs, "worker stopped")
	assert.Contains(t, logs, "to=********2223")
	// The courier's word for HTTP requests; River's attempt at the job.
	assert.Equal(t, 2, strings.Count(logs, " job_attempt=1 "), logs)
	assert.Equal(t, 2, strings.Count(logs, " attempts=1 "), logs)
	assert.NotContains(t, logs, "123456", "no text in the logs")
	assert.NotContains(t, logs, "4134242223", "no full number in the logs")
	keys := []any{gw.RequireRequest(t, 0).JSONField("key"), gw.RequireRequest(t, 1).JSONField("key")}
	assert.Contains(t, keys, "otp-1")
}

func TestEnqueueRefusesWhatCannotRender(t *testing.T) {
	gw, config, db := migratedQueue(t)
	ctx := context.Background()

	code, _, stderr := invoke(ctx, "enqueue", "--config", config, "--database", db, "--to", "+1413\n4242223", "--body", "x")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "invalid message")

	code, _, stderr = invoke(ctx, "enqueue", "--config", filepath.Join(t.TempDir(), "missing.yml"), "--database", db, "--to", "+1", "--body", "x")
	assert.Equal(t, exitFailure, code)
	assert.NotEmpty(t, stderr)
	assert.Equal(t, 0, gw.Count())
}

// migrateHint returns the command that an error message on stderr says to
// run, as arguments: the text after "create them first with: ".
func migrateHint(t *testing.T, stderr string) []string {
	t.Helper()
	const lead = "first with: smscourier "
	i := strings.Index(stderr, lead)
	require.GreaterOrEqual(t, i, 0, "no migrate command in %q", stderr)
	line, _, _ := strings.Cut(stderr[i+len(lead):], "\n")
	return strings.Fields(line)
}

func TestEnqueueWithoutMigrationFails(t *testing.T) {
	gw := smstest.New(t)
	config := writeConfig(t, gw)
	db := filepath.Join(t.TempDir(), "queue.db")
	ctx := context.Background()
	enqueue := []string{"enqueue", "--config", config, "--database", "sqlite://" + db, "--to", "+14134242223", "--body", "x"}

	// No file: refused, and no empty file left behind.
	code, out, stderr := invoke(ctx, enqueue...)
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Equal(t, "smscourier enqueue: the database "+db+" does not exist; create it first with: smscourier migrate --database "+db+"\n", stderr)
	assert.NoFileExists(t, db)

	// A SQLite file without River's tables.
	sqlDB, err := sqlitedb.Open(ctx, db)
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
	code, out, stderr = invoke(ctx, enqueue...)
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Equal(t, "smscourier enqueue: the database "+db+" has no River tables; create them first with: smscourier migrate --database "+db+"\n", stderr)
	assert.NotContains(t, stderr, "SQL logic error")

	// The command it names is the cure.
	hint := migrateHint(t, stderr)
	assert.Equal(t, []string{"migrate", "--database", db}, hint)
	code, _, stderr = invoke(ctx, hint...)
	require.Equal(t, exitOK, code, stderr)
	code, out, stderr = invoke(ctx, enqueue...)
	assert.Equal(t, exitOK, code, stderr)
	assert.True(t, strings.HasPrefix(out, "queued: job "), out)
}

func TestWorkerWithoutMigrationFails(t *testing.T) {
	gw := smstest.New(t)
	config := writeConfig(t, gw)
	db := filepath.Join(t.TempDir(), "queue.db")
	// The worker must fail at once, not run until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, _, stderr := invoke(ctx, "worker", "--config", config, "--database", db)
	require.NoError(t, ctx.Err(), "the worker ran instead of failing")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "smscourier worker: the database "+db+" does not exist; create it first with: smscourier migrate --database "+db+"\n")
	assert.NoFileExists(t, db)

	sqlDB, err := sqlitedb.Open(ctx, db)
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
	code, _, stderr = invoke(ctx, "worker", "--config", config, "--database", db)
	require.NoError(t, ctx.Err(), "the worker ran instead of failing")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "smscourier worker: the database "+db+" has no River tables; create them first with: smscourier migrate --database "+db+"\n")
	assert.NotContains(t, stderr, "worker started")
	assert.NotContains(t, stderr, "no such table")
}

// TestEnqueueOnOutdatedSchemaFails: a database migrated by an older River
// lacks migrations this program needs.
func TestEnqueueOnOutdatedSchemaFails(t *testing.T) {
	gw := smstest.New(t)
	config := writeConfig(t, gw)
	db := filepath.Join(t.TempDir(), "queue.db")
	ctx := context.Background()
	sqlDB, err := sqlitedb.Open(ctx, db)
	require.NoError(t, err)
	m, err := rivermigrate.New(riversqlite.New(sqlDB), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{TargetVersion: 4})
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())

	code, _, stderr := invoke(ctx, "enqueue", "--config", config, "--database", db, "--to", "+14134242223", "--body", "x")
	assert.Equal(t, exitFailure, code)
	assert.Regexp(t, `^smscourier enqueue: the database `+regexp.QuoteMeta(db)+` lacks River migrations \[5 6 7 8( \d+)*\] that this program needs; apply them first with: smscourier migrate --database `+regexp.QuoteMeta(db)+"\n$", stderr)
	code, _, stderr = invoke(ctx, migrateHint(t, stderr)...)
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = invoke(ctx, "enqueue", "--config", config, "--database", db, "--to", "+14134242223", "--body", "x")
	assert.Equal(t, exitOK, code, stderr)
}

// TestEnqueueOnNewerSchemaWorks: a migration this program does not know
// (applied by a newer River) does not stop it.
func TestEnqueueOnNewerSchemaWorks(t *testing.T) {
	_, config, db := migratedQueue(t)
	ctx := context.Background()
	sqlDB, err := sqlitedb.Open(ctx, db)
	require.NoError(t, err)
	_, err = sqlDB.ExecContext(ctx, `INSERT INTO river_migration (line, version) VALUES ('main', 999)`)
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())

	code, out, stderr := invoke(ctx, "enqueue", "--config", config, "--database", db, "--to", "+14134242223", "--body", "x")
	assert.Equal(t, exitOK, code, stderr)
	assert.True(t, strings.HasPrefix(out, "queued: job "), out)
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"./smscourier-queue.db": "./smscourier-queue.db",
		"/tmp/a b/q.db":         "'/tmp/a b/q.db'",
		"it's.db":               `'it'\''s.db'`,
		"postgres://u:xxxxx@db:5432/app?sslmode=1": "'postgres://u:xxxxx@db:5432/app?sslmode=1'",
		"": "''",
	} {
		assert.Equal(t, want, shellQuote(in), in)
	}
}

// TestEnqueueReadsTheEnvironment: COURIER_* variables override the config
// file by default, as in Kratos; --env=false ignores them.
func TestEnqueueReadsTheEnvironment(t *testing.T) {
	_, config, db := migratedQueue(t)
	ctx := context.Background()
	environ := []string{"COURIER_SMS_REQUEST_CONFIG_METHOD=BAD METHOD"}
	args := []string{"enqueue", "--config", config, "--database", db, "--to", "+14134242223", "--body", "hi"}

	var stdout, errOut syncBuffer
	code := run(ctx, args, environ, &stdout, &errOut)
	assert.Equal(t, exitFailure, code, "the variable was applied")
	assert.Contains(t, errOut.String(), "COURIER_SMS_REQUEST_CONFIG_METHOD")

	var stdout2, errOut2 syncBuffer
	code = run(ctx, append(args, "--env=false"), environ, &stdout2, &errOut2)
	assert.Equal(t, exitOK, code, errOut2.String())
}

func TestPostgresPasswordRedacted(t *testing.T) {
	code, _, stderr := invoke(context.Background(), "migrate", "--database", "postgres://u:pw-s3cr3t-zq9@127.0.0.1:1/app?sslmode=disable")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "postgres://u:[REDACTED]@127.0.0.1:1/app?sslmode=disable")
	assert.NotContains(t, stderr, "s3cr3t")
}
