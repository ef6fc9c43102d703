// Vonage SMS API: form fields from, to, text and type; numbers as digits
// without the plus sign.
//
// Vonage sends type=text as GSM-7, replacing what GSM-7 lacks, so a text
// with any other character needs type=unicode (UCS-2, 70 characters a
// segment instead of 160). The check below is the one smscourier.Segments
// makes; it keeps this template off the fast path (go-jsonnet renders it).
function(ctx)
  local gsm7 =
    // GSM 03.38 default alphabet (without the escape septet)...
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà' +
    // ...and its extension table.
    '\f^{}\\[~]|€';
  local other = std.filter(function(c) !std.member(gsm7, c), std.stringChars(ctx.body));
  {
    from: std.lstripChars(ctx.from, '+'),
    to: std.lstripChars(ctx.to, '+'),
    text: ctx.body,
    type: if std.length(other) == 0 then 'text' else 'unicode',
  }
