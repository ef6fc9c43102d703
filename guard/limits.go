package guard

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/maphash"
	"slices"
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
	// the others.
	key string
	// With a MemoryStore, a subject's limits are the cells of one entry:
	// cell is the limit's, by its rule, the same in every Guard; group,
	// for a global limit, is the entry's key (the MemoryStore's
	// fingerprint of its subject: messages or segments).
	cell  uint8
	group memKey
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
	add := func(rule string, kind limitKind, cell uint8, interval time.Duration, burst int, segments bool) {
		lim := limit{rule: rule, kind: kind, cell: cell, interval: interval, burst: burst, segments: segments, mask: sha256.Sum256([]byte(rule))}
		if kind == kindGlobal {
			if mem != nil {
				budget := "messages"
				if segments {
					budget = "segments"
				}
				lim.group = memSubject(kindGlobal, budget)
			} else {
				lim.key = string(appendKey(nil, subjectDigest(secret, kindGlobal, "", ""), &lim.mask))
			}
		}
		out = append(out, lim)
	}
	perWindow := func(rule string, kind limitKind, cell uint8, window time.Duration, n int, segments bool) {
		if n > 0 {
			add(rule, kind, cell, windowInterval(window, n), n, segments)
		}
	}
	if l.Recipient.Cooldown > 0 {
		add(RuleRecipientCooldown, kindRecipient, 0, l.Recipient.Cooldown, 1, false)
	}
	perWindow(RuleRecipientPerHour, kindRecipient, 1, time.Hour, l.Recipient.PerHour, false)
	perWindow(RuleRecipientPerDay, kindRecipient, 2, 24*time.Hour, l.Recipient.PerDay, false)
	perWindow(RulePrefixPerWindow, kindPrefix, 0, orDefault(l.Prefix.Window, DefaultPrefixWindow), l.Prefix.PerWindow, false)
	perWindow(RuleCountryPerHour, kindCountry, 0, time.Hour, l.Country.PerHour, false)
	perWindow(RuleGlobalMessagesPerHour, kindGlobal, 0, time.Hour, l.Global.MessagesPerHour, false)
	perWindow(RuleGlobalMessagesPerDay, kindGlobal, 1, 24*time.Hour, l.Global.MessagesPerDay, false)
	perWindow(RuleGlobalSegmentsPerHour, kindGlobal, 0, time.Hour, l.Global.SegmentsPerHour, true)
	perWindow(RuleGlobalSegmentsPerDay, kindGlobal, 1, 24*time.Hour, l.Global.SegmentsPerDay, true)
	perWindow(RuleRequesterPerHour, kindRequester, 0, time.Hour, l.Requester.PerHour, false)
	return out
}

// keyLen is the length of a Store key: 32 bytes in unpadded base64url.
const keyLen = 43

// request is the Store request of one message, built on the stack; with
// a Store other than a MemoryStore, but for its keys (one string) and
// its takes (one slice).
type request struct {
	// count is the takes; with a MemoryStore, the Guard's limits, each
	// take the limit of its index.
	count int
	// tooLong is the take of a segment budget the message is longer than,
	// -1 when none.
	tooLong int
	// With a MemoryStore: the fingerprints of the message's subjects, by
	// limitKind (0 for a subject it does not have: no requester, say),
	// its segments, and the fingerprint of its admission.
	subjects [kindCount]memKey
	segments int64
	mmsg     memKey
	fresh    bool // the Guard made the message's idempotency key
	// With another Store: the limit and the cost of each take, a bit for
	// each limitKind drawn on, and the Request.
	index [maxLimits]uint8
	costs [maxLimits]int64
	kinds uint8
	req   Request
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
// keys are not SHA-256 digests but the store's own 64-bit fingerprints,
// made with its random seed (memSubject) of the same tagged subjects: as
// unpredictable to anyone outside the process, and a tenth of the cost.
// The limits of one subject are cells of one entry, by rule (limit.cell),
// in the Guard's plan (guardPlan), made in New: a request is then only
// the message's subjects.
func (r *request) build(g *Guard, m *smscourier.Message, n *number, key string) {
	r.tooLong = -1
	if g.mem != nil {
		r.count = len(g.limits)
		r.subjects[kindRecipient] = n.subjects[kindRecipient]
		r.subjects[kindPrefix] = n.subjects[kindPrefix]
		r.subjects[kindCountry] = n.subjects[kindCountry] // 0 without a country
		if g.mplan.requester && m.Requester != "" {
			r.subjects[kindRequester] = memSubject(kindRequester, m.Requester)
		}
		if g.mplan.segments {
			r.segments = int64(smscourier.Segments(m.Body).Segments)
			if r.segments > g.mplan.minBurst {
				r.tooLong = g.tooLong(r.segments)
			}
		}
		r.mmsg = memAdmission(key, n.subjects[kindRecipient])
		return
	}
	segments := int64(0)
	for i := range g.limits {
		l := &g.limits[i]
		switch l.kind {
		case kindRequester:
			if m.Requester == "" {
				continue
			}
		case kindCountry:
			if _, ok := n.subject(g, l); !ok {
				continue // no country
			}
		}
		cost := int64(1)
		if l.segments {
			if segments == 0 {
				segments = int64(smscourier.Segments(m.Body).Segments)
			}
			if cost = segments; cost > int64(l.burst) && r.tooLong < 0 {
				r.tooLong = r.count
			}
		}
		r.index[r.count], r.costs[r.count] = uint8(i), cost
		r.kinds |= 1 << l.kind
		r.count++
	}
	r.buildStore(g, m, n, key)
}

// rule returns the rule of r's take i.
func (r *request) rule(g *Guard, i int) string {
	if g.mem == nil {
		i = int(r.index[i])
	}
	return g.limits[i].rule
}

// tooLong returns the first of g's segment budgets that a message of
// segments segments is longer than, -1 when none is.
func (g *Guard) tooLong(segments int64) int {
	for i := range g.limits {
		if l := &g.limits[i]; l.segments && segments > int64(l.burst) {
			return i
		}
	}
	return -1
}

// guardPlan is a Guard's limits as its MemoryStore answers them. The
// groups of the memPlan are, in the order of their first limits, the
// subjects of the recipient, prefix, country and requester limits, and
// each budget (messages, segments) of the global limits; a group's cells
// are its limits, each take the index of its limit.
type guardPlan struct {
	memPlan
	requester bool  // a limit is per requester
	segments  bool  // a limit is a segment budget
	minBurst  int64 // the least burst of a segment budget
}

// newGuardPlan returns the guardPlan of limits.
func newGuardPlan(limits []limit) guardPlan {
	var p guardPlan
	type id struct {
		kind  limitKind
		group memKey
	}
	var ids []id
	var members [][]int
	for i, l := range limits {
		k := id{kind: l.kind, group: l.group}
		g := slices.Index(ids, k)
		if g < 0 {
			g, ids, members = len(ids), append(ids, k), append(members, nil)
		}
		members[g] = append(members[g], i)
		p.requester = p.requester || l.kind == kindRequester
		if l.segments {
			if !p.segments || int64(l.burst) < p.minBurst {
				p.minBurst = int64(l.burst)
			}
			p.segments = true
		}
	}
	for g, k := range ids {
		pg := memPlanGroup{key: k.group, subject: k.kind, first: int32(len(p.cells))}
		for _, i := range members[g] {
			l := &limits[i]
			cost := int64(1)
			if l.segments {
				cost = 0 // the message's segments
			}
			p.cells = append(p.cells, memPlanCell{interval: int64(l.interval), burst: int64(l.burst), cost: cost, take: int32(i), cell: l.cell})
		}
		pg.end = int32(len(p.cells))
		p.groups = append(p.groups, pg)
	}
	return p
}

// buildStore makes r.req for a Store other than a MemoryStore: its
// admission and requester keys in one string, its takes in one slice.
func (r *request) buildStore(g *Guard, m *smscourier.Message, n *number, key string) {
	var buf [(maxLimits + 1) * keyLen]byte
	var zero, requester [32]byte
	keys := appendKey(buf[:0], subjectDigest(&g.secret, kindAdmission, key, n.canonical), &zero)
	if r.kinds&(1<<kindRequester) != 0 {
		requester = subjectDigest(&g.secret, kindRequester, m.Requester, "")
	}
	for _, i := range r.index[:r.count] {
		if l := &g.limits[i]; l.kind == kindRequester {
			keys = appendKey(keys, requester, &l.mask)
		}
	}
	all := string(keys)
	next := keyLen
	takes := make([]Take, r.count)
	for j, i := range r.index[:r.count] {
		l := &g.limits[i]
		tk := Take{Interval: l.interval, Burst: l.burst, Cost: int(r.costs[j])}
		switch l.kind {
		case kindGlobal:
			tk.Key = l.key
		case kindRequester:
			tk.Key, next = all[next:next+keyLen], next+keyLen
		default:
			tk.Key = n.keys[i]
		}
		takes[j] = tk
	}
	r.req = Request{Message: all[:keyLen], Remember: g.remember, Takes: takes}
}

// answer asks g's Store about r: Take when count, else Peek (g.peeker).
func (r *request) answer(ctx context.Context, g *Guard, count bool) (Decision, error) {
	if g.mem != nil {
		return g.mem.decide(g.now().UnixNano(), r.mmsg, r.fresh, g.remember, &g.mplan.memPlan, &r.subjects, r.segments, count), nil
	}
	if count {
		return g.store.Take(ctx, g.now(), r.req)
	}
	return g.peeker.Peek(ctx, g.now(), r.req)
}

// memSubject returns the MemoryStore fingerprint of a subject of kind,
// tagged as subjectDigest tags it: maphash with the seed, random to the
// process, of the store's fingerprints.
func memSubject(kind limitKind, subject string) memKey {
	var buf [64]byte
	b := append(buf[:0], kindNames[kind]...)
	b = append(b, 0)
	b = append(b, subject...)
	return memKey(maphash.Bytes(memSeed, b) | 1<<63)
}

// memAdmission returns the MemoryStore fingerprint of the admission of a
// message of idempotency key key to the recipient whose memSubject is
// recipient.
func memAdmission(key string, recipient memKey) memKey {
	var buf [96]byte
	b := append(buf[:0], "admission\x00"...)
	b = binary.LittleEndian.AppendUint64(b, uint64(recipient))
	b = append(b, key...)
	return memKey(maphash.Bytes(memSeed, b) | 1<<63)
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
