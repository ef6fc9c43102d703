// Package sqlitedb opens a SQLite database file for River's SQLite driver
// (riversqlite) with the settings a queue of several processes needs. It
// uses modernc.org/sqlite, pure Go (no C compiler); a program that queues on
// PostgreSQL alone does not import this package and so does not link
// SQLite.
//
//	db, err := sqlitedb.Open(ctx, "smscourier-queue.db")
//	...
//	defer db.Close()
//	err = queue.Migrate(ctx, riversqlite.New(db))
//	client, err := queue.NewClient(riversqlite.New(db), worker, queue.Config{})
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // the pure-Go "sqlite" database/sql driver
)

// busyTimeoutMillis is how long a connection waits for another process's
// write lock before failing with SQLITE_BUSY.
const busyTimeoutMillis = 10_000

// Open opens (creating it if needed) the SQLite database file at path for
// River, with modernc.org/sqlite: write-ahead logging (journal_mode WAL, so
// readers do not block the writer), a 10 s busy_timeout (another
// process, such as the enqueue command, may hold the write lock for
// a moment), foreign keys on, and transactions that take the write lock
// when they begin (BEGIN IMMEDIATE), so that two processes never deadlock
// upgrading a read to a write. The pool holds one connection, as River's
// SQLite driver needs: SQLite runs one write at a time anyway, and River's
// concurrent internals would otherwise fail with SQLITE_BUSY.
//
// It checks that the database can be opened, and fails when it cannot or
// when path is empty or contains '?'. The caller must Close the returned
// *sql.DB after every River client using it has stopped.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, errors.New("smscourier/queue/sqlitedb: the path must be non-empty and must not contain '?'")
	}
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_txlock=immediate",
		path, busyTimeoutMillis)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("smscourier/queue/sqlitedb: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("smscourier/queue/sqlitedb: open %s: %w", path, err)
	}
	return db, nil
}
