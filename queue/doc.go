// Package queue sends SMS through a durable job queue: River
// (github.com/riverqueue/river) on PostgreSQL or SQLite, working each
// message with a smscourier.Sender: a smscourier.Courier, or a
// smscourier.Router that fails over between gateways.
//
// A message is queued as a SendArgs job, alone (Enqueue), in the caller's
// own database transaction (EnqueueTx: queued if and only if the
// transaction commits) or in batches (EnqueueMany). Every job carries the
// message's idempotency key, made at enqueue time when the message has
// none, and is unique by it: queueing the same key twice yields one job, and
// every retry of the job sends under the same key.
//
// A Worker sends each job's message and maps the outcome onto River: sent
// messages complete, refusals with Retry-After snooze, failures that cannot
// have delivered anything are retried with River's backoff, and everything
// that must not be resent (rejected, cancelled by the template, expired,
// outcome unknown without an idempotency key header) is cancelled with its
// reason recorded. Each job attempt records an Output, never the message
// text.
//
// A Tracker records each message's lifecycle (queued, sending, sent,
// then delivered, undelivered or failed) in the queue's database and
// stores its delivery receipts: it is package receipt's Sink, and
// WorkerConfig.Tracker makes a worker record its sends into it; Lookup
// and LookupMessageID read a message's lifecycle.
//
// NewClient builds a configured *river.Client on any River driver from a
// Config: riverpgxv5 for PostgreSQL, riversqlite for SQLite, on a database
// opened with the sqlitedb package, so that a program links only the
// database it uses. Migrate creates River's tables. The smscourier command
// (module github.com/smscourier/smscourier/cmd/smscourier) runs migrations,
// a worker and enqueues messages from the command line.
package queue
