//go:build postgres

package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrateTo applies the embedded migrations up to version, as Migrate
// does: it makes a database at an older version of the schema.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return migrate(ctx, pool, ms[:version])
}
