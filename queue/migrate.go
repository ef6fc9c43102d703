package queue

import (
	"context"
	"fmt"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// Migrate creates or updates River's tables in the database behind driver
// to the latest version River has: riverpgxv5.New(pool) for PostgreSQL,
// riversqlite.New(db) for SQLite. Migrations already applied are skipped,
// so running it at every start is safe. It fails when the database cannot
// be migrated; migrations are applied in transactions, so a failed one
// leaves its version unapplied.
func Migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("smscourier/queue: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("smscourier/queue: migrate: %w", err)
	}
	return nil
}
