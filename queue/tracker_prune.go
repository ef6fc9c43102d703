package queue

import (
	"context"

	"github.com/riverqueue/river"
)

// pruneKind is the River job kind of the Tracker's periodic prune.
const pruneKind = "smscourier_tracker_prune"

// pruneArgs is the job that prunes a worker's Tracker (Tracker.Prune with
// its Retention).
type pruneArgs struct{}

// Kind returns pruneKind.
func (pruneArgs) Kind() string { return pruneKind }

// InsertOpts puts the job in QueueName, tried at most three times: the
// next period prunes anyway.
func (pruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName, MaxAttempts: 3}
}

// pruneWorker works pruneArgs jobs.
type pruneWorker struct {
	river.WorkerDefaults[pruneArgs]
	t *Tracker
}

// Work prunes what is older than the Tracker's Retention.
func (p *pruneWorker) Work(ctx context.Context, _ *river.Job[pruneArgs]) error {
	_, err := p.t.Prune(ctx, p.t.now().Add(-p.t.retention))
	return err
}

// addTrackerPrune registers, in rc, the periodic job that prunes t, unless
// t keeps everything forever: run by the elected leader alone, at its
// start and every PruneInterval.
func addTrackerPrune(rc *river.Config, t *Tracker) error {
	if t == nil || t.retention < 0 {
		return nil
	}
	if err := river.AddWorkerSafely(rc.Workers, &pruneWorker{t: t}); err != nil {
		return err
	}
	rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(
		river.PeriodicInterval(t.pruneInterval),
		func() (river.JobArgs, *river.InsertOpts) { return pruneArgs{}, nil },
		&river.PeriodicJobOpts{ID: pruneKind, RunOnStart: true},
	))
	return nil
}
