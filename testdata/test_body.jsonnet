function(ctx) {
  Body: ctx.body,
  From: ctx.from,
  To: ctx.to,
}
