// Infobip v3: one message with one destination; numbers as digits without
// the plus sign. Infobip picks GSM-7 or UCS-2 from the text.
function(ctx) {
  messages: [{
    sender: std.lstripChars(ctx.from, '+'),
    destinations: [{ to: std.lstripChars(ctx.to, '+') }],
    content: { text: ctx.body },
  }],
}
