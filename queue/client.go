package queue

import (
	"database/sql"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
)

// NewClient returns a River client on driver that works SendArgs jobs with
// w, configured by cfg (see Config.RiverConfig). The driver decides the
// database: riverpgxv5.New(pool) for PostgreSQL, riversqlite.New(db) for
// SQLite (open db with the sqlitedb package). Migrate the database first
// with Migrate.
//
// FetchPollInterval defaults by the driver's transaction type: with *sql.Tx
// (riversqlite), which cannot announce new jobs, to
// DefaultFetchPollIntervalSQLite (50 ms), so that a new job starts soon; with
// any other (riverpgxv5, whose clients LISTEN for inserts) to
// DefaultFetchPollIntervalPostgres (1 s), a fallback.
//
// With a nil w the client only inserts jobs. Start it with Start; stop it
// with Stop before closing the database. It fails when cfg is invalid or
// River refuses the driver.
func NewClient[TTx any](driver riverdriver.Driver[TTx], w *Worker, cfg Config) (*river.Client[TTx], error) {
	rc, err := riverConfigFor[TTx](cfg, w)
	if err != nil {
		return nil, err
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, err
	}
	if w != nil && w.resender != nil {
		bindClient(w.resender, client)
	}
	return client, nil
}

// riverConfigFor is cfg.RiverConfig(w) with the FetchPollInterval default
// of a driver whose transactions are TTx.
func riverConfigFor[TTx any](cfg Config, w *Worker) (*river.Config, error) {
	if cfg.FetchPollInterval == 0 {
		var tx TTx
		if _, ok := any(tx).(*sql.Tx); ok {
			cfg.FetchPollInterval = DefaultFetchPollIntervalSQLite
		}
	}
	return cfg.RiverConfig(w)
}
