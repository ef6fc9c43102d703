// Sinch: from, to (a list of recipients) and body. Sinch picks GSM-7 or
// UCS-2 from the text.
function(ctx) {
  from: ctx.from,
  to: [ctx.to],
  body: ctx.body,
}
