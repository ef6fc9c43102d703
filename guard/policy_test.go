package guard

import (
	"context"
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"github.com/smscourier/smscourier"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Numbers the tests use, as libphonenumber classifies them.
const (
	gbMobile    = "+447400123456" // GB, mobile
	gbMobile2   = "+447856123456" // GB, mobile, another range
	usNumber    = "+12015550123"  // US, fixed line or mobile
	frMobile    = "+33612345678"  // FR, mobile
	frPremium   = "+33899123456"  // FR, premium rate
	frInvalid   = "+3312"         // FR, too short: invalid
	tollFreeNG  = "+80012345678"  // international toll free: no country
	notE164     = "07400 123456"  // national form
	unknownCode = "+999123456789" // no such calling code
)

// TestPolicyRules checks each rule of the destination policy: the number
// it refuses is refused with its rule and country, before anything is
// sent, and a number it allows is sent.
func TestPolicyRules(t *testing.T) {
	shared, sharedRegion := exampleOfType(t, phonenumbers.SHARED_COST)
	tollFree, tollFreeRegion := exampleOfType(t, phonenumbers.TOLL_FREE)
	voicemail, voicemailRegion := exampleOfType(t, phonenumbers.VOICEMAIL)
	for _, tc := range []struct {
		name        string
		policy      Policy
		to          string
		wantRule    string // "": sent
		wantCountry string
	}{
		{name: "not e164 with refuse invalid", policy: Policy{RefuseInvalid: true}, to: notE164, wantRule: RuleNotE164},
		{name: "not e164 with a country rule", policy: Policy{DenyCountries: []string{"RU"}}, to: notE164, wantRule: RuleNotE164},
		{name: "not e164 without rules", policy: Policy{}, to: notE164},
		{name: "separators are not e164 trouble", policy: Policy{RefuseInvalid: true}, to: "+44 (0)7400-123.456", wantCountry: "GB"},
		{name: "deny prefix", policy: Policy{DenyPrefixes: []string{"+4474"}}, to: gbMobile, wantRule: RuleDenyPrefix, wantCountry: "GB"},
		{name: "deny prefix, another", policy: Policy{DenyPrefixes: []string{"+4474"}}, to: gbMobile2},
		{name: "deny prefix after canonical form", policy: Policy{DenyPrefixes: []string{"+4474"}}, to: "+44 (0) 7400 123456", wantRule: RuleDenyPrefix, wantCountry: "GB"},
		{name: "not allowed prefix", policy: Policy{AllowPrefixes: []string{"+33", "+1"}}, to: gbMobile, wantRule: RuleNotAllowedPrefix, wantCountry: "GB"},
		{name: "allowed prefix", policy: Policy{AllowPrefixes: []string{"+33", "+1"}}, to: usNumber},
		{name: "unknown country, non-geographic", policy: Policy{DenyCountries: []string{"RU"}}, to: tollFreeNG, wantRule: RuleUnknownCountry},
		{name: "unknown country, no such code", policy: Policy{AllowCountries: []string{"GB"}}, to: unknownCode, wantRule: RuleUnknownCountry},
		{name: "deny country", policy: Policy{DenyCountries: []string{"gb"}}, to: gbMobile, wantRule: RuleDenyCountry, wantCountry: "GB"},
		{name: "deny country, another", policy: Policy{DenyCountries: []string{"GB"}}, to: frMobile},
		{name: "not allowed country", policy: Policy{AllowCountries: []string{"FR", "US"}}, to: gbMobile, wantRule: RuleNotAllowedCountry, wantCountry: "GB"},
		{name: "allowed country", policy: Policy{AllowCountries: []string{"FR", "US"}}, to: usNumber},
		{name: "deny wins over allow", policy: Policy{AllowCountries: []string{"GB"}, DenyCountries: []string{"GB"}}, to: gbMobile, wantRule: RuleDenyCountry, wantCountry: "GB"},
		{name: "invalid number", policy: Policy{RefuseInvalid: true}, to: frInvalid, wantRule: RuleInvalidNumber, wantCountry: "FR"},
		{name: "invalid number, no such code", policy: Policy{RefuseInvalid: true}, to: unknownCode, wantRule: RuleInvalidNumber},
		{name: "valid number", policy: Policy{RefuseInvalid: true}, to: frMobile},
		{name: "number type premium rate", policy: RecommendedConfig().Policy, to: frPremium, wantRule: RuleNumberType, wantCountry: "FR"},
		{name: "number type shared cost", policy: RecommendedConfig().Policy, to: shared, wantRule: RuleNumberType, wantCountry: sharedRegion},
		{name: "number type toll free", policy: RecommendedConfig().Policy, to: tollFree, wantRule: RuleNumberType, wantCountry: tollFreeRegion},
		{name: "number type voicemail", policy: RecommendedConfig().Policy, to: voicemail, wantRule: RuleNumberType, wantCountry: voicemailRegion},
		{name: "number type non-geographic toll free", policy: RecommendedConfig().Policy, to: tollFreeNG, wantRule: RuleNumberType},
		{name: "number type mobile", policy: RecommendedConfig().Policy, to: gbMobile},
		{name: "number type fixed line or mobile", policy: RecommendedConfig().Policy, to: usNumber},
		{name: "number type fixed line is not fixed line or mobile", policy: Policy{DenyNumberTypes: []NumberType{TypeFixedLine, TypeMobile}}, to: usNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, gw := newCourier(t)
			var evs events
			g, err := New(c, Config{Policy: tc.policy}, WithObserver(evs.observe))
			require.NoError(t, err)
			res, err := g.SendMessage(context.Background(), smscourier.Message{To: tc.to, Body: "Your code is 123456"})
			if tc.wantRule == "" {
				require.NoError(t, err)
				gw.AssertCount(t, 1)
				assert.Empty(t, evs.all())
				return
			}
			var be *smscourier.BlockedError
			require.ErrorAs(t, err, &be)
			assert.ErrorIs(t, err, smscourier.ErrBlocked)
			assert.Equal(t, smscourier.BlockedError{Rule: tc.wantRule, Country: tc.wantCountry}, *be)
			assert.NotContains(t, err.Error(), tc.to[1:], "the error shows the number")
			assert.NotEmpty(t, res.IdempotencyKey)
			gw.AssertCount(t, 0)
			want := smscourier.Event{Class: smscourier.ClassBlocked, Final: true, Rule: tc.wantRule, Country: tc.wantCountry,
				To: smscourier.MaskNumber(tc.to), IdempotencyKey: res.IdempotencyKey}
			assert.Equal(t, []smscourier.Event{want}, evs.all())

			// Render and Check apply the policy too.
			_, err = g.Render(context.Background(), smscourier.Message{To: tc.to, Body: "x"})
			assert.Equal(t, be, asBlocked(t, err))
			assert.Equal(t, be, asBlocked(t, g.Check(context.Background(), smscourier.Message{To: tc.to, Body: "x"})))
		})
	}
}

func asBlocked(t *testing.T, err error) *smscourier.BlockedError {
	t.Helper()
	var be *smscourier.BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a *BlockedError", err)
	}
	return be
}

// TestInspect checks what the guard makes of a recipient: its canonical
// form, country, type and range.
func TestInspect(t *testing.T) {
	c, _ := newCourier(t)
	g, err := New(c, Config{})
	require.NoError(t, err)
	for _, tc := range []struct {
		to     string
		want   number
		prefix string
	}{
		{to: gbMobile, want: number{e164: true, numberInfo: &numberInfo{canonical: gbMobile, ccLen: 2, region: "GB", typ: TypeMobile}}, prefix: "+44740"},
		{to: "+44 (0)7400 123456", want: number{e164: true, numberInfo: &numberInfo{canonical: gbMobile, ccLen: 2, region: "GB", typ: TypeMobile}}, prefix: "+44740"},
		{to: usNumber, want: number{e164: true, numberInfo: &numberInfo{canonical: usNumber, ccLen: 1, region: "US", typ: TypeFixedLineOrMobile}}, prefix: "+1201"},
		{to: "+77011000000", want: number{e164: true, numberInfo: &numberInfo{canonical: "+77011000000", ccLen: 1, region: "KZ", typ: TypeMobile}}, prefix: "+7701"},
		{to: "+998901000000", want: number{e164: true, numberInfo: &numberInfo{canonical: "+998901000000", ccLen: 3, region: "UZ", typ: TypeMobile}}, prefix: "+998901"},
		{to: tollFreeNG, want: number{e164: true, numberInfo: &numberInfo{canonical: tollFreeNG, ccLen: 3, typ: TypeTollFree}}, prefix: "+800123"},
		{to: unknownCode, want: number{e164: true, numberInfo: &numberInfo{canonical: unknownCode, ccLen: 3, typ: TypeUnknown}}, prefix: "+999123"},
		{to: frInvalid, want: number{e164: true, numberInfo: &numberInfo{canonical: frInvalid, ccLen: 2, region: "FR", typ: TypeUnknown}}, prefix: "+3312"},
		{to: notE164, want: number{numberInfo: &numberInfo{canonical: "07400123456", typ: TypeUnknown}}, prefix: "074001"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			for range 2 { // the second answer is the cache's
				n := g.inspect(tc.to)
				got := number{e164: n.e164, numberInfo: &numberInfo{canonical: n.canonical, ccLen: n.ccLen, region: n.region, typ: n.typ}}
				assert.Equal(t, tc.want, got)
				assert.Equal(t, tc.prefix, n.prefix(3))
			}
		})
	}
}

// TestNumberCache checks the cache of libphonenumber's answers: a number
// asked again is answered from it while the numbers asked fit in it, and
// after more than fit; a line a writer is changing answers no number;
// and, asked from many goroutines at once, each answer is the number's,
// its copied fields its numberInfo's.
func TestNumberCache(t *testing.T) {
	number := func(i int) string { return "+4474" + string(rune('0'+i%10)) + itoa8(i) }
	// fill marks each numberInfo with its number, in a hot field.
	mark := func(info *numberInfo) {
		last := info.canonical[len(info.canonical)-1]
		info.subjects[kindPrefix] = memKey(len(info.canonical))<<32 | memKey(last)
		info.blocked = last%2 == 0
	}
	fills := 0
	fill := func(info *numberInfo) { fills++; mark(info) }
	check := func(t *testing.T, n string, hot numberHot, info *numberInfo) {
		t.Helper()
		require.NotNil(t, info)
		assert.Equal(t, n, info.canonical)
		assert.Equal(t, info.numberHot, hot, "the line's copy")
	}
	const lines = 256
	c := newNumberCache(lines)
	const half = lines / 2
	for i := range half {
		hot, info := c.get(number(i), fill)
		check(t, number(i), hot, info)
		fills = 0
		hot, info = c.get(number(i), fill) // at once: from the cache
		check(t, number(i), hot, info)
		assert.Zero(t, fills, "asked again at once")
	}
	// A number is answered from the cache when one of its lines holds it,
	// as most do with the cache half full.
	kept := 0
	for i := range half {
		tag := maphash.String(c.seed, number(i)) | 1
		a, b := c.lines2(tag)
		held := a.tag.Load() == tag || b.tag.Load() == tag
		fills = 0
		hot, info := c.get(number(i), fill)
		check(t, number(i), hot, info)
		assert.Equal(t, !held, fills == 1, number(i))
		if held {
			kept++
		}
	}
	assert.Greater(t, kept, half/2)

	// Numbers past its capacity replace others; the last one asked is
	// answered from the cache.
	churn := 2 * lines
	for i := range churn {
		c.get(number(half+i), mark)
	}
	fills = 0
	hot, info := c.get(number(half+churn-1), fill)
	check(t, number(half+churn-1), hot, info)
	assert.Zero(t, fills, "the last number asked, asked again")
	_, info = c.get(gbMobile, mark)
	assert.Equal(t, TypeMobile, info.typ)

	// A line a writer is changing (its sequence odd) answers no number,
	// not even one whose fingerprint it already holds.
	c = newNumberCache(2)
	a, b := number(1), number(2)
	c.get(a, mark)
	c.get(b, mark)
	tagA := maphash.String(c.seed, a) | 1
	for i := range c.lines {
		l := &c.lines[i]
		if l.tag.Load() != 0 && l.tag.Load() != tagA {
			l.seq.Add(1) // a writer replacing b by a: tag first
			l.tag.Store(tagA)
		} else {
			l.tag.Store(0) // a evicted
		}
	}
	fills = 0
	hot, info = c.get(a, fill)
	check(t, a, hot, info)
	assert.Equal(t, 1, fills, "a line being written answered")
	// 8 goroutines ask for 64 numbers, 500 times each, of a cache of 2
	// lines: each evicts the others' answers.
	c = newNumberCache(2)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				n := number((w + i) % 64)
				hot, info := c.get(n, mark)
				if info.canonical != n || hot != info.numberHot {
					t.Errorf("asked for %s, got %s (copy %+v of %+v)", n, info.canonical, hot, info.numberHot)
					return
				}
			}
		})
	}
	wg.Wait()
}

func itoa8(i int) string {
	b := []byte("00000000")
	for k := 7; k >= 0 && i > 0; k-- {
		b[k] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

// TestCallingCodesAgree checks smscourier.CallingCode against
// libphonenumber: every calling code it knows, and no other.
func TestCallingCodesAgree(t *testing.T) {
	known := phonenumbers.GetSupportedCallingCodes()
	for c := 1; c < 1000; c++ {
		n := "+" + strconv.Itoa(c) + "5550123"
		got := smscourier.CallingCode(n)
		switch {
		case known[c] && got != "+"+strconv.Itoa(c):
			t.Errorf("CallingCode(%s) = %q, want +%d", n, got, c)
		case !known[c] && got == "+"+strconv.Itoa(c):
			t.Errorf("CallingCode(%s) = %q, which libphonenumber does not know", n, got)
		}
	}
}
