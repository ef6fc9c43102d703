package queue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// trackerMigration is one version of the Tracker's tables: its statements
// in each dialect. The SQLite statements say "timestamptz" where the
// PostgreSQL ones do; migrate writes integer there (microseconds since the
// Unix epoch).
type trackerMigration struct {
	version int
	sql     []string
}

// trackerMigrations are the Tracker's schema versions, in order. A version
// once released is never changed: changes are new versions.
var trackerMigrations = []trackerMigration{
	{version: 1, sql: []string{
		// The worker's record of each message, by idempotency key; resent
		// once a Resender queued its one resend.
		`CREATE TABLE smscourier_messages (
			idempotency_key text PRIMARY KEY,
			job_id bigint NOT NULL,
			state text NOT NULL,
			to_masked text NOT NULL DEFAULT '',
			country_prefix text NOT NULL DEFAULT '',
			gateway text NOT NULL DEFAULT '',
			message_id text NOT NULL DEFAULT '',
			reason text NOT NULL DEFAULT '',
			queued_at timestamptz NOT NULL,
			sending_at timestamptz,
			sent_at timestamptz,
			final_at timestamptz,
			updated_at timestamptz NOT NULL,
			resent boolean NOT NULL DEFAULT false
		)`,
		`CREATE INDEX smscourier_messages_updated_at ON smscourier_messages (updated_at)`,
		// Each message id's delivery: the worker's send (idempotency_key
		// and the fields a report needs) and the first final receipt
		// (status, NULL until one arrives). The row both sides upsert, so
		// that whichever comes second sees the other.
		`CREATE TABLE smscourier_deliveries (
			message_id text PRIMARY KEY,
			idempotency_key text,
			gateway text NOT NULL DEFAULT '',
			country_prefix text NOT NULL DEFAULT '',
			to_masked text NOT NULL DEFAULT '',
			queued_at timestamptz,
			sent_at timestamptz,
			provider text NOT NULL DEFAULT '',
			status text,
			error_code text NOT NULL DEFAULT '',
			final_at timestamptz,
			received_at timestamptz,
			updated_at timestamptz NOT NULL
		)`,
		`CREATE INDEX smscourier_deliveries_updated_at ON smscourier_deliveries (updated_at)`,
		// Every receipt, once: a duplicate has the same key.
		`CREATE TABLE smscourier_receipts (
			message_id text NOT NULL,
			provider text NOT NULL,
			status text NOT NULL,
			provider_status text NOT NULL DEFAULT '',
			error_code text NOT NULL DEFAULT '',
			status_at timestamptz NOT NULL,
			received_at timestamptz NOT NULL,
			raw bytea,
			PRIMARY KEY (message_id, provider, status, provider_status, error_code)
		)`,
		`CREATE INDEX smscourier_receipts_received_at ON smscourier_receipts (received_at)`,
	}},
}

// TrackerSchemaVersion is the version of the Tracker's tables that this
// package writes and Migrate brings a database to.
const TrackerSchemaVersion = 1

// Migrate creates or updates the Tracker's tables (smscourier_messages,
// smscourier_deliveries, smscourier_receipts, and smscourier_migrations
// recording the versions applied) to TrackerSchemaVersion. Versions
// already applied are skipped, so running it at every start is safe; each
// version is applied in a transaction of its own, so a failed one leaves
// nothing behind. On PostgreSQL concurrent runs wait for each other (an
// advisory lock); on SQLite the write lock serialises them. It fails when
// the database cannot be migrated, or holds a version newer than this
// package knows.
func (t *Tracker) Migrate(ctx context.Context) error {
	for _, m := range trackerMigrations {
		if err := t.migrateTo(ctx, m); err != nil {
			return fmt.Errorf("smscourier/queue: migrate tracker to version %d: %w", m.version, err)
		}
	}
	var newest sql.NullInt64
	if err := t.db.QueryRowContext(ctx, `SELECT max(version) FROM smscourier_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("smscourier/queue: migrate tracker: %w", err)
	}
	if newest.Int64 > TrackerSchemaVersion {
		return fmt.Errorf("smscourier/queue: migrate tracker: the database is at version %d, newer than this package's %d", newest.Int64, TrackerSchemaVersion)
	}
	return nil
}

// sqlCreateMigrations creates the table of the versions applied.
const sqlCreateMigrations = `CREATE TABLE IF NOT EXISTS smscourier_migrations (
	version integer PRIMARY KEY,
	applied_at timestamptz NOT NULL
)`

// migrateTo applies m unless it is applied already.
func (t *Tracker) migrateTo(ctx context.Context, m trackerMigration) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	if t.dialect == DialectPostgres {
		// One migrator at a time; the key is arbitrary but fixed.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7283641590021)`); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, t.ddl(sqlCreateMigrations)); err != nil {
		return err
	}
	var applied int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM smscourier_migrations WHERE version = $1`, m.version).Scan(&applied); err != nil {
		return err
	}
	if applied > 0 {
		return nil
	}
	for _, stmt := range m.sql {
		if _, err := tx.ExecContext(ctx, t.ddl(stmt)); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO smscourier_migrations (version, applied_at) VALUES ($1, $2)`, m.version, t.dbTime(t.now())); err != nil {
		return err
	}
	return tx.Commit()
}

// ddl adapts a statement written for PostgreSQL to the Tracker's dialect:
// SQLite keeps times as integers (microseconds) and bytes as blobs.
func (t *Tracker) ddl(stmt string) string {
	if t.dialect != DialectSQLite {
		return stmt
	}
	return strings.NewReplacer("timestamptz", "integer", "bytea", "blob", "bigint", "integer").Replace(stmt)
}

// Migrated reports whether the database holds the Tracker's tables at
// TrackerSchemaVersion or newer, that is, whether Migrate has run: a
// worker or a command can then refuse to start, naming the migration,
// rather than fail at its first write.
func (t *Tracker) Migrated(ctx context.Context) (bool, error) {
	exists := `SELECT to_regclass('smscourier_migrations') IS NOT NULL`
	if t.dialect == DialectSQLite {
		exists = `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'smscourier_migrations'`
	}
	var ok bool
	if err := t.db.QueryRowContext(ctx, exists).Scan(&ok); err != nil {
		return false, fmt.Errorf("smscourier/queue: tracker tables: %w", err)
	}
	if !ok {
		return false, nil
	}
	var newest sql.NullInt64
	if err := t.db.QueryRowContext(ctx, `SELECT max(version) FROM smscourier_migrations`).Scan(&newest); err != nil {
		return false, fmt.Errorf("smscourier/queue: tracker tables: %w", err)
	}
	return newest.Int64 >= TrackerSchemaVersion, nil
}
