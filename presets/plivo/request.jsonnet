// Plivo: src, dst and text. Plivo picks GSM-7 or UCS-2 from the text.
function(ctx) {
  src: ctx.from,
  dst: ctx.to,
  text: ctx.body,
}
