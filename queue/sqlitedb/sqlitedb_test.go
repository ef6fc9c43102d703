package sqlitedb

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestOpenSettings checks the settings Open promises on a new file: WAL,
// the busy timeout, foreign keys, BEGIN IMMEDIATE and one connection.
func TestOpenSettings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	assert.FileExists(t, path, "created")

	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"foreign_keys", "1"},
	} {
		t.Run(tc.pragma, func(t *testing.T) {
			var got string
			require.NoError(t, db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got))
			assert.Equal(t, tc.want, got)
		})
	}
	assert.Equal(t, 1, db.Stats().MaxOpenConnections)

	// BEGIN IMMEDIATE takes the write lock at once: a second writer on
	// the same file waits for it rather than deadlocking later.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	other, err := Open(ctx, path)
	require.NoError(t, err)
	defer other.Close()
	_, err = other.ExecContext(ctx, "PRAGMA busy_timeout = 0")
	require.NoError(t, err)
	_, err = other.BeginTx(ctx, nil)
	assert.ErrorContains(t, err, "locked", "the first transaction holds the write lock from its start")
	require.NoError(t, tx.Rollback())
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for name, path := range map[string]string{
		"empty":         "",
		"question mark": filepath.Join(t.TempDir(), "q.db?mode=ro"),
	} {
		t.Run(name, func(t *testing.T) {
			db, err := Open(context.Background(), path)
			assert.Nil(t, db)
			assert.ErrorContains(t, err, "smscourier/queue/sqlitedb:")
		})
	}
}

func TestOpenFailsOnUnopenableFile(t *testing.T) {
	// A directory that does not exist: SQLite cannot create the file.
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "missing", "queue.db"))
	assert.Nil(t, db)
	assert.ErrorContains(t, err, "smscourier/queue/sqlitedb: open ")
}
