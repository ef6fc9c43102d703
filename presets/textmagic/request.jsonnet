// Textmagic: form fields from, phones (one number here; Textmagic takes a
// comma-separated list) and text; numbers as digits without the plus sign.
// Textmagic picks GSM-7 or UCS-2 from the text.
function(ctx) {
  from: std.lstripChars(ctx.from, '+'),
  phones: std.lstripChars(ctx.to, '+'),
  text: ctx.body,
}
