package smscourier

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"unicode"
)

// DefaultFrom is the sender passed to the template as ctx.from when neither
// the Message nor the config sets one. Kratos uses its product name here; we
// use ours. Most gateways require a real sender, so set `from` in production.
const DefaultFrom = "smscourier"

// Auth types accepted in request_config.auth.type.
const (
	AuthAPIKey    = "api_key"
	AuthBasicAuth = "basic_auth"
)

// Where an api_key is sent, accepted in request_config.auth.config.in.
const (
	APIKeyInHeader = "header"
	APIKeyInCookie = "cookie"
)

// SMSConfig is the typed mirror of Kratos' courier.sms configuration block.
// Its JSON keys are those of the Kratos documentation. The zero value is a
// disabled courier.
type SMSConfig struct {
	// Enabled must be true for the courier to send. Default false.
	Enabled bool `json:"enabled"`
	// From is the sender passed to the template as ctx.from.
	// Default DefaultFrom.
	From string `json:"from,omitempty"`
	// RequestConfig describes the HTTP request made for each message.
	RequestConfig RequestConfig `json:"request_config,omitzero"`
}

// RequestConfig describes the HTTP request sent to the gateway.
type RequestConfig struct {
	// URL is the gateway endpoint: absolute, http or https, with a path.
	// Required.
	URL string `json:"url"`
	// Method is the HTTP method, any valid method token. Required.
	Method string `json:"method"`
	// Body is the URI of the Jsonnet template that renders the request body:
	// file://path, base64://data or http(s)://url. Optional: without it no
	// body is sent.
	Body string `json:"body,omitempty"`
	// Response is the URI of an optional Jsonnet template that interprets
	// the gateway's reply (an smscourier extension; see docs/templates.md): it
	// receives ctx = {status, headers, body} and yields {ok, message_id,
	// retryable, retry_after_seconds, error_code, error_message,
	// outcome_unknown}. Without
	// it, any 2xx reply is success.
	Response string `json:"response,omitempty"`
	// Headers are sent with every request. Content-Type defaults to
	// application/json when a body is sent. In a config document both
	// `header` (the seeds' spelling) and `headers` (Kratos') are accepted.
	Headers map[string]string `json:"headers,omitempty"`
	// Auth adds credentials to every request. The zero value means none.
	Auth AuthConfig `json:"auth,omitzero"`
}

// AuthConfig selects and configures the authentication of requests.
type AuthConfig struct {
	// Type is AuthAPIKey or AuthBasicAuth; empty means no authentication.
	Type string `json:"type"`
	// Config holds the properties of the selected type.
	Config AuthParams `json:"config"`
}

// AuthParams holds the properties of both auth types. For basic_auth, User
// and Password are required and the others must be empty; for api_key, Name,
// Value and In are required and the others must be empty.
type AuthParams struct {
	// User is the basic_auth user name. It must not contain a colon.
	User string `json:"user,omitempty"`
	// Password is the basic_auth password.
	Password Secret `json:"password,omitempty"`
	// Name is the api_key header or cookie name.
	Name string `json:"name,omitempty"`
	// Value is the api_key value.
	Value Secret `json:"value,omitempty"`
	// In is where the api_key goes: APIKeyInHeader or APIKeyInCookie.
	In string `json:"in,omitempty"`
}

// Secret is a string that never shows itself: fmt prints it (with any verb)
// and encoding/json marshals it as "[REDACTED]" when set, "" when empty. Use
// string(s) to read the value deliberately.
type Secret string

const redacted = "[REDACTED]"

// String returns "[REDACTED]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the quoted form of String, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// Format prints String for every verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// MarshalJSON encodes String, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// LogValue keeps a Secret out of slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// LoadConfig reads the file at path and parses it with ParseConfig.
func LoadConfig(path string) (SMSConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SMSConfig{}, fmt.Errorf("smscourier: load config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig parses a whole configuration document, YAML or JSON, and returns
// its SMS courier settings, validated. Keys outside `courier` are ignored. The
// settings are read from `courier.sms` (the seeds' layout) or from the
// `courier.channels` entry with `id: sms` (current Kratos; its presence means
// enabled). The document must be a single YAML document (a leading --- and a
// trailing --- or ... are fine) and no mapping in it, inside courier or not,
// may give a key twice: a duplicate is a problem at its key path
// ("courier.sms.request_config.url: duplicate key"), a second document one
// at "document", and so is a syntax error, with the line of the fault. Every
// problem found is reported at once in a *ConfigError, which wraps
// ErrInvalidConfig. The body template is not loaded here; New does that.
func ParseConfig(data []byte) (SMSConfig, error) {
	doc, err := decodeRaw(data)
	if err != nil {
		return SMSConfig{}, err
	}
	var ps problems
	cfg, prefix, headerKey := decodeDocument(doc, &ps)
	if prefix != "" {
		// Report the rule violations too, except those about a key whose
		// value was already reported as malformed.
		for _, p := range cfg.check(prefix).list {
			p.Path = strings.Replace(p.Path, ".request_config.headers", ".request_config."+headerKey, 1)
			if !ps.covers(p.Path) {
				ps.list = append(ps.list, p)
			}
		}
	}
	if err := ps.err(); err != nil {
		return SMSConfig{}, err
	}
	return cfg, nil
}

// decodeDocument finds the SMS block in a decoded document and decodes it.
// It returns the key path under which the block was found ("" when none
// was) and the spelling of the headers key the document used.
func decodeDocument(doc any, ps *problems) (cfg SMSConfig, prefix, headerKey string) {
	cfg, prefix, block := decodeBlock(doc, ps)
	headerKey = "headers"
	if rc, ok := block["request_config"].(map[string]any); ok {
		if _, ok := rc["header"]; ok {
			headerKey = "header"
		}
	}
	return cfg, prefix, headerKey
}

// decodeBlock finds the SMS block in a decoded document and decodes it,
// returning the key path under which it was found and the raw block.
func decodeBlock(doc any, ps *problems) (SMSConfig, string, map[string]any) {
	root, ok := doc.(map[string]any)
	if !ok {
		ps.add("document", "must be a mapping")
		return SMSConfig{}, "", nil
	}
	courierRaw, ok := root["courier"]
	if !ok {
		ps.add("courier", "not found: expected courier.sms or a courier.channels entry with id sms")
		return SMSConfig{}, "", nil
	}
	courier, ok := courierRaw.(map[string]any)
	if !ok {
		ps.add("courier", "must be a mapping")
		return SMSConfig{}, "", nil
	}
	sms, hasSMS := courier["sms"]
	channel, channelPath, hasChannel := findSMSChannel(courier, ps)
	switch {
	case hasSMS && hasChannel:
		ps.add("courier", "both courier.sms and %s are set: keep one", channelPath)
	case hasSMS:
		block, _ := sms.(map[string]any)
		return decodeSMS(sms, "courier.sms", ps), "courier.sms", block
	case hasChannel:
		return decodeChannel(channel, channelPath, ps), channelPath, channel
	case len(ps.list) == 0:
		ps.add("courier", "no SMS settings: expected courier.sms or a courier.channels entry with id sms")
	}
	return SMSConfig{}, "", nil
}

// findSMSChannel returns the courier.channels entry whose id is "sms".
func findSMSChannel(courier map[string]any, ps *problems) (map[string]any, string, bool) {
	raw, ok := courier["channels"]
	if !ok {
		return nil, "", false
	}
	list, ok := raw.([]any)
	if !ok {
		ps.addMalformed("courier.channels", "must be a list")
		return nil, "", false
	}
	for i, item := range list {
		path := fmt.Sprintf("courier.channels[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			ps.addMalformed(path, "must be a mapping")
			continue
		}
		if id, _ := m["id"].(string); id == "sms" {
			return m, path, true
		}
	}
	return nil, "", false
}

// decodeSMS decodes the seeds' courier.sms block.
func decodeSMS(raw any, path string, ps *problems) SMSConfig {
	var cfg SMSConfig
	decodeKeys(mapping(raw, path, ps), path, "", seedsBlock, &cfg, ps)
	return cfg
}

// decodeChannel decodes a current-Kratos courier.channels entry. Its presence
// means enabled. `from` is accepted as an smscourier extension, since the
// channels layout has no other place for a sender.
func decodeChannel(m map[string]any, path string, ps *problems) SMSConfig {
	cfg := SMSConfig{Enabled: true}
	decodeKeys(m, path, "", channelBlock, &cfg, ps)
	if _, ok := m["type"]; !ok {
		ps.add(path+".type", "required")
	}
	if _, ok := m["request_config"]; !ok {
		ps.addMalformed(path+".request_config", "required")
	}
	return cfg
}

func mapping(v any, path string, ps *problems) map[string]any {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		ps.addMalformed(path, "must be a mapping")
	}
	return m
}

// str accepts a string only: a YAML number such as +12065550110 would lose
// its plus sign or leading zeros, so it is reported rather than converted.
func str(v any, path string, ps *problems) string {
	s, ok := v.(string)
	if !ok {
		ps.addMalformed(path, "must be a string (quote it in YAML)")
	}
	return s
}

func boolean(v any, path string, ps *problems) bool {
	b, ok := v.(bool)
	if !ok {
		ps.addMalformed(path, "must be true or false")
	}
	return b
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// check validates the typed config, reporting key paths below prefix. A
// disabled config with no request_config is valid; one that has a
// request_config gets it checked, so that a typo does not wait for the day
// the courier is switched on.
func (c SMSConfig) check(prefix string) problems {
	var ps problems
	if hasControl(c.From) {
		ps.add(prefix+".from", "must not contain control characters")
	}
	if !c.Enabled && isZeroRequestConfig(c.RequestConfig) {
		return ps
	}
	rc := c.RequestConfig
	p := prefix + ".request_config"
	checkURL(rc.URL, p+".url", &ps)
	switch {
	case rc.Method == "":
		ps.add(p+".method", "required")
	case !isToken(rc.Method):
		ps.add(p+".method", "not a valid HTTP method")
	}
	for _, t := range []struct{ key, uri string }{{"body", rc.Body}, {"response", rc.Response}} {
		if t.uri == "" {
			continue
		}
		if _, err := parseTemplateURI(t.uri); err != nil {
			ps.add(p+"."+t.key, "%v", err)
		}
	}
	checkHeaders(rc.Headers, p+".headers", &ps)
	checkAuth(rc.Auth, p+".auth", &ps)
	return ps
}

func isZeroRequestConfig(rc RequestConfig) bool {
	return rc.URL == "" && rc.Method == "" && rc.Body == "" && rc.Response == "" && len(rc.Headers) == 0 && rc.Auth == (AuthConfig{})
}

func checkURL(raw, path string, ps *problems) {
	if raw == "" {
		ps.add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the input, which may hold userinfo: say less.
		ps.add(path, "not a valid URL")
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		ps.add(path, "must start with http:// or https://")
	case u.Host == "":
		ps.add(path, "must be absolute, with a host")
	case u.Path == "" && u.Opaque == "":
		ps.add(path, "must include a path, for example %s://HOST/v1/messages", u.Scheme)
	}
}

func checkHeaders(h map[string]string, path string, ps *problems) {
	seen := make(map[string]string, len(h))
	for _, name := range sortedStringKeys(h) {
		p := path + "." + name
		if !isToken(name) {
			ps.add(p, "not a valid header name")
			continue
		}
		canon := http.CanonicalHeaderKey(name)
		if canon == "Content-Length" || canon == "Transfer-Encoding" {
			ps.add(p, "set by the courier from the body; remove it")
			continue
		}
		if other, dup := seen[canon]; dup {
			ps.add(p, "duplicates header %s", other)
		}
		seen[canon] = name
		value := h[name]
		if !validHeaderValue(value) {
			ps.add(p, "value must not contain control characters such as CR or LF")
			continue
		}
		if canon == "Content-Type" {
			if _, _, err := mime.ParseMediaType(value); err != nil {
				ps.add(p, "not a valid media type")
			}
		}
	}
}

func checkAuth(a AuthConfig, path string, ps *problems) {
	c := a.Config
	cp := path + ".config"
	notFor := func(field string, set bool) {
		if set {
			ps.add(cp+"."+field, "not used by auth type %s", a.Type)
		}
	}
	switch a.Type {
	case "":
		if c != (AuthParams{}) {
			ps.add(path+".type", "required: api_key or basic_auth")
		}
	case AuthBasicAuth:
		switch {
		case c.User == "":
			ps.add(cp+".user", "required")
		case strings.Contains(c.User, ":"):
			ps.add(cp+".user", "must not contain a colon")
		case hasControl(c.User):
			ps.add(cp+".user", "must not contain control characters")
		}
		switch {
		case c.Password == "":
			ps.add(cp+".password", "required")
		case hasControl(string(c.Password)):
			ps.add(cp+".password", "must not contain control characters")
		}
		notFor("name", c.Name != "")
		notFor("value", c.Value != "")
		notFor("in", c.In != "")
	case AuthAPIKey:
		if c.Name == "" {
			ps.add(cp+".name", "required")
		}
		if c.Value == "" {
			ps.add(cp+".value", "required")
		}
		switch c.In {
		case "":
			ps.add(cp+".in", "required: header or cookie")
		case APIKeyInHeader:
			if c.Name != "" && !isToken(c.Name) {
				ps.add(cp+".name", "not a valid header name")
			}
			if c.Value != "" && !validHeaderValue(string(c.Value)) {
				ps.add(cp+".value", "must not contain control characters such as CR or LF")
			}
		case APIKeyInCookie:
			if c.Name != "" && !isToken(c.Name) {
				ps.add(cp+".name", "not a valid cookie name")
			}
			if c.Value != "" && !validCookieValue(string(c.Value)) {
				ps.add(cp+".value", "not a valid cookie value (no spaces, quotes, commas, semicolons, backslashes or control characters)")
			}
		default:
			ps.add(cp+".in", "must be header or cookie")
		}
		notFor("user", c.User != "")
		notFor("password", c.Password != "")
	default:
		ps.add(path+".type", "must be api_key or basic_auth")
	}
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isToken reports whether s is an RFC 9110 token, the syntax of HTTP methods,
// header names and cookie names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validHeaderValue reports whether v can be sent as a header value: no
// control characters other than horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validCookieValue reports whether v is an RFC 6265 cookie-octet string.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// templateURI is a parsed request_config.body.
type templateURI struct {
	scheme string // "file", "base64", "http" or "https"
	path   string // file path, for file
	data   []byte // decoded template, for base64
	url    *url.URL
}

// parseTemplateURI parses a body URI. A value with no scheme is a file path,
// as Kratos accepts for backwards compatibility.
func parseTemplateURI(raw string) (templateURI, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return templateURI{scheme: "file", path: raw}, nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		if rest == "" {
			return templateURI{}, fmt.Errorf("file:// needs a path")
		}
		return templateURI{scheme: "file", path: rest}, nil
	case "base64":
		data, err := decodeBase64(rest)
		if err != nil {
			return templateURI{}, errors.New("base64:// data is not valid base64")
		}
		return templateURI{scheme: "base64", data: data}, nil
	case "http", "https":
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return templateURI{}, errors.New("not a valid http(s) URL")
		}
		return templateURI{scheme: strings.ToLower(scheme), url: u}, nil
	default:
		return templateURI{}, errors.New("unsupported scheme: use file://, base64:// or http(s)://")
	}
}

// decodeBase64 accepts standard and URL-safe alphabets, padded or not, and
// ignores white space (YAML folding may insert it).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var data []byte
		if data, err = enc.DecodeString(s); err == nil {
			return data, nil
		}
	}
	return nil, err
}
