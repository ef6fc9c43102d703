package guard

import (
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nyaruka/phonenumbers"
)

// The rules a Guard refuses a message by, in BlockedError.Rule and
// Event.Rule. The policy's rules come first, in the order they are
// checked; then the limits', in the order they are counted.
const (
	// RuleNotE164: the recipient is not an E.164 number (a plus sign and
	// 1 to 15 digits, the first not 0, once spaces, hyphens, dots and
	// parentheses are removed) while a policy rule is set, which could
	// not be checked on it.
	RuleNotE164 = "not_e164"
	// RuleDenyPrefix: the number starts with a prefix of
	// Policy.DenyPrefixes.
	RuleDenyPrefix = "deny_prefix"
	// RuleNotAllowedPrefix: Policy.AllowPrefixes is set and the number
	// starts with none of them.
	RuleNotAllowedPrefix = "not_allowed_prefix"
	// RuleUnknownCountry: a country rule is set and the number has no
	// country: libphonenumber cannot parse it, knows no country for it, or
	// its calling code is a non-geographic one (+800, +881, +882, ...).
	RuleUnknownCountry = "unknown_country"
	// RuleDenyCountry: the number's country is in Policy.DenyCountries.
	RuleDenyCountry = "deny_country"
	// RuleNotAllowedCountry: Policy.AllowCountries is set and the
	// number's country is not in it.
	RuleNotAllowedCountry = "not_allowed_country"
	// RuleInvalidNumber: Policy.RefuseInvalid is set and libphonenumber
	// says the number is invalid.
	RuleInvalidNumber = "invalid_number"
	// RuleNumberType: the number's type is in Policy.DenyNumberTypes.
	RuleNumberType = "number_type"

	RuleRecipientCooldown     = "recipient_cooldown"       // Limits.Recipient.Cooldown
	RuleRecipientPerHour      = "recipient_per_hour"       // Limits.Recipient.PerHour
	RuleRecipientPerDay       = "recipient_per_day"        // Limits.Recipient.PerDay
	RulePrefixPerWindow       = "prefix_per_window"        // Limits.Prefix.PerWindow
	RuleCountryPerHour        = "country_per_hour"         // Limits.Country.PerHour
	RuleGlobalMessagesPerHour = "global_messages_per_hour" // Limits.Global.MessagesPerHour
	RuleGlobalMessagesPerDay  = "global_messages_per_day"  // Limits.Global.MessagesPerDay
	RuleGlobalSegmentsPerHour = "global_segments_per_hour" // Limits.Global.SegmentsPerHour
	RuleGlobalSegmentsPerDay  = "global_segments_per_day"  // Limits.Global.SegmentsPerDay
	RuleRequesterPerHour      = "requester_per_hour"       // Limits.Requester.PerHour
	RuleStoreUnavailable      = "store_unavailable"        // the Store failed and a limit fails closed
)

// number is what a Guard knows of a recipient.
type number struct {
	// e164 is true when the recipient is an E.164 number once separators
	// are removed.
	e164 bool
	// numberHot is a copy of the numberInfo's, read from the number's
	// line in the numberCache: a check that allows the number, with a
	// MemoryStore, reads nothing else of it.
	numberHot
	*numberInfo // shared with the cache: read only
}

// numberHot is what a check reads of a number with a MemoryStore.
type numberHot struct {
	// subjects are, with a MemoryStore, the store's fingerprints of the
	// number's subjects of the recipient, prefix and country limits
	// (memSubject), by limitKind; zero for a subject of no limit, or that
	// the number does not have (no country).
	subjects [kindCountry + 1]memKey
	// blocked is true when the Guard's policy refuses the number; rule
	// says by which rule.
	blocked bool
}

// numberInfo is what libphonenumber says of an E.164 number, and what
// a Guard made of it: the numberHot, and what is read when a message is
// refused, or with a Store other than a MemoryStore.
type numberInfo struct {
	numberHot
	rule string
	// canonical is the number in E.164 form as libphonenumber writes it
	// ("+44 (0)7400 123456" is +447400123456); for a recipient not in
	// E.164 form, the recipient without separators.
	canonical string
	ccLen     uint8      // the digits of the calling code
	region    string     // ISO 3166 alpha-2; "" when none
	typ       NumberType // TypeUnknown for an invalid number
	// keys are, with a Store other than a MemoryStore, by the index of
	// the Guard's limit, the Store keys of the limits whose subject the
	// number decides (recipient, prefix, country), made once for a number
	// the Guard caches; "" for the others.
	keys [maxLimits]string
}

// valid reports whether libphonenumber says the number is valid.
func (n *number) valid() bool { return n.e164 && n.typ != TypeUnknown }

// prefix returns the number's range for the per-prefix limit: the
// calling code and the next digits digits, or, for a recipient not in
// E.164 form, its first 3+digits characters.
func (n *number) prefix(digits int) string {
	end := 1 + int(n.ccLen) + digits
	if !n.e164 {
		end = 3 + digits
	}
	return n.canonical[:min(end, len(n.canonical))]
}

// isSeparator reports whether c is a separator people write in phone
// numbers, which the guard removes.
func isSeparator(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')'
}

// stripSeparators returns s without separators; s itself when it has
// none.
func stripSeparators(s string) string {
	i := 0
	for i < len(s) && !isSeparator(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s))
	copy(b, s[:i])
	for ; i < len(s); i++ {
		if !isSeparator(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// classify asks libphonenumber about s, an E.164 number. It takes tens of
// microseconds: numberCache keeps its answers.
func classify(s string) *numberInfo {
	pn, err := phonenumbers.Parse(s, "")
	if err != nil {
		return &numberInfo{canonical: strings.Clone(s), ccLen: callingCodeLen(s), typ: TypeUnknown}
	}
	info := &numberInfo{
		canonical: phonenumbers.Format(pn, phonenumbers.E164),
		ccLen:     uint8(len(strconv.Itoa(int(pn.GetCountryCode())))),
		region:    phonenumbers.GetRegionCodeForNumber(pn),
		typ:       numberTypes[phonenumbers.GetNumberType(pn)],
	}
	if info.region == "001" { // UN M.49 "World": a non-geographic calling code
		info.region = ""
	}
	return info
}

// callingCodes are the country calling codes libphonenumber knows.
var callingCodes = sync.OnceValue(phonenumbers.GetSupportedCallingCodes)

// callingCodeLen returns the length of the calling code of s, an E.164
// number: calling codes are prefix-free, so at most one of its first 1 to
// 3 digits is one; 3 when none is.
func callingCodeLen(s string) uint8 {
	codes := callingCodes()
	for n := 1; n <= 3 && n < len(s); n++ {
		cc, _ := strconv.Atoi(s[1 : 1+n])
		if codes[cc] {
			return uint8(n)
		}
	}
	return uint8(min(3, len(s)-1))
}

// numberCache keeps what libphonenumber said of the numbers seen last,
// with what the Guard made of them, at most cacheLines of them. A number
// is known by a 64-bit fingerprint, maphash with a seed random to the
// process (two numbers share one with odds of about one in 2^63 a pair),
// which names two lines, either of which may hold it: a line holds the
// fingerprint, a copy of the number's numberHot and its numberInfo. A
// number not in the table replaces one of its two.
//
// It is hand-written, not a library's cache, because a check runs it
// once per message on memory the send around it has just evicted: a
// lookup reads two cache lines whose addresses the fingerprint gives, so
// that their misses overlap, and, when the number is there, nothing else
// (the numberInfo is read only when a message is refused, or with a
// Store other than a MemoryStore). Timed between sends against the set-
// associative table of pointers to numberInfos it replaced, both in one
// process, the median lookup took 239 to 361 ns against 272 to 424 ns
// (docs/guard.md). It takes no lock: a line is a sequence lock, written
// by one writer at a time; a reader that finds a writer busy with it
// asks libphonenumber again.
type numberCache struct {
	seed   maphash.Seed
	lines  []cacheLine
	victim atomic.Uint32 // which of its two lines the next number replaces
}

// cacheLines is the number of lines of a Guard's numberCache: a power of 2.
const cacheLines = 16384

// cacheLine is one line of a numberCache: 64 bytes, a cache line, of
// atomics, so that readers race with no writer.
type cacheLine struct {
	seq      atomic.Uint64 // odd while a writer changes the line
	tag      atomic.Uint64 // the number's fingerprint; 0: empty
	subjects [kindCountry + 1]atomic.Uint64
	blocked  atomic.Bool
	info     atomic.Pointer[numberInfo]
	_        [8]byte
}

// newNumberCache returns an empty numberCache of lines lines, a power of
// 2 and at least 2.
func newNumberCache(lines int) *numberCache {
	return &numberCache{seed: maphash.MakeSeed(), lines: make([]cacheLine, lines)}
}

// get returns what the cache knows of s, an E.164 number, completed by
// fill when libphonenumber is asked.
func (c *numberCache) get(s string, fill func(*numberInfo)) (numberHot, *numberInfo) {
	tag := maphash.String(c.seed, s) | 1
	a, b := c.lines2(tag)
	if hot, info, ok := a.read(tag); ok {
		return hot, info
	}
	if hot, info, ok := b.read(tag); ok {
		return hot, info
	}
	info := classify(s)
	fill(info)
	line := a
	switch {
	case a.tag.Load() == 0:
	case b.tag.Load() == 0:
		line = b
	case c.victim.Add(1)&1 == 0:
		line = b
	}
	line.write(tag, info)
	return info.numberHot, info
}

// lines2 returns the two lines of the fingerprint tag, which differ.
func (c *numberCache) lines2(tag uint64) (a, b *cacheLine) {
	mask := uint64(len(c.lines) - 1)
	i, j := tag&mask, (tag>>32)&mask
	if j == i {
		j = (i + 1) & mask
	}
	return &c.lines[i], &c.lines[j]
}

// read returns the line's number when its fingerprint is tag and no
// writer changed it meanwhile; ok is false otherwise.
func (l *cacheLine) read(tag uint64) (hot numberHot, info *numberInfo, ok bool) {
	seq := l.seq.Load()
	if seq&1 != 0 || l.tag.Load() != tag {
		return hot, nil, false
	}
	hot.subjects[0] = memKey(l.subjects[0].Load())
	hot.subjects[1] = memKey(l.subjects[1].Load())
	hot.subjects[2] = memKey(l.subjects[2].Load())
	hot.blocked = l.blocked.Load()
	info = l.info.Load()
	if l.seq.Load() != seq {
		return numberHot{}, nil, false
	}
	return hot, info, true
}

// write makes the line hold info, of fingerprint tag, unless another
// writer is changing it.
func (l *cacheLine) write(tag uint64, info *numberInfo) {
	seq := l.seq.Load()
	if seq&1 != 0 || !l.seq.CompareAndSwap(seq, seq+1) {
		return
	}
	l.tag.Store(tag)
	for i := range l.subjects {
		l.subjects[i].Store(uint64(info.subjects[i]))
	}
	l.blocked.Store(info.blocked)
	l.info.Store(info)
	l.seq.Store(seq + 2)
}

// policy is a Policy ready to apply.
type policy struct {
	any            bool // any rule is set
	countryRules   bool
	allowCountries map[string]bool
	denyCountries  map[string]bool
	allowPrefixes  []string
	denyPrefixes   []string
	denyTypes      map[NumberType]bool
	refuseInvalid  bool
}

func newPolicy(p Policy) policy {
	out := policy{
		any:           !p.isZero(),
		countryRules:  len(p.AllowCountries) > 0 || len(p.DenyCountries) > 0,
		allowPrefixes: p.AllowPrefixes,
		denyPrefixes:  p.DenyPrefixes,
		refuseInvalid: p.RefuseInvalid,
	}
	set := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, c := range list {
			m[strings.ToUpper(c)] = true
		}
		return m
	}
	out.allowCountries, out.denyCountries = set(p.AllowCountries), set(p.DenyCountries)
	out.denyTypes = make(map[NumberType]bool, len(p.DenyNumberTypes))
	for _, t := range p.DenyNumberTypes {
		out.denyTypes[t] = true
	}
	return out
}

// rule returns the rule that refuses n, "" when none does.
func (p *policy) rule(n *number) string {
	switch {
	case !p.any:
		return ""
	case !n.e164:
		return RuleNotE164
	case hasPrefix(n.canonical, p.denyPrefixes):
		return RuleDenyPrefix
	case len(p.allowPrefixes) > 0 && !hasPrefix(n.canonical, p.allowPrefixes):
		return RuleNotAllowedPrefix
	case p.countryRules && n.region == "":
		return RuleUnknownCountry
	case p.denyCountries[n.region]:
		return RuleDenyCountry
	case len(p.allowCountries) > 0 && !p.allowCountries[n.region]:
		return RuleNotAllowedCountry
	case p.refuseInvalid && !n.valid():
		return RuleInvalidNumber
	case p.denyTypes[n.typ]:
		return RuleNumberType
	}
	return ""
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
