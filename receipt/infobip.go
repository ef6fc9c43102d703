package receipt

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smscourier/smscourier/internal/jsontext"
)

type infobipVerifier struct {
	auth SharedAuth
}

// Infobip returns the Verifier of Infobip's SMS delivery reports (preset
// "infobip"): the JSON {"results": [...]} that Infobip posts to the
// webhooks.delivery.url of a send (notifyUrl in older APIs) or to the
// URL of a subscription, several reports to a callback.
//
// Infobip documents no signature for these webhooks that a receiver can
// verify: its Subscriptions Management offers BASIC, HMAC and OAUTH
// security settings, but documents no HMAC scheme. So the Verifier
// requires SharedAuth: basic credentials (the subscription's BASIC
// security setting, or user:password in the URL) or a secret token as
// the URL's last path segment. It fails for an invalid auth.
//
// Statuses by status group: PENDING is sent (PENDING_ACCEPTED accepted);
// DELIVERED is delivered, but DELIVERED_TO_OPERATOR, which Infobip
// documents as intermediate, is sent; UNDELIVERABLE and EXPIRED are
// undelivered; REJECTED (by Infobip or the operator, before sending) is
// failed. ProviderStatus is the status name (DELIVERED_TO_HANDSET);
// ErrorCode the error name (EC_ABSENT_SUBSCRIBER), "" for NO_ERROR; Time
// doneAt, else now; MessageID messageId, the id of the send's reply.
// Entries without a status (inbound messages) yield no receipts.
//
// Sources: https://www.infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/receive-outbound-sms-message-report
// (payload), https://www.infobip.com/docs/developer-resources/api-fundamentals/message-status-codes
// (groups, intermediate and final statuses),
// https://www.infobip.com/docs/api/platform/subscriptions-api/create-security-settings
// (webhook security settings).
func Infobip(auth SharedAuth) (Verifier, error) {
	if err := auth.Validate(); err != nil {
		return nil, err
	}
	return &infobipVerifier{auth: auth}, nil
}

func (v *infobipVerifier) Provider() string { return "infobip" }

// infobipStatus is Infobip's status or error object.
type infobipStatus struct {
	GroupID   int    `json:"groupId"`
	GroupName string `json:"groupName"`
	ID        int    `json:"id"`
	Name      string `json:"name"`
}

func (v *infobipVerifier) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	if err := v.auth.Check(r); err != nil {
		return nil, err
	}
	var cb struct {
		Results []struct {
			MessageID json.RawMessage `json:"messageId"`
			DoneAt    string          `json:"doneAt"`
			Status    *infobipStatus  `json:"status"`
			Error     *infobipStatus  `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &cb); err != nil {
		return nil, fmt.Errorf("%w: infobip: the body is not a JSON report", ErrMalformed)
	}
	var receipts []Receipt
	for _, res := range cb.Results {
		if res.Status == nil {
			continue
		}
		id := jsontext.Scalar(res.MessageID)
		if id == "" {
			return nil, fmt.Errorf("%w: infobip: a report without messageId", ErrMalformed)
		}
		rc := Receipt{
			Provider:       "infobip",
			MessageID:      id,
			Status:         infobipStatusOf(*res.Status),
			ProviderStatus: res.Status.Name,
			Time:           parseInfobipTime(res.DoneAt, now),
			Raw:            Raw(body),
		}
		if rc.ProviderStatus == "" {
			rc.ProviderStatus = res.Status.GroupName
		}
		if e := res.Error; e != nil && e.ID != 0 && e.Name != "NO_ERROR" {
			rc.ErrorCode = e.Name
			if rc.ErrorCode == "" {
				rc.ErrorCode = fmt.Sprint(e.ID)
			}
		}
		receipts = append(receipts, rc)
	}
	return receipts, nil
}

// infobipStatusOf maps an Infobip status onto Status; an unknown group is
// StatusUnknown.
func infobipStatusOf(s infobipStatus) Status {
	switch strings.ToUpper(s.Name) {
	case "PENDING_ACCEPTED":
		return StatusAccepted
	case "DELIVERED_TO_OPERATOR":
		return StatusSent
	}
	group := strings.ToUpper(s.GroupName)
	if group == "" {
		group = map[int]string{1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED", 5: "REJECTED"}[s.GroupID]
	}
	switch group {
	case "PENDING":
		return StatusSent
	case "DELIVERED":
		return StatusDelivered
	case "UNDELIVERABLE", "EXPIRED":
		return StatusUndelivered
	case "REJECTED":
		return StatusFailed
	}
	return StatusUnknown
}

// parseInfobipTime reads Infobip's yyyy-MM-dd'T'HH:mm:ss.SSSZ; an empty or
// unreadable time is now.
func parseInfobipTime(s string, now time.Time) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return now
}
