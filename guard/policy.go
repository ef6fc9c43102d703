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
	e164        bool
	*numberInfo // shared with the cache: read only
}

// numberInfo is what libphonenumber says of an E.164 number, and what
// a Guard made of it. Its first 40 bytes hold what a check reads: the
// rest is read when a message is refused, or with a Store other than a
// MemoryStore.
type numberInfo struct {
	fp uint64 // numberCache's second fingerprint of the number
	// subjects are, with a MemoryStore, the store's fingerprints of the
	// number's subjects of the recipient, prefix and country limits
	// (memSubject), by limitKind; zero for a subject of no limit.
	subjects [kindCountry + 1]memKey
	ccLen    uint8 // the digits of the calling code
	// blocked is true when the Guard's policy refuses the number; rule
	// says by which rule.
	blocked bool
	// country is true when the number has a subject for a country limit:
	// a country or, without one, an E.164 calling code.
	country bool

	rule string
	// canonical is the number in E.164 form as libphonenumber writes it
	// ("+44 (0)7400 123456" is +447400123456); for a recipient not in
	// E.164 form, the recipient without separators.
	canonical string
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
// with what the Guard made of them, at most cacheSets*cacheWays of them:
// a set-associative table, where a number's set is one cache line of
// tags and pointers, read without a lock. A number is known by two 64-bit
// fingerprints with seeds random to the process, one the tag in its set,
// the other in its numberInfo: two numbers share an entry with odds of
// about one in 2^126 a pair. A number not in the table replaces one of
// its set chosen by its fingerprint.
//
// It is hand-written, not a library's cache, because a check runs it
// once per message on memory the send around it has just evicted: its
// lookup reads two cache lines, one of them the numberInfo the check goes
// on to read, and takes no lock.
type numberCache struct {
	seeds [2]maphash.Seed
	sets  []cacheSet
}

const (
	cacheSets = 4096 // a power of 2
	cacheWays = 4
)

// cacheSet is one set of the table: 64 bytes, a cache line.
type cacheSet [cacheWays]cacheWay

type cacheWay struct {
	tag  atomic.Uint64 // the first fingerprint of the number; 0: empty
	info atomic.Pointer[numberInfo]
}

// newNumberCache returns an empty numberCache of sets sets, a power of 2.
func newNumberCache(sets int) *numberCache {
	return &numberCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, sets: make([]cacheSet, sets)}
}

// get returns the numberInfo of s, an E.164 number, completed by fill
// when libphonenumber is asked.
func (c *numberCache) get(s string, fill func(*numberInfo)) *numberInfo {
	tag, fp := maphash.String(c.seeds[0], s)|1, maphash.String(c.seeds[1], s)
	set := &c.sets[(tag>>32)&uint64(len(c.sets)-1)]
	for i := range set {
		if set[i].tag.Load() == tag {
			// A writer may have replaced the entry since: fp tells.
			if info := set[i].info.Load(); info != nil && info.fp == fp {
				return info
			}
		}
	}
	info := classify(s)
	info.fp = fp
	fill(info)
	way := &set[fp%cacheWays]
	for i := range set {
		if set[i].tag.Load() == 0 {
			way = &set[i]
			break
		}
	}
	way.info.Store(info)
	way.tag.Store(tag)
	return info
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
