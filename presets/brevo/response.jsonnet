// Brevo replies
//   201 {"reference": "ab1cde2fgh3i4jklmno", "messageId": 1511882900176220,
//        "smsCount": 1, "usedCredits": 0.7, "remainingCredits": 82.85}  accepted
//   4xx/5xx {"code": "invalid_parameter", "message": "..."}
// The message id is a number; it is exact up to 2^53. 429 and 503 are
// retried; other failures (402 not_enough_credits among them) keep the
// class of their status.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local success = ctx.status >= 200 && ctx.status <= 299;
  std.prune(
    if success then {
      message_id: at(ctx.body, ['messageId']),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_code: at(ctx.body, ['code']),
      error_message: str(at(ctx.body, ['message'])),
    }
  )
