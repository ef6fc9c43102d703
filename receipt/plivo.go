package receipt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
)

// PlivoOptions configures the Plivo Verifier.
type PlivoOptions struct {
	// BaseURL is the scheme, host and any path prefix of the callback URL
	// as given to Plivo (the url of the send), when it differs from what
	// the request shows: behind a proxy or a load balancer. See
	// TwilioOptions.BaseURL. Default "": from the request.
	BaseURL string
}

// Plivo returns the Verifier of Plivo's message status callbacks
// (provider "plivo"), signed with authToken, the Auth Token of the main
// account or of the subaccount that sends; it fails when authToken is
// empty or BaseURL is not an absolute http(s) URL.
//
// Plivo signs each callback with its V3 signature, X-Plivo-Signature-V3
// (the sending account's token) and X-Plivo-Signature-Ma-V3 (the main
// account's), with X-Plivo-Signature-V3-Nonce: the base64 HMAC-SHA256,
// keyed with the Auth Token, of the callback URL without its query, "?"
// when there are parameters, then for a POST the URL's query parameters
// sorted as "name=value&..." and "." and the form's parameters sorted as
// "namevalue..." (for a GET all parameters as "name=value&..."), then "."
// and the nonce. Either header passing is enough; each may hold several
// comma-separated signatures. Plivo signs no timestamp, so no replay window
// is possible: a captured callback can be replayed, which a Sink tolerates
// as it treats a receipt it has already taken as a no-op.
//
// Plivo's messaging pages still describe only the older V2 signature
// (HMAC of the URL and nonce, which leaves the parameters unsigned); V2 is
// not accepted.
//
// A callback with a MessageUUID and a Status yields one receipt; an
// inbound message yields none. Its time is DeliveryReportTime for a
// carrier's report, SentTime for sent or failed, QueuedTime for queued
// (UTC), else its arrival.
//
// Sources: https://www.plivo.com/docs/voice/xml/request/validation and
// plivo-go's ValidateSignatureV3 (signature; Plivo documents no example),
// https://www.plivo.com/docs/messaging/api/message/message-status-callbacks
// (parameters and statuses).
func Plivo(authToken smscourier.Secret, opts PlivoOptions) (Verifier, error) {
	if authToken == "" {
		return nil, errors.New("smscourier: receipt: plivo: the Auth Token is empty")
	}
	base, err := parseBaseURL("plivo", opts.BaseURL)
	if err != nil {
		return nil, err
	}
	return &plivo{key: []byte(authToken), base: base}, nil
}

type plivo struct {
	key  []byte
	base string
}

func (*plivo) Provider() string { return "plivo" }

func (v *plivo) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	nonce := r.Header.Get("X-Plivo-Signature-V3-Nonce")
	sigs := r.Header.Get("X-Plivo-Signature-V3") + "," + r.Header.Get("X-Plivo-Signature-Ma-V3")
	if nonce == "" || strings.Trim(sigs, ",") == "" {
		return nil, fmt.Errorf("%w: plivo: missing X-Plivo-Signature-V3 or its nonce", ErrUnauthenticated)
	}
	u, err := url.Parse(callbackURL(r, v.base))
	if err != nil {
		return nil, fmt.Errorf("%w: plivo: unreadable callback URL", ErrUnauthenticated)
	}
	params := url.Values{}
	raw := []byte(r.URL.RawQuery)
	if r.Method == http.MethodPost {
		if params, err = url.ParseQuery(string(body)); err != nil {
			return nil, fmt.Errorf("%w: plivo: the body is not a form", ErrUnauthenticated)
		}
		raw = body
	}
	mac := hmac.New(sha256.New, v.key)
	mac.Write([]byte(plivoSigned(u, r.Method, params) + "." + nonce))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := 0
	for _, s := range strings.Split(sigs, ",") {
		if s != "" {
			ok |= Equal(strings.TrimSpace(s), want)
		}
	}
	if ok == 0 {
		return nil, fmt.Errorf("%w: plivo: the signature does not match", ErrUnauthenticated)
	}
	if r.Method != http.MethodPost {
		params = u.Query()
	}
	id, word := params.Get("MessageUUID"), params.Get("Status")
	if id == "" || word == "" || word == "received" {
		return nil, nil // an inbound message, not a status
	}
	rc := Receipt{
		Provider:       "plivo",
		MessageID:      id,
		Status:         plivoStatus(word),
		ProviderStatus: word,
		ErrorCode:      params.Get("ErrorCode"),
		Time:           now,
		Raw:            Raw(raw),
	}
	field := "MessageTime"
	switch word {
	case "delivered", "undelivered", "rejected", "read":
		field = "DeliveryReportTime"
	case "sent", "failed":
		field = "SentTime"
	case "queued":
		field = "QueuedTime"
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, params.Get(field)); err == nil {
			rc.Time = t.UTC()
			break
		}
	}
	return []Receipt{rc}, nil
}

// plivoSigned returns what Plivo's V3 signature covers, before the nonce,
// for a callback to u by method with form params (as plivo-go's
// GenerateUrl builds it; each name's first value).
func plivoSigned(u *url.URL, method string, params url.Values) string {
	s := u.Scheme + "://" + u.Host + u.Path
	query := u.Query()
	if len(params) > 0 || u.RawQuery != "" {
		s += "?"
	}
	if method != http.MethodPost {
		merged := map[string]string{}
		for n, vs := range query {
			merged[n] = vs[0]
		}
		for n, vs := range params {
			merged[n] = vs[0]
		}
		return s + plivoSorted(merged, true)
	}
	first := map[string]string{}
	for n, vs := range params {
		first[n] = vs[0]
	}
	if u.RawQuery == "" {
		return s + plivoSorted(first, false)
	}
	q := map[string]string{}
	for n, vs := range query {
		q[n] = vs[0]
	}
	return strings.TrimRight(s+plivoSorted(q, true)+"."+plivoSorted(first, false), ".")
}

// plivoSorted writes m sorted by name, as "name=value&..." for a query or
// "namevalue..." for a form.
func plivoSorted(m map[string]string, query bool) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if query {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(n + "=" + m[n])
		} else {
			b.WriteString(n + m[n])
		}
	}
	return b.String()
}

// plivoStatus maps Plivo's message statuses: "rejected" is the carrier's
// refusal, reported like a failed delivery; "failed" is Plivo unable to
// hand the message to a carrier.
func plivoStatus(word string) Status {
	switch word {
	case "queued":
		return StatusAccepted
	case "sent":
		return StatusSent
	case "delivered", "read":
		return StatusDelivered
	case "undelivered", "rejected":
		return StatusUndelivered
	case "failed":
		return StatusFailed
	}
	return StatusUnknown
}
