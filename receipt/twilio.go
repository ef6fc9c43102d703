package receipt

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/smscourier/smscourier"
)

// TwilioOptions configures the Twilio Verifier.
type TwilioOptions struct {
	// BaseURL is the scheme, host and any path prefix of the status
	// callback URL as configured at Twilio, "https://sms.example.com", when
	// it differs from what the request shows: behind a proxy or a load
	// balancer that terminates TLS or rewrites the host. The URL checked is
	// BaseURL followed by the request's path and query as they reached
	// this server. Default "": the scheme (https when the connection is
	// TLS), Host header, path and query of the request.
	BaseURL string
}

// Twilio returns the Verifier of Twilio's message status callbacks
// (provider "twilio"), signed with authToken, the account's primary Auth
// Token; it fails when authToken is empty or BaseURL is not an absolute
// http(s) URL.
//
// Twilio signs each callback with X-Twilio-Signature: the base64
// HMAC-SHA1, keyed with the Auth Token, of the full callback URL followed,
// for a form POST, by each parameter's name and value, in the order of
// the names. The URL must be the one configured at Twilio: Twilio's
// libraries check it with and without the scheme's default port, and so
// does this Verifier. Twilio signs no timestamp, so no replay window is
// possible: a captured callback can be replayed, which a Sink tolerates as
// it treats a receipt it has already taken as a no-op.
//
// A callback with a MessageSid and a MessageStatus yields one receipt;
// one without (an inbound message, "received") yields none. Twilio gives
// no status time, except RawDlrDoneDate (YYMMDDhhmm, from the carrier, in
// no stated zone, read as UTC) on delivered and undelivered SMS; else the
// receipt's time is its arrival.
//
// Sources:
// https://www.twilio.com/docs/usage/webhooks/webhooks-security (signature),
// https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
// and https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
// (callback parameters and statuses).
func Twilio(authToken smscourier.Secret, opts TwilioOptions) (Verifier, error) {
	if authToken == "" {
		return nil, errors.New("smscourier: receipt: twilio: the Auth Token is empty")
	}
	base, err := parseBaseURL("twilio", opts.BaseURL)
	if err != nil {
		return nil, err
	}
	return &twilio{key: []byte(authToken), base: base}, nil
}

type twilio struct {
	key  []byte
	base string
}

func (*twilio) Provider() string { return "twilio" }

func (v *twilio) Verify(r *http.Request, body []byte, now time.Time) ([]Receipt, error) {
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Twilio-Signature"))
	if err != nil || len(sig) != sha1.Size {
		return nil, fmt.Errorf("%w: twilio: missing or malformed X-Twilio-Signature", ErrUnauthenticated)
	}
	var params url.Values
	raw := body
	if r.Method == http.MethodPost {
		// Twilio posts application/x-www-form-urlencoded; its parameters are
		// signed after the URL.
		params, err = url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: twilio: the body is not a form", ErrUnauthenticated)
		}
	} else {
		params = r.URL.Query() // already part of the signed URL
		raw = []byte(r.URL.RawQuery)
	}
	ok := 0
	for _, u := range portVariants(callbackURL(r, v.base)) {
		data := u
		if r.Method == http.MethodPost {
			data += twilioParams(params)
		}
		mac := hmac.New(sha1.New, v.key)
		mac.Write([]byte(data))
		if hmac.Equal(mac.Sum(nil), sig) {
			ok = 1
		}
	}
	if ok == 0 {
		return nil, fmt.Errorf("%w: twilio: the signature does not match", ErrUnauthenticated)
	}
	id, word := params.Get("MessageSid"), params.Get("MessageStatus")
	if id == "" || word == "" || word == "received" || word == "receiving" {
		return nil, nil // not a status callback of an outbound message
	}
	rc := Receipt{
		Provider:       "twilio",
		MessageID:      id,
		Status:         twilioStatus(word),
		ProviderStatus: word,
		ErrorCode:      params.Get("ErrorCode"),
		Time:           now,
		Raw:            Raw(raw),
	}
	if t, err := time.Parse("0601021504", params.Get("RawDlrDoneDate")); err == nil {
		rc.Time = t.UTC()
	}
	return []Receipt{rc}, nil
}

// twilioParams returns the form's names and values in the order Twilio
// signs them: names sorted, each followed by its value (a repeated name
// by each of its values, sorted).
func twilioParams(params url.Values) string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		vs := append([]string(nil), params[n]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(n)
			b.WriteString(v)
		}
	}
	return b.String()
}

// twilioStatus maps Twilio's message statuses
// (https://www.twilio.com/docs/messaging/api/message-resource#message-status-values).
func twilioStatus(word string) Status {
	switch word {
	case "accepted", "scheduled", "queued", "sending":
		return StatusAccepted
	case "sent":
		return StatusSent
	case "delivered", "read":
		return StatusDelivered
	case "undelivered":
		return StatusUndelivered
	case "failed", "canceled":
		return StatusFailed
	}
	return StatusUnknown
}

// parseBaseURL checks a callback base URL option and returns it without
// a trailing slash; "" stays "".
func parseBaseURL(provider, base string) (string, error) {
	if base == "" {
		return "", nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		// base is not quoted: it may hold credentials.
		return "", fmt.Errorf("smscourier: receipt: %s: BaseURL is not an absolute http(s) URL without query, fragment or credentials", provider)
	}
	return strings.TrimRight(base, "/"), nil
}

// callbackURL returns the URL a provider called to reach r: base (else
// the scheme and Host of r) followed by the request target as it reached
// this server, before any http.StripPrefix.
func callbackURL(r *http.Request, base string) string {
	target := r.RequestURI
	if target == "" || !strings.HasPrefix(target, "/") {
		target = r.URL.RequestURI() // a request built by a client, not a server
	}
	if base != "" {
		return base + target
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + target
}

// portVariants returns u as it is, and either with the scheme's default
// port when it has no port or without its port when it has one: Twilio
// signs the URL as configured, and its libraries try both (twilio-go's
// RequestValidator). The rest of u is kept byte for byte.
func portVariants(u string) []string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return []string{u}
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	hostport, tail := rest[:end], rest[end:]
	host, _, err := net.SplitHostPort(hostport)
	if err != nil { // no port: try the default one
		def := "80"
		if scheme == "https" {
			def = "443"
		}
		return []string{u, scheme + "://" + hostport + ":" + def + tail}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return []string{u, scheme + "://" + host + tail}
}
