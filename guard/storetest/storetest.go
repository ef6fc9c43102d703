// Package storetest is the conformance suite of guard.Store: every Store
// implementation runs it from its tests, so that all of them answer alike.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) guard.Store { return newStore(t) })
//	}
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smscourier/smscourier/guard"
)

// Run runs the conformance suite against the Stores newStore makes, one
// per subtest, each empty. The times the suite passes to Take are around
// the real time, whole milliseconds, moved by hand: a Store may compare
// them with its own clock to forget what has expired, but must answer by
// the times it is given. A Store that is a guard.Peeker has Peek checked
// too.
func Run(t *testing.T, newStore func(t *testing.T) guard.Store) {
	base := time.Now().Truncate(time.Second)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	ctx := context.Background()

	take := func(t *testing.T, s guard.Store, now time.Time, req guard.Request) guard.Decision {
		t.Helper()
		d, err := s.Take(ctx, now, req)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		return d
	}
	allowed := guard.Decision{Allowed: true, Refused: -1}
	refused := func(i int, wait time.Duration) guard.Decision {
		return guard.Decision{Refused: i, RetryAfter: wait}
	}
	expect := func(t *testing.T, what string, got, want guard.Decision) {
		t.Helper()
		if got != want {
			t.Errorf("%s: got %+v, want %+v", what, got, want)
		}
	}
	cell := func(key string, interval time.Duration, burst, cost int) guard.Take {
		return guard.Take{Key: key, Interval: interval, Burst: burst, Cost: cost}
	}
	one := func(tk guard.Take) guard.Request { return guard.Request{Takes: []guard.Take{tk}} }

	t.Run("BurstThenInterval", func(t *testing.T) {
		s := newStore(t)
		c := cell("burst", time.Second, 3, 1)
		for i := range 3 {
			expect(t, fmt.Sprintf("take %d", i+1), take(t, s, at(0), one(c)), allowed)
		}
		expect(t, "take 4", take(t, s, at(0), one(c)), refused(0, time.Second))
		expect(t, "take 4, 400ms later", take(t, s, at(400*time.Millisecond), one(c)), refused(0, 600*time.Millisecond))
		expect(t, "take 4, 1s later", take(t, s, at(time.Second), one(c)), allowed)
		expect(t, "take 5, 1s later", take(t, s, at(time.Second), one(c)), refused(0, time.Second))
		// After 3 intervals with nothing taken, the whole burst is back.
		for i := range 3 {
			expect(t, fmt.Sprintf("take %d after a rest", i+1), take(t, s, at(5*time.Second), one(c)), allowed)
		}
		expect(t, "one more after a rest", take(t, s, at(5*time.Second), one(c)), refused(0, time.Second))
	})

	t.Run("Cooldown", func(t *testing.T) {
		s := newStore(t)
		c := cell("cooldown", 30*time.Second, 1, 1)
		expect(t, "first", take(t, s, at(0), one(c)), allowed)
		expect(t, "10s later", take(t, s, at(10*time.Second), one(c)), refused(0, 20*time.Second))
		expect(t, "30s later", take(t, s, at(30*time.Second), one(c)), allowed)
	})

	t.Run("Cost", func(t *testing.T) {
		s := newStore(t)
		c := cell("cost", time.Minute, 5, 3)
		expect(t, "3 of 5", take(t, s, at(0), one(c)), allowed)
		expect(t, "3 more", take(t, s, at(0), one(c)), refused(0, time.Minute))
		c.Cost = 2
		expect(t, "2 more", take(t, s, at(0), one(c)), allowed)
		c.Cost = 1
		expect(t, "1 more", take(t, s, at(0), one(c)), refused(0, time.Minute))
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		s := newStore(t)
		expect(t, "a", take(t, s, at(0), one(cell("a", time.Hour, 1, 1))), allowed)
		expect(t, "b", take(t, s, at(0), one(cell("b", time.Hour, 1, 1))), allowed)
		expect(t, "a again", take(t, s, at(0), one(cell("a", time.Hour, 1, 1))), refused(0, time.Hour))
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		s := newStore(t)
		full := cell("full", time.Minute, 1, 1)
		expect(t, "fill", take(t, s, at(0), one(full)), allowed)
		fresh := cell("fresh", time.Minute, 2, 1)
		req := guard.Request{Takes: []guard.Take{fresh, full}}
		expect(t, "refused by the second", take(t, s, at(0), req), refused(1, time.Minute))
		expect(t, "refused again", take(t, s, at(0), req), refused(1, time.Minute))
		// Neither refusal counted on the fresh cell: its burst of 2 is whole.
		expect(t, "fresh 1", take(t, s, at(0), one(fresh)), allowed)
		expect(t, "fresh 2", take(t, s, at(0), one(fresh)), allowed)
		expect(t, "fresh 3", take(t, s, at(0), one(fresh)), refused(0, time.Minute))
	})

	t.Run("RefusedIsFirstRetryAfterIsLongest", func(t *testing.T) {
		s := newStore(t)
		short, long, ok := cell("short", 10*time.Second, 1, 1), cell("long", time.Hour, 1, 1), cell("ok", time.Second, 5, 1)
		take(t, s, at(0), guard.Request{Takes: []guard.Take{short, long}})
		got := take(t, s, at(0), guard.Request{Takes: []guard.Take{ok, short, long}})
		expect(t, "both refuse", got, refused(1, time.Hour))
	})

	t.Run("RefusedIsFirstAcrossOneKeysTakes", func(t *testing.T) {
		// Two takes of one key around another's: the first refused take
		// is named, wherever the store looks at the key's takes.
		s := newStore(t)
		slow, full := cell("slow", time.Hour, 2, 1), cell("full", time.Minute, 1, 1)
		take(t, s, at(0), guard.Request{Takes: []guard.Take{slow, full}})
		got := take(t, s, at(0), guard.Request{Takes: []guard.Take{slow, full, slow}})
		expect(t, "second and third refuse", got, refused(1, time.Hour))
	})

	t.Run("EmptyRequest", func(t *testing.T) {
		s := newStore(t)
		expect(t, "no takes", take(t, s, at(0), guard.Request{}), allowed)
		expect(t, "no takes, a message", take(t, s, at(0), guard.Request{Message: "m", Remember: time.Hour}), allowed)
	})

	t.Run("Admission", func(t *testing.T) {
		s := newStore(t)
		c := cell("admission", time.Hour, 2, 1)
		msg := func(id string) guard.Request {
			return guard.Request{Message: id, Remember: 10 * time.Minute, Takes: []guard.Take{c}}
		}
		expect(t, "m1", take(t, s, at(0), msg("m1")), allowed)
		expect(t, "m1 retried", take(t, s, at(time.Minute), msg("m1")), allowed)
		expect(t, "m1 retried again", take(t, s, at(2*time.Minute), msg("m1")), allowed)
		// The retries counted nothing: one unit of the burst is left.
		expect(t, "m2", take(t, s, at(2*time.Minute), msg("m2")), allowed)
		expect(t, "m3", take(t, s, at(2*time.Minute), msg("m3")), refused(0, 58*time.Minute))
		// A refused message is not remembered.
		expect(t, "m3 retried", take(t, s, at(3*time.Minute), msg("m3")), refused(0, 57*time.Minute))
		// Past its Remember, m1 is a new message again.
		expect(t, "m1 past remember", take(t, s, at(10*time.Minute), msg("m1")), refused(0, 50*time.Minute))
	})

	t.Run("AdmissionWithoutRemember", func(t *testing.T) {
		s := newStore(t)
		c := cell("no-remember", time.Hour, 1, 1)
		req := guard.Request{Message: "m", Takes: []guard.Take{c}}
		expect(t, "m", take(t, s, at(0), req), allowed)
		expect(t, "m retried", take(t, s, at(time.Second), req), refused(0, time.Hour-time.Second))
	})

	t.Run("Peek", func(t *testing.T) {
		s := newStore(t)
		p, ok := s.(guard.Peeker)
		if !ok {
			t.Skip("the Store is no guard.Peeker")
		}
		peek := func(now time.Time, req guard.Request) guard.Decision {
			t.Helper()
			d, err := p.Peek(ctx, now, req)
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			return d
		}
		c := cell("peek", time.Minute, 1, 1)
		req := guard.Request{Message: "m", Remember: time.Hour, Takes: []guard.Take{c}}
		for range 3 {
			expect(t, "peek a fresh cell", peek(at(0), req), allowed)
		}
		expect(t, "take", take(t, s, at(0), req), allowed)
		expect(t, "peek the admitted message", peek(at(time.Second), req), allowed)
		other := guard.Request{Message: "other", Remember: time.Hour, Takes: []guard.Take{c}}
		for range 3 {
			expect(t, "peek another message", peek(at(time.Second), other), refused(0, 59*time.Second))
		}
		expect(t, "take another message", take(t, s, at(time.Minute), other), allowed)
	})

	t.Run("ConcurrentTakes", func(t *testing.T) {
		s := newStore(t)
		const senders, limit = 1000, 100
		c := cell("concurrent", time.Hour/limit, limit, 1)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			passed int
			errs   []error
		)
		start := make(chan struct{})
		for i := range senders {
			wg.Go(func() {
				<-start
				req := guard.Request{Message: fmt.Sprintf("message-%d", i), Remember: time.Hour, Takes: []guard.Take{c}}
				d, err := s.Take(ctx, at(0), req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else if d.Allowed {
					passed++
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d takes failed, the first with %v", len(errs), errs[0])
		}
		if passed != limit {
			t.Errorf("%d of %d concurrent takes passed a cap of %d", passed, senders, limit)
		}
	})
}
