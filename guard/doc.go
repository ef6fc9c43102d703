// Package guard stops SMS pumping (artificially inflated traffic, toll
// fraud): bots asking for one-time codes to ranges of high-cost numbers
// whose revenue the fraudster shares. A Guard wraps any smscourier.Sender
// (a Courier, a Router) and refuses, before anything is rendered:
//
//   - by a destination policy (Policy): countries and E.164 prefixes
//     allowed or denied, number types that never receive a code (premium
//     rate, shared cost, toll free, voicemail, as libphonenumber tells
//     them), numbers libphonenumber says are invalid;
//   - by rate limits and budgets (Limits): per recipient (a cooldown and
//     caps per hour and day), per range of numbers (the calling code and
//     the next digits, the pumping signature), per country, per requester
//     (smscourier.Message.Requester), and global budgets of messages and
//     segments per hour and day.
//
// A refusal is a *smscourier.BlockedError wrapping smscourier.ErrBlocked.
// It names the rule (the Rule constants) and the recipient's country,
// never the number, and, for a limit, when the message would be allowed
// (RetryAfter), which a queue snoozes until. Each block is also an Event
// (Class smscourier.ClassBlocked) for the observer and a warning in the
// log. In dry-run mode (Config.DryRun) the Guard only reports what it
// would block.
//
// The limits are generic cell rate algorithm (GCRA) cells kept in a Store:
// a MemoryStore for one process, or package pgstore's PostgreSQL store
// shared by a fleet, where every check-and-count of a message is one
// atomic round trip. Store keys are SHA-256 hashes of the rule and the
// subject: no number or requester is stored. A message let through is
// remembered by its idempotency key and recipient (Config.Remember), so a
// retry of it is not counted twice.
//
// The package is a module of its own, github.com/smscourier/smscourier/guard,
// so that the core does not carry libphonenumber's metadata.
package guard
