// Plivo replies
//   202 {"message": "message(s) queued", "message_uuid": ["db3ce55a-..."],
//        "api_id": "db342550-..."}                                    accepted
//   4xx/5xx {"api_id": "...", "error": "..."}
// Plivo's errors carry no code, so error_code stays empty. 429 and 503 are
// retried; other failures keep the class of their status.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local success = ctx.status >= 200 && ctx.status <= 299;
  std.prune(
    if success then {
      message_id: at(ctx.body, ['message_uuid', 0]),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_message: str(at(ctx.body, ['error'])),
    }
  )
