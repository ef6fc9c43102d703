package guard

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryStore is a Store in the memory of one process: its limits hold
// for the Guards that share it, not across a fleet (use package pgstore
// for that). It implements Peeker.
//
// A Request is answered under one mutex, so atomically. A key is kept as
// a 128-bit fingerprint made with seeds random to the process: two keys
// share a cell with odds of about one in 2^127 a pair. Cells and
// admissions are kept in 32 shards of open-addressing tables, where a
// lookup reads one or two cache lines. A table is rebuilt without the
// cells whose theoretical arrival time has passed and the admissions past
// their Remember whenever it is three quarters full, and each Take
// rebuilds the next shard in turn when a minute has passed (by the times
// Take is given) since that shard last was: memory stays proportional to
// the cells and admissions that still matter, and no Take waits for more
// than one shard to be rebuilt.
//
// The zero MemoryStore is ready to use. It is safe for concurrent use by
// multiple goroutines.
type MemoryStore struct {
	mu     sync.Mutex
	shards [memShards]memShard
	tick   uint8 // the shard the next Take considers sweeping
}

var _ Peeker = (*MemoryStore)(nil)

const (
	memShards  = 32
	sweepEvery = time.Minute
	minTable   = 64 // the slots of the smallest table
)

// memSeeds make the fingerprints of keys.
var memSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// memKey is the fingerprint of a key, never {0, 0}: its second half places
// it in a shard, its first in the shard's table.
type memKey [2]uint64

func fingerprint(key string) memKey {
	return memKey{maphash.String(memSeeds[0], key), maphash.String(memSeeds[1], key) | 1<<63}
}

func (k memKey) shard() uint8 { return uint8(k[1] % memShards) }

type memShard struct {
	cells     table // key: theoretical arrival time
	admitted  table // message: end of its Remember
	nextSweep int64 // Unix nanoseconds
}

// table maps fingerprints to times, in Unix nanoseconds, by linear
// probing. An entry whose time is not after the present is expired: to
// the store, the same as no entry.
type table struct {
	slots []slot // a power of 2 of them, or none
	used  int
}

type slot struct {
	key memKey // {0, 0}: empty
	at  int64
}

// get returns the time of k, 0 when it has none.
func (tb *table) get(k memKey) int64 {
	mask := len(tb.slots) - 1
	if mask < 0 {
		return 0
	}
	for i := int(k[0]) & mask; ; i = (i + 1) & mask {
		switch tb.slots[i].key {
		case k:
			return tb.slots[i].at
		case memKey{}:
			return 0
		}
	}
}

// set sets the time of k to at. A table three quarters full is first
// rebuilt without the entries expired at t.
func (tb *table) set(k memKey, at, t int64) {
	if (tb.used+1)*4 > len(tb.slots)*3 {
		tb.rebuild(t, 1)
	}
	mask := len(tb.slots) - 1
	for i := int(k[0]) & mask; ; i = (i + 1) & mask {
		sl := &tb.slots[i]
		switch sl.key {
		case k:
			sl.at = at
			return
		case memKey{}:
			sl.key, sl.at = k, at
			tb.used++
			return
		}
	}
}

// rebuild replaces the slots by the fewest, at least minTable, that hold
// the entries not expired at t and room more at most half full.
func (tb *table) rebuild(t int64, room int) {
	live := 0
	for _, sl := range tb.slots {
		if sl.key != (memKey{}) && sl.at > t {
			live++
		}
	}
	size := minTable
	for size < 2*(live+room) {
		size *= 2
	}
	old := tb.slots
	tb.slots, tb.used = make([]slot, size), 0
	mask := size - 1
	for _, sl := range old {
		if sl.key == (memKey{}) || sl.at <= t {
			continue
		}
		i := int(sl.key[0]) & mask
		for tb.slots[i].key != (memKey{}) {
			i = (i + 1) & mask
		}
		tb.slots[i] = sl
		tb.used++
	}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return new(MemoryStore) }

// errBadTake is returned for a Take with an Interval, Burst or Cost out of
// range.
var errBadTake = errors.New("smscourier: guard: take with Interval <= 0, Burst < 1 or Cost < 1")

// Take answers req at now, as Store documents: by GCRA, a take of Cost c
// on a cell of Interval i and Burst b, whose theoretical arrival time is
// tat (now, for a cell not seen or forgotten), is allowed when
// max(tat, now) + c*i - now <= b*i, and then moves tat there; when
// refused, its wait is the excess. A Message of "" is never remembered. It
// fails only for a take out of range (Interval <= 0, Burst < 1, Cost < 1),
// and never blocks on ctx.
func (s *MemoryStore) Take(_ context.Context, now time.Time, req Request) (Decision, error) {
	return s.answer(now, req, true)
}

// Peek returns the Decision Take would return, changing nothing.
func (s *MemoryStore) Peek(_ context.Context, now time.Time, req Request) (Decision, error) {
	return s.answer(now, req, false)
}

func (s *MemoryStore) answer(now time.Time, req Request, count bool) (Decision, error) {
	for _, tk := range req.Takes {
		if tk.Interval <= 0 || tk.Burst < 1 || tk.Cost < 1 {
			return Decision{Refused: -1}, errBadTake
		}
	}
	var keyBuf [maxLimits]memKey
	keys := keyBuf[:0]
	if len(req.Takes) > len(keyBuf) {
		keys = make([]memKey, 0, len(req.Takes))
	}
	for _, tk := range req.Takes {
		keys = append(keys, fingerprint(tk.Key))
	}
	var msg memKey
	if req.Message != "" {
		msg = fingerprint(req.Message)
	}
	return s.decide(now.UnixNano(), msg, req.Remember, req.Takes, keys, count), nil
}

// decide answers, at t (Unix nanoseconds), the takes whose keys'
// fingerprints are keys, for the admission msg ({0, 0}: none), remembered
// for remember when allowed; and counts them when count. The takes are in
// range.
func (s *MemoryStore) decide(t int64, msg memKey, remember time.Duration, takes []Take, keys []memKey, count bool) Decision {
	hasMsg := msg != (memKey{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if hasMsg && s.shards[msg.shard()].admitted.get(msg) > t {
		return Decision{Allowed: true, Refused: -1}
	}
	var tats [maxLimits]int64
	pending := tats[:0]
	if len(takes) > len(tats) {
		pending = make([]int64, 0, len(takes))
	}
	dec := Decision{Allowed: true, Refused: -1}
	for i, tk := range takes {
		k := keys[i]
		tat, seen := int64(0), false
		for j := i - 1; j >= 0; j-- { // a key twice in one request: the later take sees the earlier
			if keys[j] == k {
				tat, seen = pending[j], true
				break
			}
		}
		if !seen {
			tat = s.shards[k.shard()].cells.get(k)
		}
		iv := int64(tk.Interval)
		tat = max(tat, t)
		next := tat + int64(tk.Cost)*iv
		if wait := next - int64(tk.Burst)*iv - t; wait > 0 {
			if dec.Allowed {
				dec.Allowed, dec.Refused = false, i
			}
			dec.RetryAfter = max(dec.RetryAfter, time.Duration(wait))
			next = tat // later takes of the same key see this one uncounted
		}
		pending = append(pending, next)
	}
	if !count || !dec.Allowed {
		return dec
	}
	for i, k := range keys {
		s.shards[k.shard()].cells.set(k, pending[i], t)
	}
	if hasMsg && remember > 0 {
		s.shards[msg.shard()].admitted.set(msg, t+int64(remember), t)
	}
	s.shards[s.tick%memShards].sweep(t)
	s.tick++
	return dec
}

// sweep rebuilds sh's tables without their expired entries, at t, when a
// minute has passed since it last did.
func (sh *memShard) sweep(t int64) {
	if t < sh.nextSweep {
		return
	}
	sh.cells.rebuild(t, 0)
	sh.admitted.rebuild(t, 0)
	sh.nextSweep = t + int64(sweepEvery)
}

// size returns the number of cells and admissions s holds.
func (s *MemoryStore) size() (cells, admissions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.shards {
		cells += s.shards[i].cells.used
		admissions += s.shards[i].admitted.used
	}
	return cells, admissions
}
