// Sinch: from, to (a list of recipients) and body. Sinch picks GSM-7 or
// UCS-2 from the text. delivery_report per_recipient asks Sinch for a
// delivery receipt per recipient (its default, none, sends none), posted
// to the service plan's callback URL: see docs/receipts.md.
function(ctx) {
  from: ctx.from,
  to: [ctx.to],
  body: ctx.body,
  delivery_report: 'per_recipient',
}
