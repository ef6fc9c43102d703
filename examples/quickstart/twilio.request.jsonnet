// Twilio's Messages API takes a form with From, To and Body.
function(ctx) {
  From: ctx.from,
  To: ctx.to,
  Body: ctx.body,
}
