package smscourier

import (
	"fmt"
	"unicode/utf16"
)

// The encodings Segments reports in SegmentInfo.Encoding.
const (
	// EncodingGSM7 is the GSM 03.38 default alphabet with its extension
	// table, 7 bits a character.
	EncodingGSM7 = "GSM-7"
	// EncodingUCS2 is 16 bits a code unit. Phones and gateways send it as
	// UTF-16, so a character outside the Basic Multilingual Plane (most
	// emoji) takes two units, a surrogate pair.
	EncodingUCS2 = "UCS-2"
)

// Segment capacities, in units of the encoding. A concatenated message loses
// 6 octets of each segment to the user data header that numbers the parts.
const (
	gsmSingle  = 160 // septets in a message of one segment
	gsmMulti   = 153 // septets in each segment of a concatenated message
	ucs2Single = 70  // UTF-16 code units in a message of one segment
	ucs2Multi  = 67  // UTF-16 code units in each segment of a concatenated message
)

// SegmentInfo describes how an SMS text is encoded and split into segments.
// The zero value is not a valid result of Segments.
type SegmentInfo struct {
	// Encoding is EncodingGSM7 when every character of the text is in the
	// GSM 03.38 default alphabet or its extension table, else EncodingUCS2.
	Encoding string
	// Characters is the length of the text in units of the encoding: septets
	// for GSM-7, where a character of the extension table (^ { } \ [ ~ ] | €
	// and form feed) counts 2 (escape and character); UTF-16 code units for
	// UCS-2, where a character outside the Basic Multilingual Plane counts 2.
	Characters int
	// Segments is the number of SMS segments the text is sent in; at least
	// 1, since an empty text is still one (empty) message.
	Segments int
	// CharactersPerSegment is the capacity of each segment, in units of the
	// encoding: 160 (GSM-7) or 70 (UCS-2) for a single segment, 153 or 67
	// for each segment of a concatenated message.
	CharactersPerSegment int
	// Remaining is how many more units fit in the last segment before the
	// text needs another one, as long as the encoding does not change: a
	// character that is not GSM-7 switches a GSM-7 text to UCS-2. One
	// extension character (GSM-7) or surrogate pair (UCS-2) needs 2.
	Remaining int
}

// Segments returns the encoding, length and segment count of text as an SMS.
//
// Text whose every character is in the GSM 03.38 default alphabet or its
// extension table is GSM-7: 160 septets fit in one segment, else 153 in each
// segment. Any other text is UCS-2 (UTF-16): 70 code units fit in one
// segment, else 67 in each segment. Segments are counted by packing the text
// in order, as a sender splits it: an extension character (escape and
// character) or a surrogate pair is never split across two segments, so a
// segment may hold one unit less than its capacity.
//
// Many accented letters are not in GSM-7 and force UCS-2 for the whole text:
// é è ù ì ò à ä ö ñ ü ß Ç É Ä Ö Ñ Ü are GSM-7, but á í ó ú ê ç are not.
//
// The empty text is GSM-7 with 0 characters in 1 segment: a message without
// text is still one message, and gateways bill it as one. Invalid UTF-8
// counts as U+FFFD, one UCS-2 unit a byte, as a range loop decodes it.
// Segments does not allocate.
func Segments(text string) SegmentInfo {
	septets := 0
	for _, r := range text {
		n := gsmSeptets(r)
		if n == 0 {
			return pack(text, EncodingUCS2, ucs2Units, ucs2Single, ucs2Multi)
		}
		septets += n
	}
	return packed(text, EncodingGSM7, septets, gsmSeptets, gsmSingle, gsmMulti)
}

// pack measures text with cost, then packs it into segments.
func pack(text, encoding string, cost func(rune) int, single, multi int) SegmentInfo {
	total := 0
	for _, r := range text {
		total += cost(r)
	}
	return packed(text, encoding, total, cost, single, multi)
}

// packed returns the segments of text, total units long by cost: one
// segment of single units when it fits, else segments of multi units each,
// filled in order without splitting a character.
func packed(text, encoding string, total int, cost func(rune) int, single, multi int) SegmentInfo {
	info := SegmentInfo{Encoding: encoding, Characters: total, Segments: 1}
	if total <= single {
		info.CharactersPerSegment, info.Remaining = single, single-total
		return info
	}
	used := 0
	for _, r := range text {
		n := cost(r)
		if used+n > multi {
			info.Segments++
			used = 0
		}
		used += n
	}
	info.CharactersPerSegment, info.Remaining = multi, multi-used
	return info
}

// ucs2Units is the number of UTF-16 code units of r: 2 outside the Basic
// Multilingual Plane, else 1 (a range loop never yields a rune that UTF-16
// cannot encode: invalid input becomes U+FFFD).
func ucs2Units(r rune) int {
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1
}

// gsmBasic is the GSM 03.38 default alphabet, indexed by septet value.
// Septet 0x1B is the escape to the extension table, not a character: U+001B
// in a text is not GSM-7.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅå" + // 0x00
	"Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ" + // 0x10
	" !\"#¤%&'()*+,-./" + // 0x20
	"0123456789:;<=>?" + // 0x30
	"¡ABCDEFGHIJKLMNO" + // 0x40
	"PQRSTUVWXYZÄÖÑÜ§" + // 0x50
	"¿abcdefghijklmno" + // 0x60
	"pqrstuvwxyzäöñüà" // 0x70

// gsmExtension is the GSM 03.38 extension table: each of these is sent as
// the escape septet followed by another, two septets.
const gsmExtension = "\f^{}\\[~]|€"

// gsmTable holds the septet count of every rune below U+03AA (Ω is the
// highest of the default alphabet): 1 in the default alphabet, 2 in the
// extension table, 0 when not GSM-7. € is the only extension character
// above it.
var gsmTable = func() (t [0x3aa]uint8) {
	for _, r := range gsmBasic {
		if r != 0x1b {
			t[r] = 1
		}
	}
	for _, r := range gsmExtension {
		if r < rune(len(t)) {
			t[r] = 2
		}
	}
	return t
}()

// gsmSeptets is the number of septets of r in GSM-7, or 0 when r is not in
// the default alphabet or the extension table.
func gsmSeptets(r rune) int {
	if r >= 0 && r < rune(len(gsmTable)) {
		return int(gsmTable[r])
	}
	if r == '€' {
		return 2
	}
	return 0
}

// smsChecks are the optional SMS-aware checks made before sending. The zero
// value checks nothing.
type smsChecks struct {
	maxSegments int  // 0: no limit
	strictE164  bool // refuse a To that is not strict E.164
}

// check returns an error wrapping ErrInvalidMessage when m fails a check.
// The error holds neither m.To nor m.Body.
func (s smsChecks) check(m *Message) error {
	if s.strictE164 && !IsE164(m.To) {
		return fmt.Errorf("%w: to is not a strict E.164 number (a plus sign, then 1 to 15 digits, the first not 0)", ErrInvalidMessage)
	}
	if s.maxSegments > 0 {
		if info := Segments(m.Body); info.Segments > s.maxSegments {
			return fmt.Errorf("%w: body needs %d %s segments, over the limit of %d", ErrInvalidMessage, info.Segments, info.Encoding, s.maxSegments)
		}
	}
	return nil
}

// IsE164 reports whether s is "+" followed by 1 to 15 ASCII digits, the
// first of them 1 to 9: the form WithStrictE164 requires of recipients, a
// Router of route prefixes, and a guard of numbers and prefixes.
func IsE164(s string) bool {
	if len(s) < 2 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
