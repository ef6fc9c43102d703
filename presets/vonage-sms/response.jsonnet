// The Vonage SMS API replies 200 whatever happened; each part of the
// message has its own status:
//   {"message-count": "1", "messages": [{"to": "14134242223",
//     "message-id": "0A0000000123ABCD1", "status": "0", ...}]}        accepted
//   {"message-count": "1", "messages": [{"status": "4",
//     "error-text": "Bad Credentials"}]}                              failed
// Status "0" is success. "1" (throttled) and "10" (too many existing binds)
// are retried: Vonage says to back off and retry. "5" (internal error) may
// or may not have been sent: outcome unknown, never resent without an
// idempotency key (and the SMS API does not deduplicate by one, so leave
// WithIdempotencyKeyHeader off for this preset). Every other status is
// rejected and not retried.
// A message split into parts is retried only when no part was accepted,
// so that no part is sent twice.
// A 200 reply without a messages list fails the template, which makes the
// send's outcome unknown. Other statuses are rare here: 429 and 503 are
// retried, the rest keep the class of their status.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local success = ctx.status >= 200 && ctx.status <= 299;
  local messages = at(ctx.body, ['messages']);
  local parts = if std.isArray(messages) then messages else [];
  local status(m) = str(at(m, ['status']));
  local failed = std.filter(function(m) status(m) != '0', parts);
  local retryable(m) = std.member(['1', '10'], status(m));
  if !success then
    std.prune({ retryable: if ctx.status == 429 || ctx.status == 503 then true })
  else if std.length(parts) == 0 then
    error 'the Vonage reply has no messages list'
  else if std.length(failed) == 0 then
    std.prune({ message_id: at(parts, [0, 'message-id']) })
  else
    std.prune({
      ok: false,
      retryable: std.length(failed) == std.length(parts) &&
                 std.length(std.filter(retryable, failed)) == std.length(failed),
      outcome_unknown: std.length(std.filter(function(m) status(m) == '5', failed)) > 0,
      error_code: status(failed[0]),
      error_message: str(at(failed[0], ['error-text'])),
    })
