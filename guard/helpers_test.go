package guard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
)

// twilioForm is a Twilio-style template: the recipient is the gateway's
// form value To.
const twilioForm = "function(ctx) { From: ctx.from, To: ctx.to, Body: ctx.body }"

// newCourier returns a Courier that sends to a new smstest gateway, with
// the idempotency key in the Idempotency-Key header.
func newCourier(t testing.TB, opts ...smscourier.Option) (*smscourier.Courier, *smstest.Gateway) {
	t.Helper()
	gw := smstest.New(t)
	cfg := smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL:     gw.Endpoint("/2010-04-01/Accounts/AC123/Messages.json"),
			Method:  http.MethodPost,
			Body:    "base64://" + base64.StdEncoding.EncodeToString([]byte(twilioForm)),
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		},
	}
	opts = append([]smscourier.Option{smscourier.WithIdempotencyKeyHeader("Idempotency-Key"), smscourier.WithoutRetries()}, opts...)
	c, err := smscourier.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, gw
}

// clock is a clock a test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(d time.Duration, base time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = base.Add(d)
}

// events collects the events of a Guard.
type events struct {
	mu   sync.Mutex
	list []smscourier.Event
}

func (e *events) observe(ev smscourier.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) all() []smscourier.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]smscourier.Event(nil), e.list...)
}

// logRecords is an slog handler's output, as decoded JSON records.
type logRecords struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecords) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logRecords) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logRecords) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logRecords) records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader([]byte(l.text())))
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// exampleOfType returns libphonenumber's example number of type typ, in
// E.164, from the first region (in sorted order) that has one.
func exampleOfType(t testing.TB, typ phonenumbers.PhoneNumberType) (number, region string) {
	t.Helper()
	regions := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for _, r := range regions {
		if n := phonenumbers.GetExampleNumberForType(r, typ); n != nil && phonenumbers.GetNumberType(n) == typ {
			return phonenumbers.Format(n, phonenumbers.E164), r
		}
	}
	t.Fatalf("no example number of type %v", typ)
	return "", ""
}

// testSecret is a Config.KeySecret for tests.
const testSecret smscourier.Secret = "a-test-secret-of-enough-bytes"
