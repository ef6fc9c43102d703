package guard

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/smscourier/smscourier"
)

// limitKind is a kind of limit, which fails open or closed as a whole.
type limitKind uint8

const (
	kindRecipient limitKind = iota
	kindPrefix
	kindCountry
	kindRequester
	kindGlobal
	kindCount
	kindAdmission = limitKind(255) // not a limit: a message's admission
)

// limit is one configured limit: a GCRA cell per subject.
type limit struct {
	rule     string
	kind     limitKind
	interval time.Duration
	burst    int
	segments bool     // the cost is the message's segments, not 1
	mask     [32]byte // the SHA-256 of rule
	// key is the Store key of a limit with one subject (global), "" for
	// the others; mkey, with a MemoryStore, its fingerprint instead.
	key  string
	mkey memKey
}

// kindNames tag the subjects of each kind in their keys.
var kindNames = [kindCount]string{
	kindRecipient: "recipient", kindPrefix: "prefix", kindCountry: "country",
	kindRequester: "requester", kindGlobal: "global",
}

// maxLimits is the number of limits a Config can set.
const maxLimits = 10

// newLimits returns the limits l sets, in the order of the Rule
// constants.
func newLimits(l Limits, secret *[32]byte, mem bool) []limit {
	var out []limit
	add := func(rule string, kind limitKind, interval time.Duration, burst int, segments bool) {
		lim := limit{rule: rule, kind: kind, interval: interval, burst: burst, segments: segments, mask: sha256.Sum256([]byte(rule))}
		if kind == kindGlobal {
			d := subjectDigest(secret, kindGlobal, "", "")
			if mem {
				lim.mkey = memKeyOf(d, &lim.mask)
			} else {
				lim.key = string(appendKey(nil, d, &lim.mask))
			}
		}
		out = append(out, lim)
	}
	perWindow := func(rule string, kind limitKind, window time.Duration, n int, segments bool) {
		if n > 0 {
			add(rule, kind, windowInterval(window, n), n, segments)
		}
	}
	if l.Recipient.Cooldown > 0 {
		add(RuleRecipientCooldown, kindRecipient, l.Recipient.Cooldown, 1, false)
	}
	perWindow(RuleRecipientPerHour, kindRecipient, time.Hour, l.Recipient.PerHour, false)
	perWindow(RuleRecipientPerDay, kindRecipient, 24*time.Hour, l.Recipient.PerDay, false)
	perWindow(RulePrefixPerWindow, kindPrefix, orDefault(l.Prefix.Window, DefaultPrefixWindow), l.Prefix.PerWindow, false)
	perWindow(RuleCountryPerHour, kindCountry, time.Hour, l.Country.PerHour, false)
	perWindow(RuleGlobalMessagesPerHour, kindGlobal, time.Hour, l.Global.MessagesPerHour, false)
	perWindow(RuleGlobalMessagesPerDay, kindGlobal, 24*time.Hour, l.Global.MessagesPerDay, false)
	perWindow(RuleGlobalSegmentsPerHour, kindGlobal, time.Hour, l.Global.SegmentsPerHour, true)
	perWindow(RuleGlobalSegmentsPerDay, kindGlobal, 24*time.Hour, l.Global.SegmentsPerDay, true)
	perWindow(RuleRequesterPerHour, kindRequester, time.Hour, l.Requester.PerHour, false)
	return out
}

// keyLen is the length of a Store key: 32 bytes in unpadded base64url.
const keyLen = 43

// request is the Store request of one message, built on the stack but
// for its keys (one string) and its takes (one slice); with the Guard's
// own MemoryStore, all on the stack, its keys as fingerprints (mkeys).
type request struct {
	req    Request
	takes  [maxLimits]Take
	limits [maxLimits]*limit
	count  int   // the takes
	kinds  uint8 // a bit for each limitKind drawn on
	// tooLong is the index of a segment budget the message is longer
	// than, -1 when none.
	tooLong int
	// mmsg and mkeys are, for a MemoryStore, the fingerprints of the
	// admission and of the takes' keys.
	mmsg  memKey
	mkeys [maxLimits]memKey
}

// build fills r with the takes of m, to n, under g's limits, and the
// admission of m under key.
//
// A Store key is the SHA-256 of the Guard's secret and the subject (the
// number, its range, its country, the requester, or nothing for a
// budget), tagged with its kind, XOR the SHA-256 of the rule's name, in
// unpadded base64url: a key for each limit, none showing the subject,
// and none that can be reversed without the secret. The keys of a
// number's limits are made once while the Guard caches the number; those
// of budgets, once in New. The admission is the SHA-256 of the secret,
// the idempotency key and the number.
//
// With a MemoryStore (g.mem), the keys are not encoded: a key's
// fingerprint in the store is the first 128 bits of the same digest
// (memKeyOf), which the secret makes as unpredictable as the store's own
// fingerprints, and r.req is left empty.
func (r *request) build(g *Guard, m *smscourier.Message, n *number, key string) {
	r.tooLong = -1
	mem := g.mem != nil
	var buf [(maxLimits + 1) * keyLen]byte
	var zero [32]byte
	var keys []byte
	admission := subjectDigest(&g.secret, kindAdmission, key, n.canonical)
	if mem {
		r.mmsg = memKeyOf(admission, &zero)
	} else {
		keys = appendKey(buf[:0], admission, &zero)
	}
	var digests [kindCount][32]byte
	var digested uint8
	var owned [maxLimits]bool // the take's key is in keys
	segments := 0
	count := 0
	for i := range g.limits {
		l := &g.limits[i]
		tk := Take{Key: n.keys[i], Interval: l.interval, Burst: l.burst, Cost: 1}
		mk := n.mkeys[i]
		if tk.Key == "" && mk == (memKey{}) {
			tk.Key, mk = l.key, l.mkey
		}
		if tk.Key == "" && mk == (memKey{}) {
			subject, ok := n.subject(g, l)
			if !ok {
				subject, ok = m.Requester, l.kind == kindRequester && m.Requester != ""
			}
			if !ok {
				continue
			}
			if digested&(1<<l.kind) == 0 {
				digests[l.kind] = subjectDigest(&g.secret, l.kind, subject, "")
				digested |= 1 << l.kind
			}
			if mem {
				mk = memKeyOf(digests[l.kind], &l.mask)
			} else {
				keys = appendKey(keys, digests[l.kind], &l.mask)
				owned[count] = true
			}
		}
		if l.segments {
			if segments == 0 {
				segments = smscourier.Segments(m.Body).Segments
			}
			tk.Cost = segments
			if tk.Cost > l.burst && r.tooLong < 0 {
				r.tooLong = count
			}
		}
		r.takes[count] = tk
		r.mkeys[count] = mk
		r.limits[count] = l
		r.kinds |= 1 << l.kind
		count++
	}
	r.count = count
	if mem {
		return
	}
	all := string(keys)
	// The Store gets a copy of the takes: r stays on the stack.
	takes := make([]Take, count)
	copy(takes, r.takes[:count])
	next := keyLen
	for i := range takes {
		if owned[i] {
			takes[i].Key = all[next : next+keyLen]
			next += keyLen
		}
	}
	r.req = Request{Message: all[:keyLen], Remember: g.remember, Takes: takes}
}

// answer asks g's Store about r: Take when count, else Peek (g.peeker).
func (r *request) answer(ctx context.Context, g *Guard, count bool) (Decision, error) {
	if g.mem != nil {
		return g.mem.decide(g.now().UnixNano(), r.mmsg, g.remember, r.takes[:r.count], r.mkeys[:r.count], count), nil
	}
	if count {
		return g.store.Take(ctx, g.now(), r.req)
	}
	return g.peeker.Peek(ctx, g.now(), r.req)
}

// memKeyOf returns the MemoryStore fingerprint of the key made of digest
// d and mask: the first 128 bits of d XOR mask, never {0, 0}.
func memKeyOf(d [32]byte, mask *[32]byte) memKey {
	return memKey{
		binary.LittleEndian.Uint64(d[0:8]) ^ binary.LittleEndian.Uint64(mask[0:8]),
		(binary.LittleEndian.Uint64(d[8:16]) ^ binary.LittleEndian.Uint64(mask[8:16])) | 1<<63,
	}
}

// subject returns the subject of limit l that the number decides, and
// whether there is one: the number for a recipient limit, its range for a
// prefix limit, its country (or, without one, its calling code) for a
// country limit. A number not in E.164 form has no country.
func (n *number) subject(g *Guard, l *limit) (string, bool) {
	switch l.kind {
	case kindRecipient:
		return n.canonical, true
	case kindPrefix:
		return n.prefix(g.prefixDigits), true
	case kindCountry:
		switch {
		case n.region != "":
			return n.region, true
		case n.e164:
			return n.canonical[:1+n.ccLen], true // a non-geographic calling code
		}
	}
	return "", false
}

// subjectDigest returns the SHA-256 of the Guard's secret, and of a
// subject of kind (or of an admission), and extra when not empty,
// NUL-separated: a keyed hash, which no one without the secret can
// reverse by hashing every number.
func subjectDigest(secret *[32]byte, kind limitKind, subject, extra string) [32]byte {
	var in [512]byte
	b := append(in[:0], secret[:]...)
	if kind == kindAdmission {
		b = append(b, "admission"...)
	} else {
		b = append(b, kindNames[kind]...)
	}
	b = append(b, 0)
	b = append(b, subject...)
	if extra != "" {
		b = append(b, 0)
		b = append(b, extra...)
	}
	return sha256.Sum256(b)
}

// appendKey appends d XOR mask, in unpadded base64url, to dst.
func appendKey(dst []byte, d [32]byte, mask *[32]byte) []byte {
	for i := range d {
		d[i] ^= mask[i]
	}
	return base64.RawURLEncoding.AppendEncode(dst, d[:])
}
