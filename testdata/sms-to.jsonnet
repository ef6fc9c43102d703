function(ctx) { to: ctx.to }
