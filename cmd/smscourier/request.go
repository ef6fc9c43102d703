package main

import (
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/smscourier/smscourier"
)

const redacted = "[REDACTED]"

// shownRequest is a rendered request with its credentials redacted, as
// render prints it.
type shownRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Headers are the headers the courier sets, Host included when the
	// config sets one. Several values of one header are joined by ", ".
	Headers map[string]string `json:"headers"`
	// Body is "" when no body is sent.
	Body string `json:"body"`
}

// showRequest reads req, which Render returned, and redacts its
// credentials as smscourier.RequestConfig.Redacted does, and more: see
// redactHeaders, and the URL's user information and credential-like query
// values.
func showRequest(req *http.Request, auth smscourier.AuthConfig) (shownRequest, error) {
	apiKeyHeader := ""
	if auth.Type == smscourier.AuthAPIKey && auth.Config.In == smscourier.APIKeyInHeader {
		apiKeyHeader = http.CanonicalHeaderKey(auth.Config.Name)
	}
	s := shownRequest{
		Method:  req.Method,
		URL:     redactURL(req.URL.String()),
		Headers: redactHeaders(req.Header, apiKeyHeader),
	}
	if req.Host != "" {
		s.Headers["Host"] = req.Host
	}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return shownRequest{}, err
		}
		s.Body = string(body)
	}
	return s, nil
}

// redactURL hides the user information and credential-like query values
// of an http(s) URL, as smscourier.RequestConfig.Redacted does.
func redactURL(raw string) string {
	return smscourier.RequestConfig{URL: raw}.Redacted().URL
}

// redactHeaders returns h, several values of one header joined by ", ",
// with the credentials hidden: the Authorization and Proxy-Authorization
// values but for their scheme, every cookie value, the value of
// apiKeyHeader (canonical; "" for none), and, as
// smscourier.RequestConfig.Redacted hides them, the values of headers whose
// names suggest a credential.
func redactHeaders(h http.Header, apiKeyHeader string) map[string]string {
	joined := make(map[string]string, len(h))
	for name, values := range h {
		joined[name] = strings.Join(values, ", ")
	}
	out := smscourier.RequestConfig{Headers: joined}.Redacted().Headers
	for name, values := range h {
		switch name {
		case "Authorization", "Proxy-Authorization":
			out[name] = redactCredentials(joined[name])
		case "Cookie":
			out[name] = redactCookies(values)
		case apiKeyHeader:
			out[name] = redacted
		}
	}
	return out
}

// redactCredentials keeps the scheme of an Authorization value:
// "Basic [REDACTED]".
func redactCredentials(v string) string {
	if scheme, _, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
		return scheme + " " + redacted
	}
	return redacted
}

// redactCookies keeps the names of the cookies: "a=[REDACTED]; b=[REDACTED]".
func redactCookies(values []string) string {
	var pairs []string
	for _, v := range values {
		for pair := range strings.SplitSeq(v, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(pair), "=")
			if name != "" {
				pairs = append(pairs, name+"="+redacted)
			}
		}
	}
	return strings.Join(pairs, "; ")
}

// text returns the request as render prints it: the request line, the
// headers sorted by name, a blank line and the body, ended by a newline.
func (s shownRequest) text() string {
	var b strings.Builder
	b.WriteString(s.Method + " " + s.URL + "\n")
	names := make([]string, 0, len(s.Headers))
	for name := range s.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b.WriteString(name + ": " + s.Headers[name] + "\n")
	}
	b.WriteString("\n")
	if s.Body != "" {
		b.WriteString(s.Body)
		if !strings.HasSuffix(s.Body, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
