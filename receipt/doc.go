// Package receipt receives delivery receipts (DLRs): the status callbacks
// an SMS provider posts after a send, minutes later, saying whether the
// message reached the handset.
//
// Each provider posts its own shape and authenticates it its own way. A
// Verifier per preset (see package presets) checks the provider's
// signature or credentials, with constant-time comparisons and a replay
// window where the provider signs a timestamp, and normalises the
// callback into Receipts: provider, provider message id, Status
// (accepted, sent, delivered, undelivered, failed, unknown), the
// provider's error code, the time and the raw payload, which never
// prints or logs.
//
// A Handler serves one Verifier's callbacks and hands the receipts to a
// Sink (package queue stores them and tracks each message's lifecycle);
// NewMux serves several under one prefix, for a server of the user's own
// or the smscourier command's worker (--receipts-addr).
package receipt
