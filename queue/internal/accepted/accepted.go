// Package accepted counts, for the queue's tests, the messages a fake
// gateway (package smstest) accepted, by idempotency key, while it
// answers by a script of replies.
package accepted

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/smscourier/smscourier/smstest"
)

// Counts counts, per idempotency key (the JSON body's "key"), the
// requests a gateway accepted: answered with a 2xx status (0 included),
// without a reset or close, even when the client gave up before the
// reply came.
type Counts struct {
	mu       sync.Mutex
	accepted map[string]int
}

// Answer makes gw answer its n-th request (from 0) with reply(n), and
// returns the count of the deliveries it accepts.
func Answer(gw *smstest.Gateway, reply func(n int64) smstest.Reply) *Counts {
	c := &Counts{accepted: map[string]int{}}
	var seq atomic.Int64
	gw.Respond(func(r smstest.Request) smstest.Reply {
		rep := reply(seq.Add(1) - 1)
		if (rep.Status == 0 || rep.Status >= 200 && rep.Status <= 299) && !rep.Reset && !rep.Close {
			key, _ := r.JSONField("key").(string)
			c.mu.Lock()
			c.accepted[key]++
			c.mu.Unlock()
		}
		return rep
	})
	return c
}

// Script answers as smstest.Gateway.Script does: the n-th request gets
// replies[min(n, len(replies)-1)]; no replies, 201 Created.
func Script(replies ...smstest.Reply) func(int64) smstest.Reply {
	return func(n int64) smstest.Reply {
		if len(replies) == 0 {
			return smstest.Reply{Status: 201}
		}
		return replies[min(int(n), len(replies)-1)]
	}
}

// ByKey returns a copy of the counts per idempotency key.
func (c *Counts) ByKey() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.accepted)
}
