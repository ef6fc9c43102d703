// Telnyx replies
//   200 {"data": {"record_type": "message", "id": "40385f64-...", ...}}  accepted
//   4xx/5xx {"errors": [{"code": "40310", "title": "Invalid 'to' address",
//        "detail": "...", "source": {"pointer": "/to"}, "meta": {...}}]}
// The first error is reported; its message is "title: detail". 429 (code
// 10011) and 503 are retried; other failures keep the class of their status.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local success = ctx.status >= 200 && ctx.status <= 299;
  local err = at(ctx.body, ['errors', 0]);
  local title = str(at(err, ['title']));
  local detail = str(at(err, ['detail']));
  std.prune(
    if success then {
      message_id: at(ctx.body, ['data', 'id']),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_code: at(err, ['code']),
      error_message:
        if title != null && detail != null then title + ': ' + detail
        else if title != null then title
        else detail,
    }
  )
