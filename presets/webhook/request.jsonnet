// Generic JSON webhook: from, to and body as given, plus the message's
// idempotency key (Message.IdempotencyKey, else a random key, the same on
// every retry of one send).
function(ctx) {
  from: ctx.from,
  to: ctx.to,
  body: ctx.body,
  idempotency_key: ctx.idempotency_key,
}
