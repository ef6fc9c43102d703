// The Vonage Messages API replies
//   202 {"message_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"}     accepted
//   4xx/5xx, RFC 7807 problem details:
//     {"type": "https://developer.vonage.com/api-errors#unauthorized",
//      "title": "Invalid credentials supplied",
//      "detail": "You did not provide correct credentials.", "instance": "..."}
// The error code is the fragment of type ("unauthorized", "1150"), else
// the title; the message is "title: detail". 429 (throttled) and 503 are
// retried; other failures keep the class of their status.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local success = ctx.status >= 200 && ctx.status <= 299;
  local type = str(at(ctx.body, ['type']));
  local fragment = if type == null then [] else std.split(type, '#');
  local title = str(at(ctx.body, ['title']));
  local detail = str(at(ctx.body, ['detail']));
  std.prune(
    if success then {
      message_id: at(ctx.body, ['message_uuid']),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_code: if std.length(fragment) > 1 then fragment[std.length(fragment) - 1] else title,
      error_message:
        if title != null && detail != null then title + ': ' + detail
        else if title != null then title
        else detail,
    }
  )
