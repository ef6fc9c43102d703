package smscourier

import "strings"

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
	anyBlock     = seedsBlock | channelBlock
)

// configKey is one key of the SMS block. The table of them, configKeys, is
// the one definition of the keys: decoding, unknown-key detection, key paths
// in problems, environment overrides and Redacted all read it.
type configKey struct {
	path    string // below the block: "request_config.auth.config.password"
	kind    keyKind
	layout  blockLayout
	env     bool // a COURIER_* variable may set it
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
