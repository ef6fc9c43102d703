package smscourier

import (
	"encoding/base64"
	"net/http"
)

// authenticator adds credentials to an outgoing request. Implementations are
// immutable and precompute what they can in New; apply only touches the
// request's own header, which is fresh for every request.
type authenticator interface {
	apply(h http.Header)
}

// newAuthenticator returns the authenticator for a validated AuthConfig, or
// nil when no authentication is configured.
func newAuthenticator(a AuthConfig) authenticator {
	switch a.Type {
	case AuthBasicAuth:
		return basicAuth{header: "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Config.User+":"+string(a.Config.Password)))}
	case AuthAPIKey:
		if a.Config.In == APIKeyInCookie {
			return apiKeyCookie{pair: a.Config.Name + "=" + string(a.Config.Value)}
		}
		return apiKeyHeader{name: http.CanonicalHeaderKey(a.Config.Name), value: string(a.Config.Value)}
	}
	return nil
}

// basicAuth sets Authorization: Basic, as http.Request.SetBasicAuth does.
type basicAuth struct{ header string }

func (b basicAuth) apply(h http.Header) { h["Authorization"] = []string{b.header} }

// apiKeyHeader sets the key's header, replacing a configured header of the
// same name.
type apiKeyHeader struct{ name, value string }

func (k apiKeyHeader) apply(h http.Header) { h[k.name] = []string{k.value} }

// apiKeyCookie adds the key as a cookie, after any configured Cookie header,
// as http.Request.AddCookie does. Name and value were validated in New.
type apiKeyCookie struct{ pair string }

func (k apiKeyCookie) apply(h http.Header) {
	if c := h.Get("Cookie"); c != "" {
		h.Set("Cookie", c+"; "+k.pair)
		return
	}
	h["Cookie"] = []string{k.pair}
}
