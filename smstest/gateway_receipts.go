package smstest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ReceiptPlan says which delivery receipts a Gateway posts back for each
// message it accepts after PostReceipts. The zero plan posts "sent" then
// "delivered", at once, each once, in order.
type ReceiptPlan struct {
	// Statuses are the statuses of the receipts of each message, in the
	// order they happen: DLR constants or a provider's own words. Default
	// sent, delivered.
	Statuses []string
	// ErrorCode is the provider's error code on each receipt whose status
	// is neither accepted, sent nor delivered. Default "": none.
	ErrorCode string
	// Delay is how long after its reply the gateway waits before it posts
	// a message's first receipt. Default 0: at once.
	Delay time.Duration
	// Duplicate posts each receipt twice in a row, as a provider resends a
	// callback that it thinks was lost.
	Duplicate bool
	// OutOfOrder posts a message's receipts in reverse order: "delivered"
	// before "sent".
	OutOfOrder bool
	// IDPrefix prefixes the message ids the gateway answers with: "p-"
	// makes them p-msg-1, p-msg-2, ..., so that two fake gateways never
	// answer with one id, as real providers never do. Default "".
	IDPrefix string
}

// ReceiptPost is one receipt a Gateway posted, or was to post, after
// PostReceipts.
type ReceiptPost struct {
	// DLR is the receipt: MessageID "msg-N", its Status and ErrorCode, and
	// To, the recipient read from the send (a To, to or dst field), "" when
	// none was found.
	DLR DLR
	// StatusCode is the receipt endpoint's answer; 0 when there was none.
	StatusCode int
	// Err is why there was no answer: the post failed, or the gateway
	// closed before it (ErrGatewayClosed).
	Err error
}

// ErrGatewayClosed is the ReceiptPost.Err of a receipt the gateway did not
// post because it was closed first.
var ErrGatewayClosed = errors.New("smstest: the gateway closed before the receipt was posted")

// receiptState is a Gateway's record of PostReceipts' posts.
type receiptState struct {
	wg sync.WaitGroup

	mu      sync.Mutex
	posts   []ReceiptPost
	changed chan struct{} // closed and replaced at each post recorded
}

// wait waits for the posts under way.
func (s *receiptState) wait() { s.wg.Wait() }

func (s *receiptState) record(p ReceiptPost) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = append(s.posts, p)
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// PostReceipts makes the gateway answer every request that follows as
// p's provider accepts a message, with p.Reply("msg-N"), N counting the
// requests answered since the call from 1, and, once the reply is
// written, post that message's receipts with p in the background, as plan
// says: after plan.Delay, in order (reversed with OutOfOrder), each twice
// with Duplicate, one after the other. Every post is recorded (see
// ReceiptPosts and WaitReceiptPosts). p's URL is the receipt endpoint of
// the code under test. A later Script or Respond replaces PostReceipts;
// posts already planned still happen. Close waits for them.
func (g *Gateway) PostReceipts(p *ReceiptPoster, plan ReceiptPlan) {
	statuses := append([]string(nil), plan.Statuses...)
	if len(statuses) == 0 {
		statuses = []string{DLRSent, DLRDelivered}
	}
	if plan.OutOfOrder {
		for i, j := 0, len(statuses)-1; i < j; i, j = i+1, j-1 {
			statuses[i], statuses[j] = statuses[j], statuses[i]
		}
	}
	var n atomic.Int64
	g.Respond(func(req Request) Reply {
		id := plan.IDPrefix + "msg-" + strconv.FormatInt(n.Add(1), 10)
		rep := p.Reply(id)
		var dlrs []DLR
		for _, st := range statuses {
			d := DLR{MessageID: id, Status: st, To: recipient(req)}
			if st != DLRAccepted && st != DLRSent && st != DLRDelivered {
				d.ErrorCode = plan.ErrorCode
			}
			dlrs = append(dlrs, d)
			if plan.Duplicate {
				dlrs = append(dlrs, d)
			}
		}
		rep.after = func() {
			// Run by the handler: Close's wait follows the server's, which
			// waits for the handlers, so no Add races the Wait.
			g.rcpt.wg.Add(1)
			go g.post(p, plan.Delay, dlrs)
		}
		return rep
	})
}

// post posts dlrs with p after delay, unless the gateway closes first.
func (g *Gateway) post(p *ReceiptPoster, delay time.Duration, dlrs []DLR) {
	defer g.rcpt.wg.Done()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-g.closing:
			t.Stop()
		}
	}
	for _, d := range dlrs {
		select {
		case <-g.closing:
			g.rcpt.record(ReceiptPost{DLR: d, Err: ErrGatewayClosed})
			continue
		default:
		}
		code, err := p.Post(context.Background(), d)
		g.rcpt.record(ReceiptPost{DLR: d, StatusCode: code, Err: err})
	}
}

// recipient returns the recipient of a send: its To, to or dst field.
func recipient(req Request) string {
	for _, k := range []string{"To", "to", "dst"} {
		if v := req.FormValue(k); v != "" {
			return v
		}
		if v, ok := req.JSONField(k).(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// ReceiptPosts returns the receipts posted since PostReceipts (or left
// unposted at Close), in the order they were done. Nil when none.
func (g *Gateway) ReceiptPosts() []ReceiptPost {
	g.rcpt.mu.Lock()
	defer g.rcpt.mu.Unlock()
	if len(g.rcpt.posts) == 0 {
		return nil
	}
	return append([]ReceiptPost(nil), g.rcpt.posts...)
}

// WaitReceiptPosts waits until at least n receipts have been posted (or
// given up at Close), and returns nil, or ctx's error when ctx is done
// first.
func (g *Gateway) WaitReceiptPosts(ctx context.Context, n int) error {
	for {
		g.rcpt.mu.Lock()
		if len(g.rcpt.posts) >= n {
			g.rcpt.mu.Unlock()
			return nil
		}
		if g.rcpt.changed == nil {
			g.rcpt.changed = make(chan struct{})
		}
		changed := g.rcpt.changed
		g.rcpt.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
