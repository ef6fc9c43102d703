function(ctx) {
  From: ctx.from,
  To: ctx.to,
  Body: ctx.body,
}
