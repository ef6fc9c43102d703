package receipt

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Status is a delivery status, the same for every provider: each
// Verifier maps its provider's words onto these.
type Status string

// The statuses, in the order a message passes through them. Delivered,
// Undelivered and Failed are final.
const (
	// StatusUnknown is a status the provider reported that maps onto none
	// of the others (the provider's word is in Receipt.ProviderStatus).
	StatusUnknown Status = "unknown"
	// StatusAccepted: the provider accepted the message and queued it.
	StatusAccepted Status = "accepted"
	// StatusSent: the provider handed the message to a carrier.
	StatusSent Status = "sent"
	// StatusDelivered: the carrier reports the message delivered to the
	// handset. Final.
	StatusDelivered Status = "delivered"
	// StatusUndelivered: the carrier reports the message not delivered
	// (unreachable handset, expired, filtered). Final.
	StatusUndelivered Status = "undelivered"
	// StatusFailed: the provider could not send the message at all. Final.
	StatusFailed Status = "failed"
)

// Final reports whether s ends a message's delivery: delivered,
// undelivered or failed.
func (s Status) Final() bool {
	return s == StatusDelivered || s == StatusUndelivered || s == StatusFailed
}

// Rank orders the statuses a message's lifecycle moves through: a
// receipt of a lower rank than the message's status never moves it back
// (a "sent" that arrives after "delivered"). Unknown 0, accepted 1, sent
// 2, the final statuses 3.
func (s Status) Rank() int {
	switch s {
	case StatusAccepted:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered, StatusUndelivered, StatusFailed:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the Status constants.
func (s Status) Valid() bool {
	switch s {
	case StatusUnknown, StatusAccepted, StatusSent, StatusDelivered, StatusUndelivered, StatusFailed:
		return true
	}
	return false
}

// Receipt is one delivery receipt (DLR), normalised: which message of
// which provider reached which status, when.
type Receipt struct {
	// Provider is the name of the preset whose gateway sent the receipt:
	// "twilio", "vonage-sms", "webhook" (see package presets).
	Provider string `json:"provider"`
	// MessageID is the provider's id of the message, the one its reply to
	// the send carried (smscourier.Result.MessageID).
	MessageID string `json:"message_id"`
	// Status is the normalised status.
	Status Status `json:"status"`
	// ProviderStatus is the provider's own word for it ("delivered",
	// "DELIVRD", "DELIVERED_TO_HANDSET").
	ProviderStatus string `json:"provider_status,omitempty"`
	// ErrorCode is the provider's error code, "" when it gives none.
	ErrorCode string `json:"error_code,omitempty"`
	// Time is when the provider says the message reached Status; when the
	// callback gives no time, when the receipt arrived.
	Time time.Time `json:"time"`
	// Raw is the callback's payload as it arrived: its body, or for a GET
	// callback its query. It may hold the recipient's number and the
	// text; fmt, slog and encoding/json never show it.
	Raw Raw `json:"-"`
}

// Raw is a callback's payload. It prints, logs and marshals as its
// length only; read it as []byte(r) deliberately.
type Raw []byte

// String returns "[N bytes]".
func (r Raw) String() string { return fmt.Sprintf("[%d bytes]", len(r)) }

// Format prints String for every verb.
func (r Raw) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// LogValue keeps the payload out of slog records.
func (r Raw) LogValue() slog.Value { return slog.StringValue(r.String()) }

// MarshalJSON encodes String, never the payload.
func (r Raw) MarshalJSON() ([]byte, error) { return []byte(`"` + r.String() + `"`), nil }

// Errors a Verifier returns; Handler answers each with its status.
var (
	// ErrUnauthenticated: the callback's signature, token or credentials
	// are missing or wrong, or its timestamp is outside the replay
	// window. Handler answers 401 and changes nothing.
	ErrUnauthenticated = errors.New("smscourier: receipt: not authenticated")
	// ErrMalformed: the callback is authentic but cannot be read as a
	// receipt. Handler answers 400.
	ErrMalformed = errors.New("smscourier: receipt: malformed callback")
)

// DefaultReplayWindow is how far a signed timestamp may be from now, in
// either direction, for a Verifier whose provider signs one.
const DefaultReplayWindow = 5 * time.Minute

// Verifier checks that a callback comes from its provider and reads the
// receipts in it. Implementations are safe for concurrent use.
type Verifier interface {
	// Provider returns the provider's name: a preset's name.
	Provider() string
	// Verify authenticates r, whose body (already read, at most the
	// Handler's limit) is body, at now, and returns the receipts it
	// carries: none for a callback that is authentic but no delivery
	// receipt (an inbound message, a test ping). Its errors wrap
	// ErrUnauthenticated or ErrMalformed. Every comparison with a secret
	// is constant-time.
	Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error)
}
