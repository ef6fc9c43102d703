// Infobip replies
//   200 {"bulkId": "...", "messages": [{"messageId": "...",
//        "status": {"groupId": 1, "groupName": "PENDING", "id": 26,
//                   "name": "PENDING_ACCEPTED", "description": "..."},
//        "destination": "14134242223"}]}                              accepted
//   200 with status group 5 (REJECTED), such as REJECTED_DESTINATION:
//        rejected, not retried; the code is the status name
//   4xx/5xx {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED",
//        "text": "Invalid login details"}}}
//        or {"errorCode": "E400", "description": "...", "action": "...",
//        "violations": [...]}
// 429 and 503 are retried; other failures keep the class of their status.
function(ctx)
  local at(v, path) = std.foldl(function(x, k)
    if std.isObject(x) && std.isString(k) && std.objectHas(x, k) then x[k]
    else if std.isArray(x) && std.isNumber(k) && k >= 0 && k < std.length(x) then x[k]
    else null, path, v);
  local str(v) = if v == null || std.isString(v) then v else std.toString(v);
  local first(values) = std.foldl(function(acc, v) if acc == null then v else acc, values, null);
  local success = ctx.status >= 200 && ctx.status <= 299;
  local message = at(ctx.body, ['messages', 0]);
  local status = at(message, ['status']);
  local rejected = at(status, ['groupId']) == 5 || at(status, ['groupName']) == 'REJECTED';
  local exception = at(ctx.body, ['requestError', 'serviceException']);
  std.prune(
    if success && !rejected then {
      message_id: at(message, ['messageId']),
    } else if success then {
      ok: false,
      retryable: false,
      error_code: at(status, ['name']),
      error_message: str(at(status, ['description'])),
    } else {
      retryable: if ctx.status == 429 || ctx.status == 503 then true,
      error_code: first([at(exception, ['messageId']), at(ctx.body, ['errorCode'])]),
      error_message: str(first([at(exception, ['text']), at(ctx.body, ['description'])])),
    }
  )
