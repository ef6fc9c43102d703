package smscourier

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segGSM and segUCS2 build the SegmentInfo a test expects.
func segGSM(chars, segs, per, remaining int) SegmentInfo {
	return SegmentInfo{Encoding: EncodingGSM7, Characters: chars, Segments: segs, CharactersPerSegment: per, Remaining: remaining}
}

func segUCS2(chars, segs, per, remaining int) SegmentInfo {
	return SegmentInfo{Encoding: EncodingUCS2, Characters: chars, Segments: segs, CharactersPerSegment: per, Remaining: remaining}
}

// segReference encodes text the way a sender does, as a stream of septets
// (an extension character is the escape septet and one more) or of UTF-16
// code units, and cuts it into segments, moving a trailing escape septet or
// high surrogate to the next segment. It shares only the alphabet constants
// with Segments.
func segReference(text string) (encoding string, units, segments int) {
	const esc = 0x1b
	var septets []byte
	gsm := true
	for _, r := range text {
		switch {
		case r != esc && strings.ContainsRune(gsmBasic, r):
			septets = append(septets, 'b')
		case strings.ContainsRune(gsmExtension, r):
			septets = append(septets, esc, 'x')
		default:
			gsm = false
		}
		if !gsm {
			break
		}
	}
	if gsm {
		return EncodingGSM7, len(septets), segCut(len(septets), gsmSingle, gsmMulti, func(i int) bool { return septets[i] == esc })
	}
	u := utf16.Encode([]rune(text))
	return EncodingUCS2, len(u), segCut(len(u), ucs2Single, ucs2Multi, func(i int) bool { return u[i] >= 0xd800 && u[i] <= 0xdbff })
}

// segCut counts the segments of a stream of n units in which a unit for
// which leads reports true must stay with the unit after it.
func segCut(n, single, multi int, leads func(int) bool) int {
	if n <= single {
		return 1
	}
	segs := 0
	for i := 0; i < n; segs++ {
		end := min(i+multi, n)
		if end < n && leads(end-1) {
			end--
		}
		i = end
	}
	return segs
}

func TestSegments(t *testing.T) {
	a, cyr, emoji := strings.Repeat, "я", "😀"
	for _, tc := range []struct {
		name string
		text string
		want SegmentInfo
	}{
		{"empty is one segment", "", segGSM(0, 1, 160, 160)},
		{"short ascii", "hello", segGSM(5, 1, 160, 155)},
		{"160 ascii fit one segment", a("a", 160), segGSM(160, 1, 160, 0)},
		{"161 ascii is 153+8", a("a", 161), segGSM(161, 2, 153, 145)},
		{"306 ascii is two full segments", a("a", 306), segGSM(306, 2, 153, 0)},
		{"307 ascii is three segments", a("a", 307), segGSM(307, 3, 153, 152)},
		{"euro is two septets", "€", segGSM(2, 1, 160, 158)},
		{"open bracket", "[", segGSM(2, 1, 160, 158)},
		{"close bracket", "]", segGSM(2, 1, 160, 158)},
		{"open brace", "{", segGSM(2, 1, 160, 158)},
		{"close brace", "}", segGSM(2, 1, 160, 158)},
		{"tilde", "~", segGSM(2, 1, 160, 158)},
		{"pipe", "|", segGSM(2, 1, 160, 158)},
		{"backslash", `\`, segGSM(2, 1, 160, 158)},
		{"caret", "^", segGSM(2, 1, 160, 158)},
		{"form feed", "\f", segGSM(2, 1, 160, 158)},
		{"80 euros are 160 septets", a("€", 80), segGSM(160, 1, 160, 0)},
		// 76 euros fill 152 septets; the 77th would be split, so it starts
		// the second segment.
		{"81 euros", a("€", 81), segGSM(162, 2, 153, 143)},
		{"euro after 152 septets moves whole", a("a", 152) + "€" + a("b", 10), segGSM(164, 2, 153, 141)},
		// 306 septets would fit two segments by division; unsplit, the
		// euro leaves one septet of the first unused.
		{"euro at the boundary costs a segment", a("a", 152) + "€" + a("b", 152), segGSM(306, 3, 153, 152)},
		{"euro just before the boundary", a("a", 151) + "€" + a("b", 153), segGSM(306, 2, 153, 0)},
		{"line breaks", "a\r\nb\n", segGSM(5, 1, 160, 155)},
		{"gsm accented letters", "éèùìòÄÖÑÜäöñüàßÇÉ", segGSM(17, 1, 160, 143)},
		{"gsm greek capitals", "ΔΦΓΛΩΠΨΣΘΞ", segGSM(10, 1, 160, 150)},
		{"gsm symbols", "@£$¥¤¡¿§_ØøÅåÆæ", segGSM(15, 1, 160, 145)},
		{"emoji is a surrogate pair", emoji, segUCS2(2, 1, 70, 68)},
		{"70 ucs-2 units fit one segment", a(cyr, 70), segUCS2(70, 1, 70, 0)},
		{"71 ucs-2 units are 67+4", a(cyr, 71), segUCS2(71, 2, 67, 63)},
		{"35 emoji fit one segment", a(emoji, 35), segUCS2(70, 1, 70, 0)},
		{"36 emoji", a(emoji, 36), segUCS2(72, 2, 67, 61)},
		{"surrogate pair after 66 units moves whole", a(cyr, 66) + emoji + a(cyr, 3), segUCS2(71, 2, 67, 62)},
		{"surrogate pair at the boundary costs a segment", a(cyr, 66) + emoji + a(cyr, 66), segUCS2(134, 3, 67, 66)},
		{"a acute forces ucs-2", "Olá", segUCS2(3, 1, 70, 67)},
		{"i acute forces ucs-2", "í", segUCS2(1, 1, 70, 69)},
		{"o acute forces ucs-2", "ó", segUCS2(1, 1, 70, 69)},
		{"u acute forces ucs-2", "ú", segUCS2(1, 1, 70, 69)},
		{"e circumflex forces ucs-2", "ê", segUCS2(1, 1, 70, 69)},
		{"lower-case c cedilla forces ucs-2", "ç", segUCS2(1, 1, 70, 69)},
		{"one non-gsm letter makes the whole text ucs-2", a("a", 160) + "ç", segUCS2(161, 3, 67, 40)},
		{"euro in ucs-2 is one unit", "€ç", segUCS2(2, 1, 70, 68)},
		{"backtick is not gsm", "`", segUCS2(1, 1, 70, 69)},
		{"tab is not gsm", "\t", segUCS2(1, 1, 70, 69)},
		{"escape is not a character", "\x1b", segUCS2(1, 1, 70, 69)},
		{"invalid utf-8 counts as U+FFFD", "a\xffb", segUCS2(3, 1, 70, 67)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Segments(tc.text)
			assert.Equal(t, tc.want, got)
			enc, units, segs := segReference(tc.text)
			assert.Equal(t, []any{enc, units, segs}, []any{got.Encoding, got.Characters, got.Segments}, "reference encoder")
		})
	}
}

// TestSegmentsGSMAlphabet checks the GSM 03.38 tables against the standard.
// gsmStandard reads testdata/gsm0338.txt, the GSM 03.38 tables typed from
// the standard apart from the code, and returns each character's septets:
// 1 for the default alphabet, 2 for the extension table.
func gsmStandard(t *testing.T) map[rune]int {
	t.Helper()
	data, err := os.ReadFile("testdata/gsm0338.txt")
	require.NoError(t, err)
	septets := map[rune]int{}
	for line := range strings.SplitSeq(string(data), "\n") {
		code, rest, ok := strings.Cut(line, "\t")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		cp, _, _ := strings.Cut(rest, "\t")
		r, err := strconv.ParseUint(strings.TrimPrefix(cp, "0x"), 16, 32)
		require.NoError(t, err, line)
		_, dup := septets[rune(r)]
		require.False(t, dup, "U+%04X twice", r)
		septets[rune(r)] = len(strings.TrimPrefix(code, "0x")) / 2
	}
	return septets
}

func TestSegmentsGSMAlphabet(t *testing.T) {
	standard := gsmStandard(t)
	counts := map[int]int{}
	for _, n := range standard {
		counts[n]++
	}
	require.Equal(t, 127, counts[1], "the default alphabet: 128 septets less the escape")
	require.Equal(t, 10, counts[2], "the extension table")

	// Over all of Unicode, the code agrees with the standard's table.
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if got, want := gsmSeptets(r), standard[r]; got != want {
			t.Errorf("gsmSeptets(U+%04X %q) = %d, the standard says %d", r, r, got, want)
		}
	}
	// And so does Segments, which packs them.
	for r, n := range standard {
		info := Segments(string(r))
		assert.Equalf(t, EncodingGSM7, info.Encoding, "U+%04X", r)
		assert.Equalf(t, n, info.Characters, "U+%04X counts %d septets", r, n)
	}
	for _, r := range []rune{'`', 'ç', 'á', 0x1b, 0xa0, 'Ω' + 1} {
		assert.Equalf(t, EncodingUCS2, Segments(string(r)).Encoding, "U+%04X is not GSM-7", r)
	}
}

// segCourier builds a Courier for a fresh loopback gateway with opts.
func segCourier(t *testing.T, opts ...Option) (*Courier, *gateway) {
	t.Helper()
	gw := newGateway(t, nil)
	c, err := New(smsConfig(gw.URL+"/send", b64("function(ctx) {to: ctx.to, body: ctx.body}")), opts...)
	require.NoError(t, err)
	return c, gw
}

func TestSegmentsInResult(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want SegmentInfo
	}{
		{"short gsm-7", "Your code is 424242", segGSM(19, 1, 160, 141)},
		{"concatenated gsm-7", strings.Repeat("a", 161), segGSM(161, 2, 153, 145)},
		{"emoji", "code 424242 😀", segUCS2(14, 1, 70, 56)},
		{"empty", "", segGSM(0, 1, 160, 160)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, gw := segCourier(t)
			res, err := c.SendMessage(context.Background(), Message{To: "+14134242223", Body: tc.body})
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Segments)
			assert.Len(t, gw.got(), 1)
		})
	}
}

func TestWithMaxSegments(t *testing.T) {
	const secret = "424242"
	for _, tc := range []struct {
		name    string
		opts    []Option
		body    string
		refused string // "" when accepted, else a part of the error text
	}{
		{"gsm-7 at the limit", []Option{WithMaxSegments(2)}, secret + strings.Repeat("a", 300), ""},
		{"gsm-7 over the limit", []Option{WithMaxSegments(2)}, secret + strings.Repeat("a", 301), "body needs 3 GSM-7 segments, over the limit of 2"},
		{"euro pushed over the limit", []Option{WithMaxSegments(2)}, secret + strings.Repeat("a", 146) + "€" + strings.Repeat("b", 152), "body needs 3 GSM-7 segments, over the limit of 2"},
		{"ucs-2 at the limit", []Option{WithMaxSegments(2)}, secret + strings.Repeat("я", 128), ""},
		{"ucs-2 over the limit", []Option{WithMaxSegments(2)}, secret + strings.Repeat("я", 129), "body needs 3 UCS-2 segments, over the limit of 2"},
		{"one segment", []Option{WithMaxSegments(1)}, secret + strings.Repeat("a", 154), ""},
		{"one segment exceeded", []Option{WithMaxSegments(1)}, secret + strings.Repeat("a", 155), "body needs 2 GSM-7 segments, over the limit of 1"},
		{"empty body is one segment", []Option{WithMaxSegments(1)}, "", ""},
		{"zero is no limit", []Option{WithMaxSegments(0)}, secret + strings.Repeat("a", 2000), ""},
		{"negative is no limit", []Option{WithMaxSegments(-3)}, secret + strings.Repeat("a", 2000), ""},
		{"later option replaces earlier", []Option{WithMaxSegments(1), WithMaxSegments(0)}, secret + strings.Repeat("a", 2000), ""},
		{"later limit applies", []Option{WithMaxSegments(0), WithMaxSegments(1)}, secret + strings.Repeat("a", 200), "body needs 2 GSM-7 segments, over the limit of 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, gw := segCourier(t, tc.opts...)
			m := Message{To: "+14134242223", Body: tc.body}
			res, err := c.SendMessage(context.Background(), m)
			if tc.refused == "" {
				require.NoError(t, err)
				assert.Len(t, gw.got(), 1)
				return
			}
			require.ErrorIs(t, err, ErrInvalidMessage)
			assert.Contains(t, err.Error(), tc.refused)
			assert.NotContains(t, err.Error(), secret)
			assert.Zero(t, res.Attempts)
			_, rerr := c.Render(context.Background(), m)
			assert.ErrorIs(t, rerr, ErrInvalidMessage)
			assert.Empty(t, gw.got(), "the gateway received a refused message")
		})
	}
}

func TestStrictE164(t *testing.T) {
	const body = "Your code is 424242"
	for _, tc := range []struct {
		name string
		to   string
		ok   bool
	}{
		{"valid", "+14134242223", true},
		{"one digit", "+1", true},
		{"fifteen digits", "+123456789012345", true},
		{"no plus", "14134242223", false},
		{"leading zero", "+014134242223", false},
		{"spaces", "+1 413 424 2223", false},
		{"dashes", "+1-413-424-2223", false},
		{"sixteen digits", "+1234567890123456", false},
		{"plus alone", "+", false},
		{"double plus", "++14134242223", false},
		{"trailing letter", "+14134242223x", false},
		{"fullwidth plus", "＋14134242223", false},
		{"arabic-indic digits", "+١٤١٣", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, gw := segCourier(t, WithStrictE164())
			m := Message{To: tc.to, Body: body}
			_, err := c.SendMessage(context.Background(), m)
			if tc.ok {
				require.NoError(t, err)
				assert.Len(t, gw.got(), 1)
				return
			}
			require.ErrorIs(t, err, ErrInvalidMessage)
			msg := err.Error()
			assert.Contains(t, msg, "E.164")
			assert.NotContains(t, msg, tc.to)
			assert.NotContains(t, msg, "4134")
			assert.NotContains(t, msg, "424242")
			_, rerr := c.Render(context.Background(), m)
			assert.ErrorIs(t, rerr, ErrInvalidMessage)
			assert.Empty(t, gw.got(), "the gateway received a refused message")
		})
	}

	t.Run("off by default", func(t *testing.T) {
		c, gw := segCourier(t)
		require.NoError(t, c.Send(context.Background(), "14134242223", body))
		assert.Len(t, gw.got(), 1)
	})

	t.Run("checked before the segment limit", func(t *testing.T) {
		c, gw := segCourier(t, WithStrictE164(), WithMaxSegments(1))
		err := c.Send(context.Background(), "004134242223", strings.Repeat("a", 161))
		require.ErrorIs(t, err, ErrInvalidMessage)
		assert.Contains(t, err.Error(), "E.164")
		assert.Empty(t, gw.got())
	})
}

func FuzzSegments(f *testing.F) {
	for _, s := range []string{
		"", "hello", "€", "[", "😀", "Olá", "ç", "Ç", "ΔΩ", "\x1b", "\xff",
		strings.Repeat("a", 161), strings.Repeat("€", 81),
		strings.Repeat("a", 152) + "€" + strings.Repeat("b", 152),
		strings.Repeat("я", 66) + "😀" + strings.Repeat("я", 66),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := Segments(text)
		require.GreaterOrEqual(t, got.Segments, 1)
		enc, units, segs := segReference(text)
		require.Equal(t, enc, got.Encoding)
		require.Equal(t, units, got.Characters)
		require.Equal(t, segs, got.Segments)

		single, multi := gsmSingle, gsmMulti
		if got.Encoding == EncodingUCS2 {
			single, multi = ucs2Single, ucs2Multi
			require.Equal(t, len(utf16.Encode([]rune(text))), got.Characters)
		} else {
			require.Equal(t, EncodingGSM7, got.Encoding)
			require.LessOrEqual(t, got.Characters, got.Segments*gsmSingle)
		}
		if got.Segments == 1 {
			require.LessOrEqual(t, got.Characters, single)
			require.Equal(t, single, got.CharactersPerSegment)
			require.Equal(t, single-got.Characters, got.Remaining)
			return
		}
		// Every segment but the last holds at least multi-1 units (one
		// may be left empty rather than split a character); the last
		// holds at least one.
		require.Greater(t, got.Characters, single)
		require.LessOrEqual(t, got.Characters, got.Segments*multi)
		require.Greater(t, got.Characters, (got.Segments-1)*(multi-1))
		require.Equal(t, multi, got.CharactersPerSegment)
		require.GreaterOrEqual(t, got.Remaining, 0)
		require.Less(t, got.Remaining, multi)
	})
}

func TestSegmentsDoesNotAllocate(t *testing.T) {
	for _, text := range []string{"", strings.Repeat("a€", 200), strings.Repeat("я😀", 200)} {
		allocs := testing.AllocsPerRun(100, func() { _ = Segments(text) })
		assert.Zero(t, allocs)
	}
}

// TestIsE164 checks the E.164 form shared by strict recipients, route
// prefixes and the guard.
func TestIsE164(t *testing.T) {
	for s, want := range map[string]bool{
		"+14134242223": true, "+1": true, "+123456789012345": true,
		"": false, "+": false, "+0123": false, "14134242223": false,
		"+1234567890123456": false, "+1 413": false, "+1a": false,
	} {
		assert.Equal(t, want, IsE164(s), "%q", s)
	}
}
