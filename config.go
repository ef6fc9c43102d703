package smscourier

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
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
	cfg, _, ps := decodeKratos(doc, true)
	if err := ps.err(); err != nil {
		return SMSConfig{}, err
	}
	return cfg, nil
}

// decodeKratos decodes and checks the SMS block of a decoded document, as
// ParseConfig does, returning it with the key path under which it was found
// ("" when none was) and every problem found. When required is false, a
// document without an SMS block (no courier section, or one without sms
// settings) is no problem.
func decodeKratos(doc any, required bool) (SMSConfig, string, problems) {
	var ps problems
	cfg, prefix, headerKey := decodeDocument(doc, required, &ps)
	if prefix != "" {
		checkDecoded(cfg, prefix, headerKey, &ps)
	}
	return cfg, prefix, ps
}

// checkDecoded adds to ps the problems of cfg.check(prefix), cfg being a
// block decoded from a document that spells its headers key headerKey,
// except those about a key whose value was already reported as malformed.
func checkDecoded(cfg SMSConfig, prefix, headerKey string, ps *problems) {
	for _, p := range cfg.check(prefix).list {
		p.Path = strings.Replace(p.Path, ".request_config.headers", ".request_config."+headerKey, 1)
		if !ps.covers(p.Path) {
			ps.list = append(ps.list, p)
		}
	}
}

// decodeDocument finds the SMS block in a decoded document and decodes it.
// It returns the key path under which the block was found ("" when none
// was) and the spelling of the headers key the document used.
func decodeDocument(doc any, required bool, ps *problems) (cfg SMSConfig, prefix, headerKey string) {
	cfg, prefix, block := decodeBlock(doc, required, ps)
	return cfg, prefix, headerKeyOf(block)
}

// headerKeyOf returns the spelling of the headers key that an SMS block
// uses: "header" (the seeds') or "headers".
func headerKeyOf(block map[string]any) string {
	if rc, ok := block["request_config"].(map[string]any); ok {
		if _, ok := rc["header"]; ok {
			return "header"
		}
	}
	return "headers"
}

// decodeBlock finds the SMS block in a decoded document and decodes it,
// returning the key path under which it was found and the raw block. A
// document without one is a problem only when required is set.
func decodeBlock(doc any, required bool, ps *problems) (SMSConfig, string, map[string]any) {
	root, ok := doc.(map[string]any)
	if !ok {
		ps.add("document", "must be a mapping")
		return SMSConfig{}, "", nil
	}
	courierRaw, ok := root["courier"]
	if !ok {
		if !required {
			return SMSConfig{}, "", nil
		}
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
	case required && len(ps.list) == 0:
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

// keyKind is how a config key's value is decoded.
type keyKind int

const (
	kindString  keyKind = iota // a string; a YAML number is refused, not converted
	kindBool                   // true or false
	kindSecret                 // a string held as a Secret
	kindHeaders                // a mapping of header names to strings
)

// blockLayout says which SMS blocks have a key.
type blockLayout int

const (
	seedsBlock   blockLayout = 1 << iota // courier.sms, the seeds' layout
	channelBlock                         // a courier.channels entry, current Kratos
	gatewayBlock                         // an smscourier.gateways entry, always enabled
	anyBlock     = seedsBlock | channelBlock | gatewayBlock
)

// configKey is one key of the SMS block. The table of them, configKeys, is
// the one definition of the keys: decoding, unknown-key detection, key paths
// in problems, environment overrides and Redacted all read it.
type configKey struct {
	path    string // below the block: "request_config.auth.config.password"
	kind    keyKind
	layout  blockLayout
	env     bool // a variable (COURIER_*, SMSCOURIER_GATEWAYS_*) may set it
	url     bool // a URL or URI whose credentials Redacted hides
	str     func(*SMSConfig) *string
	secret  func(*SMSConfig) *Secret
	flag    func(*SMSConfig) *bool
	headers func(*SMSConfig) *map[string]string
	// check, when set, returns what is wrong with a string value, or "".
	check func(string) string
}

// configKeys are the keys of the SMS block, in the order the documentation
// lists them. A key with no field (id, type) is read by the layout's code.
var configKeys = []configKey{
	{path: "enabled", kind: kindBool, layout: seedsBlock, env: true, flag: func(c *SMSConfig) *bool { return &c.Enabled }},
	{path: "id", layout: channelBlock, env: true},
	{path: "type", layout: channelBlock, env: true, check: func(t string) string {
		if t != "http" {
			return "must be http for the sms channel"
		}
		return ""
	}},
	{path: "from", layout: anyBlock, env: true, str: func(c *SMSConfig) *string { return &c.From }},
	{path: "request_config.url", env: true, url: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.URL }},
	{path: "request_config.method", env: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.Method }},
	{path: "request_config.body", env: true, url: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.Body }},
	{path: "request_config.response", env: true, url: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.Response }},
	{path: "request_config.headers", kind: kindHeaders, headers: func(c *SMSConfig) *map[string]string { return &c.RequestConfig.Headers }},
	{path: "request_config.auth.type", env: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.Auth.Type }},
	{path: "request_config.auth.config.user", env: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.Auth.Config.User }},
	{path: "request_config.auth.config.password", kind: kindSecret, env: true, secret: func(c *SMSConfig) *Secret { return &c.RequestConfig.Auth.Config.Password }},
	{path: "request_config.auth.config.name", env: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.Auth.Config.Name }},
	{path: "request_config.auth.config.value", kind: kindSecret, env: true, secret: func(c *SMSConfig) *Secret { return &c.RequestConfig.Auth.Config.Value }},
	{path: "request_config.auth.config.in", env: true, str: func(c *SMSConfig) *string { return &c.RequestConfig.Auth.Config.In }},
}

// keyAliases are other spellings of keys: the seeds write header where
// Kratos' schema has headers.
var keyAliases = map[string]string{"request_config.header": "request_config.headers"}

// keyIndex finds a key of configKeys by path, and tells mappings that hold
// keys (request_config, request_config.auth, ...) from unknown keys.
var keyIndex, keyBranches = func() (map[string]*configKey, map[string]bool) {
	index := make(map[string]*configKey, len(configKeys))
	branches := map[string]bool{}
	for i := range configKeys {
		k := &configKeys[i]
		index[k.path] = k
		for p := k.path; strings.Contains(p, "."); {
			p = p[:strings.LastIndexByte(p, '.')]
			branches[p] = true
		}
	}
	return index, branches
}()

// decodeKeys decodes the mapping m found at rel below an SMS block of the
// given layout (reported as path) into cfg, by configKeys: a leaf is
// decoded by its kind, a mapping holding keys is walked, anything else is an
// unknown key. Keys are visited in sorted order, so problems come in a
// stable order.
func decodeKeys(m map[string]any, path, rel string, layout blockLayout, cfg *SMSConfig, ps *problems) {
	for alias, key := range keyAliases {
		if dir, name, _ := cutLast(alias); dir == rel {
			_, hasAlias := m[name]
			_, target, _ := cutLast(key)
			if _, hasTarget := m[target]; hasAlias && hasTarget {
				ps.add(path, "both %s and %s are set: keep one", name, target)
			}
		}
	}
	for _, k := range sortedKeys(m) {
		p := path + "." + k
		r := k
		if rel != "" {
			r = rel + "." + k
		}
		if alias, ok := keyAliases[r]; ok {
			r = alias
		}
		key, ok := keyIndex[r]
		switch {
		case ok && key.layout != 0 && key.layout&layout == 0:
			ps.add(p, "unknown key")
		case ok:
			key.decode(m[k], p, cfg, ps)
		case keyBranches[r]:
			decodeKeys(mapping(m[k], p, ps), p, r, layout, cfg, ps)
		default:
			ps.add(p, "unknown key")
		}
	}
}

// decode sets the field of k in cfg from the document's value v, found at
// path, or reports why it cannot.
func (k *configKey) decode(v any, path string, cfg *SMSConfig, ps *problems) {
	switch k.kind {
	case kindBool:
		*k.flag(cfg) = boolean(v, path, ps)
	case kindSecret:
		*k.secret(cfg) = Secret(str(v, path, ps))
	case kindHeaders:
		hm := mapping(v, path, ps)
		h := k.headers(cfg)
		if len(hm) > 0 && *h == nil {
			*h = make(map[string]string, len(hm))
		}
		for _, name := range sortedKeys(hm) {
			(*h)[name] = str(hm[name], path+"."+name, ps)
		}
	default:
		s := str(v, path, ps)
		if k.str != nil {
			*k.str(cfg) = s
		}
		if _, isString := v.(string); isString && k.check != nil {
			if msg := k.check(s); msg != "" {
				ps.add(path, "%s", msg)
			}
		}
	}
}

// cutLast splits a key path at its last dot: "a.b.c" is "a.b" and "c", and
// "a" is "" and "a".
func cutLast(path string) (dir, name string, ok bool) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path, false
	}
	return path[:i], path[i+1:], true
}

// decodeRaw decodes a YAML or JSON document into maps, slices, strings,
// json.Numbers, booleans and nils, as sigs.k8s.io/yaml converts YAML to JSON
// (YAML 1.1 scalars: yes and on are true). It refuses, with a *ConfigError,
// what that conversion would let pass silently: a key given twice in a
// mapping (the last value would win) and a document after the first (it
// would be ignored). A syntax error is reported with the line of the fault.
// No error holds a value from the document; the key path of a duplicate
// names keys only.
func decodeRaw(data []byte) (any, error) {
	if ps := checkStream(data); len(ps.list) > 0 {
		return nil, ps.err()
	}
	jsonDoc, err := yaml.YAMLToJSON(data)
	if err == nil {
		var doc any
		dec := json.NewDecoder(bytes.NewReader(jsonDoc))
		dec.UseNumber()
		if err = dec.Decode(&doc); err == nil {
			return doc, nil
		}
	}
	return nil, &ConfigError{Problems: []Problem{{Path: "document", Message: "not valid YAML or JSON" + parseErrorDetail(err)}}}
}

// moreDocuments is the problem of a stream with a document after the first.
const moreDocuments = "more than one YAML document (separated by ---): keep one"

// checkStream reports a syntax error anywhere in the YAML stream data, or
// else the duplicate keys of its first document and any later document that
// holds something other than null. Empty documents around the first (a
// leading ---, a trailing --- or ...) are accepted.
func checkStream(data []byte) problems {
	var ps problems
	first, more, err := scanStream(data)
	if err != nil {
		ps.add("document", "not valid YAML or JSON%s", streamErrorDetail(data, err))
		return ps
	}
	findDuplicates(first, "", map[string]bool{}, &ps)
	if more {
		ps.add("document", moreDocuments)
	}
	return ps
}

// scanStream decodes every document of data with go.yaml.in/yaml/v2, the
// decoder behind sigs.k8s.io/yaml. It returns the first document with its
// mappings as goyaml.MapSlice, which keeps duplicate keys, and whether a
// later document holds anything but null. err is a parse error; type errors
// (a value that does not fit its tag) are left for YAMLToJSON to report.
func scanStream(data []byte) (first any, more bool, err error) {
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	var doc orderedDoc
	if err := dec.Decode(&doc); err != nil && !isTypeError(err) {
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		return nil, false, err
	}
	for {
		var next any
		err := dec.Decode(&next)
		switch {
		case errors.Is(err, io.EOF):
			return doc.v, more, nil
		case isTypeError(err):
			more = true // a value with a tag: not null
		case err != nil:
			return nil, false, err
		case next != nil:
			more = true
		}
	}
}

func isTypeError(err error) bool {
	var te *goyaml.TypeError
	return errors.As(err, &te)
}

// orderedDoc decodes a document as sigs.k8s.io/yaml does, except that a
// mapping at its root (and every mapping below it) becomes a MapSlice.
type orderedDoc struct{ v any }

// UnmarshalYAML implements goyaml.Unmarshaler.
func (d *orderedDoc) UnmarshalYAML(unmarshal func(any) error) error {
	if err := unmarshal(&d.v); err != nil {
		return err
	}
	if _, ok := d.v.(map[any]any); !ok {
		return nil // not a mapping: ParseConfig refuses the document
	}
	var m goyaml.MapSlice
	err := unmarshal(&m)
	d.v = m
	return err
}

// findDuplicates reports, once per key path, each key that a mapping in v
// holds twice. Keys are compared as sigs.k8s.io/yaml turns them into JSON
// object keys, so yes and true, or 1 and "1", are the same key. A mapping
// merged in with << holds none of the keys it merged, so a key that
// overrides a merged one is no duplicate.
func findDuplicates(v any, path string, reported map[string]bool, ps *problems) {
	switch v := v.(type) {
	case goyaml.MapSlice:
		seen := make(map[string]bool, len(v))
		for _, item := range v {
			k, ok := jsonKey(item.Key)
			if !ok {
				continue // YAMLToJSON refuses the key
			}
			p := keyPath(path, k)
			if seen[k] && !reported[p] {
				reported[p] = true
				ps.add(p, "duplicate key")
			}
			seen[k] = true
			findDuplicates(item.Value, p, reported, ps)
		}
	case []any:
		for i, item := range v {
			findDuplicates(item, fmt.Sprintf("%s[%d]", path, i), reported, ps)
		}
	}
}

// keyPath returns the path of key k in the mapping at path ("" for the
// root). An empty key is written "".
func keyPath(path, k string) string {
	if k == "" {
		k = `""`
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonKey returns the JSON object key that sigs.k8s.io/yaml makes of a
// mapping key decoded by go.yaml.in/yaml/v2, and false for a key of a type
// it refuses.
func jsonKey(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, true
	case int:
		return strconv.Itoa(k), true
	case int64:
		return strconv.FormatInt(k, 10), true
	case float64:
		switch s := strconv.FormatFloat(k, 'g', -1, 32); s {
		case "+Inf":
			return ".inf", true
		case "-Inf":
			return "-.inf", true
		case "NaN":
			return ".nan", true
		default:
			return s, true
		}
	case bool:
		return strconv.FormatBool(k), true
	}
	return "", false
}

// yamlSyntax matches the text of a go.yaml.in/yaml/v2 parse error that gives
// a line: the parser's problem is then one of its fixed descriptions, which
// quote nothing from the document.
var yamlSyntax = regexp.MustCompile(`^yaml: line ([0-9]+): (.+)$`)

// yamlParserProblems are the problems found by go.yaml.in/yaml/v2's parser,
// as opposed to its scanner. For these the error text gives the 0-based
// line of the fault, one less than its line; for scanner problems it gives
// the line.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
	"found undefined tag handle":             true,
}

// yamlProblem returns the text of a YAML error without its line.
func yamlProblem(err error) string {
	if m := yamlSyntax.FindStringSubmatch(err.Error()); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// streamErrorDetail returns the detail of a scanStream error: the line of a
// syntax error and the parser's description of it, or what parseErrorDetail
// keeps of any other error.
func streamErrorDetail(data []byte, err error) string {
	if detail, ok := syntaxDetail(data, err); ok {
		return detail
	}
	// The error text gives no line when the fault is on line 1, and for
	// errors other than syntax errors (an unknown anchor, say). With a blank
	// line in front, a syntax error on line 1 is one on line 2, which the
	// text gives.
	if _, _, err2 := scanStream(append([]byte("\n"), data...)); err2 != nil && yamlProblem(err2) == yamlProblem(err) {
		if detail, ok := syntaxDetail(nil, err2); ok && strings.HasPrefix(detail, ": line 2: ") {
			return ": line 1: " + strings.TrimPrefix(detail, ": line 2: ")
		}
	}
	return parseErrorDetail(err)
}

// syntaxDetail returns ": line N: problem" for a parse error of data that
// gives a line, N being the line of the fault (the last line of data when
// the fault is its end), and false for any other error.
func syntaxDetail(data []byte, err error) (string, bool) {
	m := yamlSyntax.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	line, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return "", false
	}
	if yamlParserProblems[m[2]] {
		line++
	}
	if data != nil {
		line = min(line, lastLine(data))
	}
	return fmt.Sprintf(": line %d: %s", line, m[2]), true
}

// lastLine returns the number of the last line of data, counting line
// breaks as YAML does (CR LF, CR, LF, NEL, LS, PS); the empty line after a
// final line break does not count.
func lastLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		if r == '\r' && i < len(data) && data[i] == '\n' {
			i++
		}
		switch r {
		case '\r', '\n', '\u0085', '\u2028', '\u2029':
			if i < len(data) {
				line++
			}
		}
	}
	return line
}

// parseErrorDetail keeps the part of a decoding error that cannot hold a
// value from the document (which may be a secret): its line number, or the
// whole text when it quotes nothing.
func parseErrorDetail(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if !strings.ContainsAny(msg, "`'\"{[") && !strings.Contains(msg, "interface") {
		return ": " + msg
	}
	if m := yamlLine.FindString(msg); m != "" {
		return " (" + m + ")"
	}
	return ""
}

var yamlLine = regexp.MustCompile(`line \d+`)
