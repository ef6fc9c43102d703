package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles are the schema's versions, one file each, named
// NNN_name.sql and applied in order.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockID is the transaction-level advisory lock that serialises
// Migrate calls made at once by several instances.
const migrateLockID int64 = 0x736d73675f6d6967 // "smsg_mig"

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order of version.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, p := range names { // fs.Glob returns names in lexical order
		base := strings.TrimSuffix(path.Base(p), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration file %s: want %03d_name.sql", p, len(ms)+1)
		}
		b, err := migrationFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// Migrate creates or updates the guard's tables and function in the
// database behind pool, in the schema first on its search_path. It applies
// the versions not yet recorded in the table smscourier_guard_migrations, all
// in one transaction under an advisory lock: running it at every start of
// every instance is safe, and a failure leaves the schema as it was. Every
// name it creates starts with smscourier_guard_, so it can share the
// queue's database with River's tables. It fails when the database cannot
// be reached or migrated, or ctx ends first.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("smscourier/guard/pgstore: migrate: %w", err)
	}
	if err := migrate(ctx, pool, ms); err != nil {
		return fmt.Errorf("smscourier/guard/pgstore: migrate: %w", err)
	}
	return nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS smscourier_guard_migrations (
	version    integer     PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM smscourier_guard_migrations").Scan(&current); err != nil {
		return err
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("version %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO smscourier_guard_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
