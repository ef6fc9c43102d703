package guard

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"hash/maphash"
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
	// mmask is, with a MemoryStore, the store's fingerprint of rule,
	// which keys the limit's subjects apart from other limits'.
	mmask memKey
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
func newLimits(l Limits, secret *[32]byte, mem *MemoryStore) []limit {
	var out []limit
	add := func(rule string, kind limitKind, interval time.Duration, burst int, segments bool) {
		lim := limit{rule: rule, kind: kind, interval: interval, burst: burst, segments: segments, mask: sha256.Sum256([]byte(rule))}
		if mem != nil {
			lim.mmask = fingerprint(rule)
		}
		if kind == kindGlobal {
			if mem != nil {
				lim.mkey = memSubject(kindGlobal, "", "").masked(lim.mmask)
			} else {
				lim.key = string(appendKey(nil, subjectDigest(secret, kindGlobal, "", ""), &lim.mask))
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
// With a MemoryStore (g.mem), whose state never leaves the process, the
// keys are not SHA-256 digests but the store's own 128-bit fingerprints,
// made with its random seeds (memSubject) of the same tagged subjects,
// XOR a fingerprint of the rule's name: as unpredictable to anyone
// outside the process, and a tenth of the cost. r.req is left empty.
func (r *request) build(g *Guard, m *smscourier.Message, n *number, key string) {
	r.tooLong = -1
	mem := g.mem != nil
	var buf [(maxLimits + 1) * keyLen]byte
	var zero [32]byte
	var keys []byte
	if mem {
		r.mmsg = memSubject(kindAdmission, key, n.canonical)
	} else {
		keys = appendKey(buf[:0], subjectDigest(&g.secret, kindAdmission, key, n.canonical), &zero)
	}
	var digests [kindCount][32]byte
	var mdigests [kindCount]memKey
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
				if mem {
					mdigests[l.kind] = memSubject(l.kind, subject, "")
				} else {
					digests[l.kind] = subjectDigest(&g.secret, l.kind, subject, "")
				}
				digested |= 1 << l.kind
			}
			if mem {
				mk = mdigests[l.kind].masked(l.mmask)
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

// memSubject returns the MemoryStore fingerprint of a subject of kind (or
// of an admission), and extra when not empty, tagged and NUL-separated as
// subjectDigest hashes them: 128 bits of maphash with the seeds, random to
// the process, of the store's fingerprints.
func memSubject(kind limitKind, subject, extra string) memKey {
	var k memKey
	for i := range k {
		var h maphash.Hash
		h.SetSeed(memSeeds[i])
		if kind == kindAdmission {
			h.WriteString("admission")
		} else {
			h.WriteString(kindNames[kind])
		}
		h.WriteByte(0)
		h.WriteString(subject)
		if extra != "" {
			h.WriteByte(0)
			h.WriteString(extra)
		}
		k[i] = h.Sum64()
	}
	k[1] |= 1 << 63
	return k
}

// masked returns k XOR mask, never {0, 0}: the key of one limit of k's
// subject.
func (k memKey) masked(mask memKey) memKey {
	return memKey{k[0] ^ mask[0], (k[1] ^ mask[1]) | 1<<63}
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
