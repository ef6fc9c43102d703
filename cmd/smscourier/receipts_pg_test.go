//go:build postgres

package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/internal/pgtest"
)

// TestWorkerServesReceiptsPostgres is TestWorkerServesReceipts on
// PostgreSQL: the lifecycle and the receipts in the queue's database.
func TestWorkerServesReceiptsPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	code, _, stderr := invoke(context.Background(), "migrate", "--database", dsn)
	require.Equal(t, exitOK, code, stderr)
	jobs, _ := pgJobs(t, dsn)
	testWorkerServesReceipts(t, dsn, jobs)
}
