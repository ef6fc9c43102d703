// Twilio replies
//   201 {"sid": "SM...", "status": "queued", ...}                 accepted
//   4xx/5xx {"code": 21211, "message": "...", "more_info": "...", "status": 400}
// 429 (code 20429) and 503 are retried; other failures keep the class of
// their status: 4xx rejected, 500, 502 and 504 outcome unknown.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local success = ctx.status >= 200 && ctx.status <= 299;
  std.prune(
    if success then {
      message_id: at(ctx.body, ['sid']),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_code: at(ctx.body, ['code']),
      error_message: str(at(ctx.body, ['message'])),
    }
  )
