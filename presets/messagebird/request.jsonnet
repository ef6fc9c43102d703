// MessageBird: originator, recipients (a list of numbers as digits without
// the plus sign) and body. datacoding defaults to plain (GSM-7 only, other
// characters lost); auto lets MessageBird pick GSM-7 or UCS-2 from the text.
function(ctx) {
  originator: ctx.from,
  recipients: [std.lstripChars(ctx.to, '+')],
  body: ctx.body,
  datacoding: 'auto',
}
