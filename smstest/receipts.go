package smstest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// The statuses a DLR can carry: the words of package receipt's Status.
const (
	DLRAccepted    = "accepted"
	DLRSent        = "sent"
	DLRDelivered   = "delivered"
	DLRUndelivered = "undelivered"
	DLRFailed      = "failed"
)

// DLR is one delivery receipt, in normalised terms, that a ReceiptPoster
// writes in its provider's shape and vocabulary.
type DLR struct {
	MessageID string    // the provider's message id
	Status    string    // one of the DLR constants
	ErrorCode string    // the provider's error code; "" for none
	Time      time.Time // when the status was reached; zero: the poster's now
	To        string    // the recipient, for providers whose callbacks carry it
}

// ReceiptCredentials are the secrets a provider authenticates its
// callbacks with; each provider uses the fields its receipt Verifier
// takes.
type ReceiptCredentials struct {
	// Secret is the key the provider signs with: Twilio's and Plivo's auth
	// token, Vonage's signature secret, the signing key of Sinch and
	// MessageBird, the webhook preset's secret.
	Secret string
	// PrivateKey signs Telnyx's ed25519 signatures.
	PrivateKey ed25519.PrivateKey
	// User and Password are sent as basic credentials, and Token as the
	// URL's last path segment, by providers that sign nothing.
	User, Password, Token string
}

// receiptProvider is one provider's side of receipts in the fake.
type receiptProvider struct {
	// reply is the provider's success reply to a send, carrying id where
	// its preset's response template finds the message id.
	reply func(id string) Reply
	// request is the provider's signed callback posting d to url at now.
	request func(ctx context.Context, url string, c ReceiptCredentials, d DLR, now time.Time) (*http.Request, error)
}

var (
	receiptMu        sync.RWMutex
	receiptProviders = map[string]receiptProvider{}
)

// registerReceiptProvider makes provider's receipts available; each
// provider's file calls it from init.
func registerReceiptProvider(name string, p receiptProvider) {
	receiptMu.Lock()
	defer receiptMu.Unlock()
	if _, dup := receiptProviders[name]; dup {
		panic("smstest: receipt provider " + name + " registered twice")
	}
	receiptProviders[name] = p
}

func lookupReceiptProvider(name string) (receiptProvider, bool) {
	receiptMu.RLock()
	defer receiptMu.RUnlock()
	p, ok := receiptProviders[name]
	return p, ok
}

// ReceiptProviders returns the names of the providers a ReceiptPoster
// can post as: the names of the presets (package presets), sorted.
func ReceiptProviders() []string {
	receiptMu.RLock()
	defer receiptMu.RUnlock()
	names := make([]string, 0, len(receiptProviders))
	for n := range receiptProviders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReceiptPoster posts delivery receipts to a receipt endpoint the way one
// provider does: its shape, its vocabulary, its signature. It is safe
// for concurrent use.
type ReceiptPoster struct {
	provider string
	p        receiptProvider
	url      string
	creds    ReceiptCredentials
	client   *http.Client
	now      func() time.Time
}

// NewReceiptPoster returns a poster of provider's receipts to url (the
// receipt endpoint, as configured at the provider), signed with creds.
// It fails for a provider that ReceiptProviders does not list.
func NewReceiptPoster(provider, url string, creds ReceiptCredentials) (*ReceiptPoster, error) {
	p, ok := lookupReceiptProvider(provider)
	if !ok {
		return nil, fmt.Errorf("smstest: no receipt provider %q (have %v)", provider, ReceiptProviders())
	}
	return &ReceiptPoster{provider: provider, p: p, url: url, creds: creds, client: http.DefaultClient, now: time.Now}, nil
}

// WithClock returns a copy of p that reads the time (signed timestamps,
// DLRs without a Time) from now.
func (p *ReceiptPoster) WithClock(now func() time.Time) *ReceiptPoster {
	q := *p
	q.now = now
	return &q
}

// WithClient returns a copy of p that posts with c.
func (p *ReceiptPoster) WithClient(c *http.Client) *ReceiptPoster {
	q := *p
	q.client = c
	return &q
}

// Provider returns the provider's name.
func (p *ReceiptPoster) Provider() string { return p.provider }

// Reply returns the provider's success reply to a send, with id where the
// provider's preset finds the message id.
func (p *ReceiptPoster) Reply(id string) Reply { return p.p.reply(id) }

// Request returns the signed callback of d, not sent: for tests that
// tamper with it.
func (p *ReceiptPoster) Request(ctx context.Context, d DLR) (*http.Request, error) {
	now := p.now()
	if d.Time.IsZero() {
		d.Time = now
	}
	return p.p.request(ctx, p.url, p.creds, d, now)
}

// Post sends the signed callback of d and returns the endpoint's status
// code.
func (p *ReceiptPoster) Post(ctx context.Context, d DLR) (int, error) {
	req, err := p.Request(ctx, d)
	if err != nil {
		return 0, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}
