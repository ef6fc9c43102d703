package receipt

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

type textmagicVerifier struct {
	auth SharedAuth
}

// Textmagic returns the Verifier of Textmagic's message delivery
// notifications (preset "textmagic"): the callbacks Textmagic posts to
// the delivery notification URL of the account's API settings, as
// multipart/form-data or urlencoded fields message_id, timestamp (Unix
// seconds, when the operator reported the status), status and
// credits_cost, or as a JSON object with id (or messageId) and status.
//
// Textmagic documents no signature for its callbacks, so the Verifier
// requires SharedAuth: basic credentials in the callback URL, or a secret
// token as its last path segment. It fails for an invalid auth.
//
// Statuses (Textmagic's one-letter delivery codes): q (queued at
// Textmagic) and s (scheduled) are accepted; r (sent to the operator), a
// (acknowledged by the operator) and b (queued by the operator) are sent;
// d is delivered; f (error while delivering) and j (rejected by the
// operator) are undelivered; e (error while sending) is failed; u (status
// unknown) and other codes are unknown. Textmagic gives no error code.
// MessageID is the message id, which the send's reply carries as id;
// Time is timestamp, else now. A callback without a status (an inbound
// message) yields no receipts.
//
// Sources: https://www.textmagic.com/docs/api/ (REST API v2, callbacks
// configured on the API settings page),
// https://www.textmagic.com/docs/api/receive-sms (callbacks post the
// resource), and the callback fields and status codes of
// https://apitextmagic.voog.com/https-api/receiving-delivery-notifications-and-incoming-sms-messages-via-callback-urls
// and https://apitextmagic.voog.com/https-api/sms-delivery-notification-codes.
func Textmagic(auth SharedAuth) (Verifier, error) {
	if err := auth.Validate(); err != nil {
		return nil, err
	}
	return &textmagicVerifier{auth: auth}, nil
}

func (v *textmagicVerifier) Provider() string { return "textmagic" }

func (v *textmagicVerifier) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	if err := v.auth.Check(r); err != nil {
		return nil, err
	}
	values, raw, err := callbackValues(r, body)
	if err != nil {
		return nil, fmt.Errorf("%w: textmagic: %v", ErrMalformed, err)
	}
	status := values.Get("status")
	if status == "" {
		return nil, nil
	}
	id := ""
	for _, k := range []string{"message_id", "messageId", "id"} {
		if id = values.Get(k); id != "" {
			break
		}
	}
	if id == "" {
		return nil, fmt.Errorf("%w: textmagic: a delivery notification without a message id", ErrMalformed)
	}
	at := now
	if secs, err := strconv.ParseInt(values.Get("timestamp"), 10, 64); err == nil && secs > 0 {
		at = time.Unix(secs, 0)
	}
	return []Receipt{{
		Provider:       "textmagic",
		MessageID:      id,
		Status:         textmagicStatus(status),
		ProviderStatus: status,
		Time:           at,
		Raw:            Raw(raw),
	}}, nil
}

// textmagicStatus maps Textmagic's delivery code onto Status; a code it
// does not know is StatusUnknown.
func textmagicStatus(code string) Status {
	switch code {
	case "q", "s":
		return StatusAccepted
	case "r", "a", "b":
		return StatusSent
	case "d":
		return StatusDelivered
	case "f", "j":
		return StatusUndelivered
	case "e":
		return StatusFailed
	}
	return StatusUnknown
}
