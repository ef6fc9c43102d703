package smscourier

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// requestConfigFields is RequestConfig without its methods, so that
// formatting a redacted copy does not recurse.
type requestConfigFields RequestConfig

// Redacted returns a copy of rc for printing and logging, with the
// credentials it can recognise hidden: the user information of a URL (the
// gateway's, or an http(s) template's) becomes "[REDACTED]", and so does the
// value of a query parameter whose name suggests a credential; the value
// of a header whose name suggests one (a name containing key, token,
// secret, pass, auth, sig, session, cred, bearer, private or cookie)
// becomes "[REDACTED]"; a URL that does not parse is hidden whole when it
// has an @ or a ?. Auth values are Secrets and redact themselves. A secret
// in a header or parameter with an innocuous name is not recognised. fmt,
// encoding/json and log/slog use it for every RequestConfig, and so for
// every SMSConfig.
func (rc RequestConfig) Redacted() RequestConfig {
	cfg := SMSConfig{RequestConfig: rc}
	for _, k := range configKeys { // the URL keys and the header map
		switch {
		case k.url:
			p := k.str(&cfg)
			*p = redactURL(*p)
		case k.kind == kindHeaders:
			p := k.headers(&cfg)
			if *p == nil {
				continue
			}
			h := make(map[string]string, len(*p))
			for name, value := range *p {
				if sensitiveName(name) && value != "" {
					value = redacted
				}
				h[name] = value
			}
			*p = h
		}
	}
	return cfg.RequestConfig
}

// Format prints Redacted with the verb and flags given, so that %v, %+v,
// %#v and %s never show a credential.
func (rc RequestConfig) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), requestConfigFields(rc.Redacted()))
}

// MarshalJSON encodes Redacted.
func (rc RequestConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(requestConfigFields(rc.Redacted()))
}

// LogValue logs Redacted.
func (rc RequestConfig) LogValue() slog.Value {
	r := rc.Redacted()
	attrs := []slog.Attr{slog.String("url", r.URL), slog.String("method", r.Method)}
	if r.Body != "" {
		attrs = append(attrs, slog.String("body", r.Body))
	}
	if r.Response != "" {
		attrs = append(attrs, slog.String("response", r.Response))
	}
	if len(r.Headers) > 0 {
		attrs = append(attrs, slog.Any("headers", r.Headers))
	}
	if r.Auth != (AuthConfig{}) {
		attrs = append(attrs, slog.Any("auth", r.Auth))
	}
	return slog.GroupValue(attrs...)
}

// redactURL hides the user information and credential-like query values
// of an http(s) URL. file:// and base64:// URIs are returned as they are;
// anything else with an @ or a ? (an opaque or unparsable URL, a path) is
// hidden whole.
func redactURL(raw string) string {
	lower := strings.ToLower(strings.TrimSpace(raw))
	if strings.HasPrefix(lower, "file://") || strings.HasPrefix(lower, "base64://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Scheme != "http" && u.Scheme != "https" {
		if strings.ContainsAny(raw, "@?") {
			return redacted
		}
		return raw
	}
	if u.User != nil {
		// A user name alone can be a token (https://TOKEN@host/...).
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for name, values := range q {
			if sensitiveName(name) {
				for i := range values {
					values[i] = redacted
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	// url escapes the brackets of the placeholder; show it as elsewhere.
	return strings.ReplaceAll(u.String(), url.QueryEscape(redacted), redacted)
}

// sensitiveName reports whether a header or query parameter name suggests
// that its value is a credential.
func sensitiveName(name string) bool {
	n := strings.ToLower(name)
	for _, part := range []string{"key", "token", "secret", "pass", "auth", "sig", "session", "cred", "bearer", "private", "cookie"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// String describes the courier without credentials, for example
// "smscourier.Courier(POST https://api.example.com/v1/send)": the URL
// without user information or query. A Courier value and a *Courier
// print alike; a nil *Courier prints as fmt prints nil pointers, "<nil>".
func (c Courier) String() string {
	if c.disabled {
		return "smscourier.Courier(disabled)"
	}
	return "smscourier.Courier(" + c.method + " " + c.shownURL + ")"
}

// Format prints String for every verb, so that no verb (%+v, %#v, ...)
// shows the credentials the courier holds.
func (c Courier) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue logs String.
func (c Courier) LogValue() slog.Value { return slog.StringValue(c.String()) }
