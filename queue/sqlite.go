package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // the pure-Go "sqlite" database/sql driver
)

// sqliteBusyTimeoutMillis is how long a connection waits for another
// process's write lock before failing with SQLITE_BUSY.
const sqliteBusyTimeoutMillis = 10_000

// OpenSQLite opens (creating it if needed) the SQLite database file at path
// for River, with modernc.org/sqlite (pure Go, no C compiler): write-ahead
// logging (journal_mode WAL, so readers do not block the writer), a 10 s
// busy_timeout (another process, such as the enqueue command, may hold the
// write lock for a moment), foreign keys on, and transactions that take the
// write lock when they begin (BEGIN IMMEDIATE), so that two processes never
// deadlock upgrading a read to a write. The pool holds one connection, as
// River's SQLite driver needs: SQLite runs one write at a time anyway, and
// River's concurrent internals would otherwise fail with SQLITE_BUSY. It
// checks the database can be opened; the caller must Close it after every
// client using it has stopped. path must not contain '?'.
func OpenSQLite(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, errors.New("smscourier/queue: SQLite path must be non-empty and must not contain '?'")
	}
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_txlock=immediate",
		path, sqliteBusyTimeoutMillis)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("smscourier/queue: open SQLite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("smscourier/queue: open SQLite database %s: %w", path, err)
	}
	return db, nil
}

// NewSQLiteClient returns a River client on the SQLite database db (open it
// with OpenSQLite; migrate it first with Migrate) that works SendArgs jobs
// with w, configured by cfg; FetchPollInterval defaults to
// DefaultFetchPollIntervalSQLite (50 ms). With a nil w the client only
// inserts jobs. Start it with Start; stop it with Stop before closing db.
// It fails when cfg is invalid.
func NewSQLiteClient(db *sql.DB, w *Worker, cfg Config) (*river.Client[*sql.Tx], error) {
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = DefaultFetchPollIntervalSQLite
	}
	rc, err := cfg.RiverConfig(w)
	if err != nil {
		return nil, err
	}
	return river.NewClient(riversqlite.New(db), rc)
}
