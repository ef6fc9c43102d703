// Vonage SMS API: form fields from, to, text and type; numbers as digits
// without the plus sign.
//
// Vonage sends type=text as GSM-7, replacing what GSM-7 lacks, so a text
// with any other character needs type=unicode (UCS-2, 70 characters a
// segment instead of 160). The text is GSM-7 when stripping every GSM-7
// character from it leaves nothing: the check smscourier.Segments makes.
// The template stays on the fast path (no go-jsonnet per message).
function(ctx) {
  from: std.lstripChars(ctx.from, '+'),
  to: std.lstripChars(ctx.to, '+'),
  text: ctx.body,
  type: if std.stripChars(
    ctx.body,
    // GSM 03.38 default alphabet (without the escape septet)...
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà' +
    // ...and its extension table.
    '\f^{}\\[~]|€'
  ) == '' then 'text' else 'unicode',
}
