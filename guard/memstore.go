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
// share a cell with odds of about one in 2^128 a pair. Cells and
// admissions are kept in 32 shards; each Take looks at the next shard in
// turn and, once a minute (by the times Take is given) or when the shard
// has doubled in size since, forgets its cells whose theoretical arrival
// time has passed and its admissions past their Remember. Memory so stays
// proportional to the cells and admissions that still matter, and no
// Take waits for more than one shard to be swept.
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
	// minSweepSize is the size under which a shard is swept only by time.
	minSweepSize = 1024
)

// memSeeds make the fingerprints of keys.
var memSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// memKey is the fingerprint of a key; its first half places it in a
// shard.
type memKey [2]uint64

func fingerprint(key string) memKey {
	return memKey{maphash.String(memSeeds[0], key), maphash.String(memSeeds[1], key)}
}

func (k memKey) shard() uint8 { return uint8(k[0] % memShards) }

type memShard struct {
	cells     map[memKey]int64 // key: theoretical arrival time, in Unix nanoseconds
	admitted  map[memKey]int64 // message: end of its Remember, in Unix nanoseconds
	nextSweep int64            // Unix nanoseconds
	sweepSize int              // the size that brings the next sweep forward
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
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now.UnixNano()
	if req.Message != "" {
		if end, ok := s.shards[msg.shard()].admitted[msg]; ok && end > t {
			return Decision{Allowed: true, Refused: -1}, nil
		}
	}
	var tats [maxLimits]int64
	pending := tats[:0]
	if len(req.Takes) > len(tats) {
		pending = make([]int64, 0, len(req.Takes))
	}
	dec := Decision{Allowed: true, Refused: -1}
	for i, tk := range req.Takes {
		k := keys[i]
		tat, seen := int64(0), false
		for j := i - 1; j >= 0; j-- { // a key twice in one request: the later take sees the earlier
			if keys[j] == k {
				tat, seen = pending[j], true
				break
			}
		}
		if !seen {
			tat = s.shards[k.shard()].cells[k]
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
		return dec, nil
	}
	for i, k := range keys {
		sh := &s.shards[k.shard()]
		if sh.cells == nil {
			sh.cells = make(map[memKey]int64)
		}
		sh.cells[k] = pending[i]
	}
	if req.Message != "" && req.Remember > 0 {
		sh := &s.shards[msg.shard()]
		if sh.admitted == nil {
			sh.admitted = make(map[memKey]int64)
		}
		sh.admitted[msg] = t + int64(req.Remember)
	}
	s.shards[s.tick%memShards].sweep(t)
	s.tick++
	return dec, nil
}

// sweep forgets the fresh cells and the past admissions of sh, at t, when
// it is time to or sh has grown enough. sh is locked.
func (sh *memShard) sweep(t int64) {
	size := len(sh.cells) + len(sh.admitted)
	if t < sh.nextSweep && size < sh.sweepSize {
		return
	}
	for k, tat := range sh.cells {
		if tat <= t {
			delete(sh.cells, k)
		}
	}
	for k, end := range sh.admitted {
		if end <= t {
			delete(sh.admitted, k)
		}
	}
	sh.nextSweep = t + int64(sweepEvery)
	sh.sweepSize = max(minSweepSize, 2*(len(sh.cells)+len(sh.admitted)))
}

// size returns the number of cells and admissions s holds.
func (s *MemoryStore) size() (cells, admissions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.shards {
		cells += len(s.shards[i].cells)
		admissions += len(s.shards[i].admitted)
	}
	return cells, admissions
}
