package receipt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/internal/jsontext"
)

// BrevoOptions configures the Verifier of Brevo's SMS webhooks. Set Auth,
// BearerToken or both; with both, either passes.
type BrevoOptions struct {
	// Auth checks basic credentials (a webhook URL created as
	// https://user:password@host/...) or a token in the URL's path.
	// Zero: not used.
	Auth SharedAuth
	// BearerToken is the token of a webhook created with
	// "auth": {"type": "bearer", "token": ...}, which Brevo sends as
	// Authorization: Bearer <token>. At least MinTokenLen bytes. Zero:
	// not used.
	BearerToken smscourier.Secret
}

type brevoVerifier struct {
	auth   *SharedAuth
	bearer string
}

// Brevo returns the Verifier of Brevo's transactional SMS webhooks
// (preset "brevo"): the JSON events Brevo posts to a webhook of type
// "transactional" created for SMS events, or to the webUrl of a send;
// a batched webhook's JSON array of events too.
//
// Brevo signs no webhook. It sends the credentials the webhook was
// created with: basic credentials from the URL's user:password, or a
// bearer token. The Verifier checks those (SharedAuth, BearerToken), or
// a secret token as the URL's last path segment. It fails when opts sets
// neither, or sets an invalid Auth or a short BearerToken.
//
// Statuses (msg_status, or event): sent and accepted are sent; delivered
// is delivered; soft_bounce and hard_bounce (softBounce, hardBounce) are
// undelivered; rejected and skip are failed; replies and
// (un)subscriptions yield no receipts; other words are unknown. Brevo gives no
// error code. MessageID is messageId, a number, as the send's reply
// carries it; Time is date, which Brevo writes in Paris time (CET/CEST),
// else now.
//
// Sources: https://developers.brevo.com/docs/transactional-webhooks
// (Transactional SMS events), https://developers.brevo.com/docs/username-and-password-authentication
// (secure webhook calls), https://developers.brevo.com/reference/getsmsevents
// (SMS event names).
func Brevo(opts BrevoOptions) (Verifier, error) {
	v := &brevoVerifier{bearer: string(opts.BearerToken)}
	if opts.Auth != (SharedAuth{}) {
		if err := opts.Auth.Validate(); err != nil {
			return nil, err
		}
		auth := opts.Auth
		v.auth = &auth
	}
	if v.bearer != "" && len(v.bearer) < MinTokenLen {
		return nil, fmt.Errorf("smscourier: receipt: Brevo's BearerToken must be at least %d bytes", MinTokenLen)
	}
	if v.auth == nil && v.bearer == "" {
		return nil, errors.New("smscourier: receipt: Brevo needs an Auth or a BearerToken")
	}
	return v, nil
}

func (v *brevoVerifier) Provider() string { return "brevo" }

func (v *brevoVerifier) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	if err := v.authenticate(r); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(body)
	var events []brevoEvent
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return nil, fmt.Errorf("%w: brevo: the body is not a JSON event or array of events", ErrMalformed)
		}
	} else {
		var ev brevoEvent
		if err := json.Unmarshal(trimmed, &ev); err != nil {
			return nil, fmt.Errorf("%w: brevo: the body is not a JSON event or array of events", ErrMalformed)
		}
		events = append(events, ev)
	}
	var receipts []Receipt
	for _, ev := range events {
		word := ev.MsgStatus
		if word == "" {
			word = ev.Event
		}
		status, ok := brevoStatus(word)
		if !ok {
			continue
		}
		id := jsontext.Scalar(ev.MessageID)
		if id == "" {
			return nil, fmt.Errorf("%w: brevo: an SMS event without messageId", ErrMalformed)
		}
		receipts = append(receipts, Receipt{
			Provider:       "brevo",
			MessageID:      id,
			Status:         status,
			ProviderStatus: word,
			Time:           parseBrevoDate(ev.Date, now),
			Raw:            Raw(body),
		})
	}
	return receipts, nil
}

// authenticate passes r when its bearer token or its SharedAuth matches.
func (v *brevoVerifier) authenticate(r *http.Request) error {
	if v.bearer != "" {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && Equal(strings.TrimSpace(token), v.bearer) == 1 {
			return nil
		}
	}
	if v.auth != nil {
		return v.auth.Check(r)
	}
	return fmt.Errorf("%w: brevo: wrong or missing bearer token", ErrUnauthenticated)
}

// brevoEvent is the part of a Brevo SMS event that receipts read.
type brevoEvent struct {
	MessageID json.RawMessage `json:"messageId"`
	MsgStatus string          `json:"msg_status"`
	Event     string          `json:"event"`
	Date      string          `json:"date"`
}

// brevoStatus maps a Brevo SMS event onto Status; ok is false for an
// event that is no delivery receipt (a reply, a subscription, an empty
// word). An unknown word is StatusUnknown.
func brevoStatus(word string) (s Status, ok bool) {
	switch strings.ReplaceAll(strings.ToLower(word), "_", "") {
	case "":
		return "", false
	case "replied", "reply", "subscribe", "unsubscribe", "unsubscribed":
		return "", false
	case "sent", "accepted":
		return StatusSent, true
	case "delivered":
		return StatusDelivered, true
	case "softbounce", "softbounced", "hardbounce", "hardbounced":
		return StatusUndelivered, true
	case "rejected", "skip", "skipped":
		return StatusFailed, true
	}
	return StatusUnknown, true
}

// parseBrevoDate reads Brevo's date: with a zone (RFC 3339), or without
// one, "2006-01-02 15:04:05" or "2006-01-02T15:04:05", in Paris time; an
// empty or unreadable date is now.
func parseBrevoDate(s string, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return fromParisTime(t)
		}
	}
	return now
}

// fromParisTime reads the wall clock t (in UTC) as Central European time:
// UTC+2 (CEST) from 01:00 UTC on the last Sunday of March to 01:00 UTC on
// the last Sunday of October, else UTC+1 (CET). It needs no time zone
// database. A wall time in the hour repeated in October reads as CEST.
func fromParisTime(t time.Time) time.Time {
	year := t.Year()
	start := lastSunday(year, time.March).Add(time.Hour)
	end := lastSunday(year, time.October).Add(time.Hour)
	if cest := t.Add(-2 * time.Hour); !cest.Before(start) && cest.Before(end) {
		return cest
	}
	return t.Add(-time.Hour)
}

// lastSunday returns 00:00 UTC of the last Sunday of month in year.
func lastSunday(year int, month time.Month) time.Time {
	last := time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC)
	return last.AddDate(0, 0, -int(last.Weekday()))
}
