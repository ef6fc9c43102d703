function(ctx) {
  from: ctx.from,
  to: ctx.to,
  body: ctx.body,
}
