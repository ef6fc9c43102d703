// Brevo: sender, recipient and content, as a transactional SMS; numbers as
// digits without the plus sign.
//
// With unicodeEnabled false (its default) Brevo replaces characters that
// GSM-7 lacks with look-alikes, so it is set to true exactly when the text
// has such a character: when stripping every GSM-7 character from it
// leaves something (the check smscourier.Segments makes). The template
// stays on the fast path (no go-jsonnet per message).
function(ctx) {
  type: 'transactional',
  sender: std.lstripChars(ctx.from, '+'),
  recipient: std.lstripChars(ctx.to, '+'),
  content: ctx.body,
  unicodeEnabled: std.stripChars(
    ctx.body,
    // GSM 03.38 default alphabet (without the escape septet)...
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà' +
    // ...and its extension table.
    '\f^{}\\[~]|€'
  ) != '',
}
