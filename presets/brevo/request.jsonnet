// Brevo: sender, recipient and content, as a transactional SMS; numbers as
// digits without the plus sign.
//
// With unicodeEnabled false (its default) Brevo replaces characters that
// GSM-7 lacks with look-alikes, so it is set to true exactly when the text
// has such a character (the check smscourier.Segments makes). The check
// keeps this template off the fast path (go-jsonnet renders it).
function(ctx)
  local gsm7 =
    // GSM 03.38 default alphabet (without the escape septet)...
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà' +
    // ...and its extension table.
    '\f^{}\\[~]|€';
  local other = std.filter(function(c) !std.member(gsm7, c), std.stringChars(ctx.body));
  {
    type: 'transactional',
    sender: std.lstripChars(ctx.from, '+'),
    recipient: std.lstripChars(ctx.to, '+'),
    content: ctx.body,
    unicodeEnabled: std.length(other) > 0,
  }
