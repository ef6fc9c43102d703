package queue

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// NewPostgresClient returns a River client on the PostgreSQL pool (migrate
// the database first with Migrate) that works SendArgs jobs with w,
// configured by cfg. New jobs are announced with LISTEN/NOTIFY, so
// FetchPollInterval (default DefaultFetchPollIntervalPostgres, 1 s) is only
// a fallback. With a nil w the client only inserts jobs. Start it with
// Start; stop it with Stop before closing pool. It fails when cfg is
// invalid.
func NewPostgresClient(pool *pgxpool.Pool, w *Worker, cfg Config) (*river.Client[pgx.Tx], error) {
	rc, err := cfg.RiverConfig(w)
	if err != nil {
		return nil, err
	}
	return river.NewClient(riverpgxv5.New(pool), rc)
}
