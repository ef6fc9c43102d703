// MessageBird replies
//   201 {"id": "e8077d803532c0b5937c639b60216938", "href": "...",
//        "recipients": {"totalCount": 1, ...}, ...}                  accepted
//   4xx/5xx {"errors": [{"code": 9, "description": "no (correct) recipients found",
//        "parameter": "recipients"}]}
// The first error is reported. 429 and 503 are retried; other failures
// keep the class of their status.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local success = ctx.status >= 200 && ctx.status <= 299;
  local err = at(ctx.body, ['errors', 0]);
  std.prune(
    if success then {
      message_id: at(ctx.body, ['id']),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_code: at(err, ['code']),
      error_message: str(at(err, ['description'])),
    }
  )
