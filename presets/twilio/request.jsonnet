// Twilio: form fields From, To and Body; numbers in E.164 as given.
// Twilio picks GSM-7 or UCS-2 from the text itself.
function(ctx) {
  From: ctx.from,
  To: ctx.to,
  Body: ctx.body,
}
