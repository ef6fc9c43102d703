package guard

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store in the memory of one process: its limits hold
// for the Guards that share it, not across a fleet (use package pgstore
// for that). It implements Peeker.
//
// A Request is answered under one mutex, so atomically. A key is kept as
// a 64-bit fingerprint made with a seed random to the process: two keys
// share a cell with odds of about one in 2^63 a pair (of a million keys,
// one pair in 18 million million). Cells and admissions are kept in 32
// shards of open-addressing tables, where a lookup reads one or two
// cache lines; a Guard keeps the cells of one subject (a number's three
// recipient limits, say) in one entry, read together, by a plan of its
// limits it makes once. The admissions of messages whose idempotency
// keys a Guard made itself, which no earlier request can have admitted,
// are not looked up, and are put in the tables 64 at a time (which
// measured faster than one at a time: see docs/guard.md). A table is
// rebuilt without the entries whose theoretical arrival times have all
// passed and the admissions past their Remember whenever it is three
// quarters full, and each Take rebuilds the next shard in turn when a
// minute has passed (by the times Take is given) since that shard last
// was: memory stays proportional to the cells and admissions that still
// matter, and no Take waits for more than one shard to be rebuilt.
//
// The zero MemoryStore is ready to use. It is safe for concurrent use by
// multiple goroutines.
type MemoryStore struct {
	mu     sync.Mutex
	shards [memShards]memShard
	tick   uint8 // the shard the next Take considers sweeping
	// sweepDue is the earliest time, in Unix nanoseconds, a shard's
	// sweep is due: before it, a Take reads no shard to know.
	sweepDue int64
	// pending are admissions of fresh messages not yet in their shards'
	// tables, npending of them: they are put there in batches.
	pending  [memBatch]pendingAdmission
	npending int
	// spareCells and spareAdmitted are the slots of the tables rebuilt
	// last, for the next rebuilds to reuse.
	spareCells    []slot[cellTimes]
	spareAdmitted []slot[struct{}]
}

// memBatch is the number of fresh admissions put in the tables at once.
const memBatch = 64

type pendingAdmission struct {
	key memKey
	at  int64
}

var _ Peeker = (*MemoryStore)(nil)

const (
	memShards  = 32
	sweepEvery = time.Minute
	minTable   = 64 // the slots of the smallest table
	// memCells is the number of cells an entry holds: the most limits a
	// Guard keeps for one subject (a recipient's cooldown, per hour and
	// per day).
	memCells = 3
)

// memSeed makes the fingerprints of keys.
var memSeed = maphash.MakeSeed()

// memKey is the fingerprint of a key, never 0: its low 5 bits place it in
// a shard, the next in the shard's table.
type memKey uint64

func fingerprint(key string) memKey { return memKey(maphash.String(memSeed, key) | 1<<63) }

func (k memKey) shard() uint8 { return uint8(k % memShards) }

// home returns k's first slot in a table of mask+1 slots.
func (k memKey) home(mask int) int { return int(k/memShards) & mask }

type memShard struct {
	cells     table[cellTimes] // an entry's cells' theoretical arrival times
	admitted  table[struct{}]  // an admission, until the end of its Remember
	nextSweep int64            // Unix nanoseconds
}

// cellTimes are the theoretical arrival times of an entry's cells, in Unix
// nanoseconds, by cell.
type cellTimes [memCells]int64

// decide writes an entry's cells one by one, all memCells of them.
var _ = [1]struct{}{}[memCells-3]

// memPlan is a request as a MemoryStore answers it: groups of cells, a
// group's cells those of one entry, read and written together. A Guard
// makes its plan once, in New, so that a check builds nothing but the
// subjects of its message; Take and Peek make one of a Request.
type memPlan struct {
	groups []memPlanGroup
	cells  []memPlanCell // each group's, in the order of their takes
}

// memPlanGroup is one entry of a memPlan: the entry of key, or, when key
// is 0, of the request's subject of kind subject (none when that is 0,
// a message without a requester, say: its cells are not taken).
type memPlanGroup struct {
	key        memKey
	subject    limitKind
	first, end int32 // its cells: memPlan.cells[first:end]
}

// memPlanCell is a take of a cell of an entry: of cost cost (0: the
// request's segments), interval and burst; take is the index a refusal
// reports in Decision.Refused.
type memPlanCell struct {
	interval int64 // nanoseconds
	burst    int64
	cost     int64
	take     int32
	cell     uint8
}

// table maps fingerprints to values of type V and times, in Unix
// nanoseconds, by linear probing. An entry whose time is not after the
// present is expired: to the store, the same as no entry.
type table[V any] struct {
	slots []slot[V] // a power of 2 of them, or none
	used  int
}

type slot[V any] struct {
	val V      // first: a V of size 0 (struct{}) then takes no room
	key memKey // 0: empty
	at  int64
}

// get returns k's slot, nil when it has none.
func (tb *table[V]) get(k memKey) *slot[V] {
	mask := len(tb.slots) - 1
	if mask < 0 {
		return nil
	}
	for i := k.home(mask); ; i = (i + 1) & mask {
		switch sl := &tb.slots[i]; sl.key {
		case k:
			return sl
		case 0:
			return nil
		}
	}
}

// put returns k's slot, a new one when it has none, valid until the next
// put. A table three quarters full is first rebuilt without the entries
// expired at t (with spare, as rebuild).
func (tb *table[V]) put(k memKey, t int64, spare *[]slot[V]) *slot[V] {
	if (tb.used+1)*4 > len(tb.slots)*3 {
		tb.rebuild(t, 1, spare)
	}
	mask := len(tb.slots) - 1
	for i := k.home(mask); ; i = (i + 1) & mask {
		switch sl := &tb.slots[i]; sl.key {
		case k:
			return sl
		case 0:
			sl.key = k
			tb.used++
			return sl
		}
	}
}

// rebuild replaces the slots by the fewest, at least minTable, that hold
// the entries not expired at t and room more at most half full. It builds
// them in *spare when that is large enough, and leaves there the slots it
// replaced when they are at most twice the new ones: a store rebuilding
// its tables one after another keeps reusing the same memory rather than
// asking the allocator for new, zeroed, and often not yet mapped, memory
// each time.
func (tb *table[V]) rebuild(t int64, room int, spare *[]slot[V]) {
	live := 0
	for i := range tb.slots {
		if tb.slots[i].key != 0 && tb.slots[i].at > t {
			live++
		}
	}
	size := minTable
	for size < 2*(live+room) {
		size *= 2
	}
	old := tb.slots
	if cap(*spare) >= size {
		tb.slots = (*spare)[:size]
		clear(tb.slots)
	} else {
		tb.slots = make([]slot[V], size)
	}
	*spare = nil
	if cap(old) <= 2*size {
		*spare = old
	}
	tb.used = 0
	mask := size - 1
	for i := range old {
		sl := &old[i]
		if sl.key == 0 || sl.at <= t {
			continue
		}
		j := sl.key.home(mask)
		for tb.slots[j].key != 0 {
			j = (j + 1) & mask
		}
		tb.slots[j] = *sl
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
	// A plan of the Request's takes, a group for each key, in the order
	// they first appear, its cells its takes (cell 0, that of a key's own
	// entry), in order, so that a take sees the takes of its key before
	// it.
	var groupBuf [maxLimits]memPlanGroup
	var cellBuf [maxLimits]memPlanCell
	plan := memPlan{groups: groupBuf[:0], cells: cellBuf[:0]}
	var ofBuf [maxLimits]int32
	of := ofBuf[:0] // the group of each take
	for _, tk := range req.Takes {
		if tk.Interval <= 0 || tk.Burst < 1 || tk.Cost < 1 {
			return Decision{Refused: -1}, errBadTake
		}
		k := fingerprint(tk.Key)
		g := slices.IndexFunc(plan.groups, func(pg memPlanGroup) bool { return pg.key == k })
		if g < 0 {
			g, plan.groups = len(plan.groups), append(plan.groups, memPlanGroup{key: k})
		}
		of = append(of, int32(g))
		plan.groups[g].end++ // a count, until below
	}
	first := int32(0)
	for g := range plan.groups {
		n := plan.groups[g].end
		plan.groups[g].first, plan.groups[g].end = first, first
		first += n
	}
	plan.cells = slices.Grow(plan.cells, len(req.Takes))[:len(req.Takes)]
	for i, tk := range req.Takes {
		pg := &plan.groups[of[i]]
		plan.cells[pg.end] = memPlanCell{interval: int64(tk.Interval), burst: int64(tk.Burst), cost: int64(tk.Cost), take: int32(i)}
		pg.end++
	}
	var msg memKey
	if req.Message != "" {
		msg = fingerprint(req.Message)
	}
	return s.decide(now.UnixNano(), msg, false, req.Remember, &plan, nil, 0, count), nil
}

// memWork is a working copy of an entry's cells, and the entry's slot
// (nil when it has none).
type memWork struct {
	key   memKey // 0: the group is not taken
	slot  *slot[cellTimes]
	times cellTimes
}

// decide answers plan at t (Unix nanoseconds), with the request's
// subjects (by limitKind; nil when the plan names every key) and segments,
// for the admission msg (0: none; fresh when its key is new, so never
// admitted), remembered for remember when allowed; and counts it when
// count. Every take is in range. A refusal names the refused take of the
// lowest index, and waits for the longest wait of all the refused.
func (s *MemoryStore) decide(t int64, msg memKey, fresh bool, remember time.Duration, plan *memPlan, subjects *[kindCount]memKey, segments int64, count bool) Decision {
	var buf [maxLimits]memWork
	work := buf[:]
	if len(plan.groups) > len(buf) {
		work = make([]memWork, len(plan.groups))
	}
	hasMsg := msg != 0
	s.mu.Lock()
	defer s.mu.Unlock()
	if hasMsg && !fresh && s.admitted(msg, t) {
		return Decision{Allowed: true, Refused: -1}
	}
	dec := Decision{Allowed: true, Refused: -1}
	for g := range plan.groups {
		pg := &plan.groups[g]
		k := pg.key
		if k == 0 {
			if k = subjects[pg.subject]; k == 0 {
				continue
			}
		}
		w := &work[g]
		w.key = k
		if sl := s.shards[k.shard()].cells.get(k); sl != nil {
			// One by one, as they are written below: a copy read back
			// wider than it was written stalls.
			w.slot = sl
			w.times[0], w.times[1], w.times[2] = sl.val[0], sl.val[1], sl.val[2]
		}
		for _, c := range plan.cells[pg.first:pg.end] {
			cost := c.cost
			if cost == 0 {
				cost = segments
			}
			// By GCRA. A take of a cell taken before in the request sees
			// that take; a refused one leaves the cell as it was.
			next := max(w.times[c.cell], t) + cost*c.interval
			if wait := next - c.burst*c.interval - t; wait > 0 {
				if dec.Allowed || int(c.take) < dec.Refused {
					dec.Allowed, dec.Refused = false, int(c.take)
				}
				dec.RetryAfter = max(dec.RetryAfter, time.Duration(wait))
				continue
			}
			w.times[c.cell] = next
		}
	}
	if !count || !dec.Allowed {
		return dec
	}
	// The entries found are written in place, then the new ones are put:
	// a put may rebuild a table, which moves the slots found.
	for _, insert := range [2]bool{false, true} {
		for g := range plan.groups {
			w := &work[g]
			sl := w.slot
			if w.key == 0 || (sl == nil) != insert {
				continue
			}
			if insert {
				sl = s.shards[w.key.shard()].cells.put(w.key, t, &s.spareCells)
			}
			t0, t1, t2 := w.times[0], w.times[1], w.times[2]
			sl.val[0], sl.val[1], sl.val[2] = t0, t1, t2
			sl.at = max(t0, t1, t2)
		}
	}
	if hasMsg && remember > 0 {
		if fresh {
			s.pending[s.npending] = pendingAdmission{msg, t + int64(remember)}
			if s.npending++; s.npending == memBatch {
				s.flush(t)
			}
		} else {
			s.shards[msg.shard()].admitted.put(msg, t, &s.spareAdmitted).at = t + int64(remember)
		}
	}
	if t >= s.sweepDue {
		s.sweep(s.tick%memShards, t)
		s.tick++
	}
	return dec
}

// admitted reports whether msg was admitted and remembered past t.
func (s *MemoryStore) admitted(msg memKey, t int64) bool {
	for _, p := range s.pending[:s.npending] {
		if p.key == msg && p.at > t {
			return true
		}
	}
	sl := s.shards[msg.shard()].admitted.get(msg)
	return sl != nil && sl.at > t
}

// flush puts the pending admissions in their shards' tables.
func (s *MemoryStore) flush(t int64) {
	for _, p := range s.pending[:s.npending] {
		s.shards[p.key.shard()].admitted.put(p.key, t, &s.spareAdmitted).at = p.at
	}
	s.npending = 0
}

// sweep rebuilds the tables of shard i without their expired entries, at
// t, when a minute has passed since it last did.
func (s *MemoryStore) sweep(i uint8, t int64) {
	sh := &s.shards[i]
	if t < sh.nextSweep {
		return
	}
	sh.cells.rebuild(t, 0, &s.spareCells)
	sh.admitted.rebuild(t, 0, &s.spareAdmitted)
	sh.nextSweep = t + int64(sweepEvery)
	s.sweepDue = sh.nextSweep
	for i := range s.shards {
		s.sweepDue = min(s.sweepDue, s.shards[i].nextSweep)
	}
}

// size returns the number of cells and admissions s holds.
func (s *MemoryStore) size() (cells, admissions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.shards {
		cells += s.shards[i].cells.used
		admissions += s.shards[i].admitted.used
	}
	return cells, admissions + s.npending
}
