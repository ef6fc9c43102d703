// Vonage Messages API: a text message on the sms channel; numbers as digits
// without the plus sign. The encoding is left to the API (sms.encoding_type
// defaults to auto).
function(ctx) {
  channel: 'sms',
  message_type: 'text',
  from: std.lstripChars(ctx.from, '+'),
  to: std.lstripChars(ctx.to, '+'),
  text: ctx.body,
}
