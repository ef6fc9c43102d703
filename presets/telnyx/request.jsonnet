// Telnyx: from, to and text; numbers in E.164 as given. Telnyx picks GSM-7
// or UCS-2 from the text.
function(ctx) {
  from: ctx.from,
  to: ctx.to,
  text: ctx.body,
}
