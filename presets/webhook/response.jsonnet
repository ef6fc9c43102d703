// A generic JSON webhook: any 2xx reply is success. The reply the service
// should give:
//   2xx {"id": "..."}                    (or "message_id"), accepted
//   4xx/5xx {"code": "...", "message": "..."}
//        (or "error_code" and "error_message", or "error" as a string)
// 429 and 503 are retried (after Retry-After when the service sends it);
// other failures keep the class of their status: 4xx rejected, 500, 502 and
// 504 outcome unknown.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local first(values) = std.foldl(function(acc, v) if acc == null then v else acc, values, null);
  local success = ctx.status >= 200 && ctx.status <= 299;
  local body = ctx.body;
  local errorText = at(body, ['error']);
  std.prune(
    if success then {
      message_id: first([at(body, ['id']), at(body, ['message_id'])]),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_code: first([at(body, ['code']), at(body, ['error_code'])]),
      error_message: str(first([
        at(body, ['message']),
        at(body, ['error_message']),
        if std.isString(errorText) then errorText,
      ])),
    }
  )
