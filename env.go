package smscourier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LoadConfigEnv reads the file at path and parses it with ParseConfigEnv,
// applying the overrides found in environ (pass os.Environ()).
func LoadConfigEnv(path string, environ []string) (SMSConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SMSConfig{}, fmt.Errorf("smscourier: load config: %w", err)
	}
	return ParseConfigEnv(data, environ)
}

// ParseConfigEnv is ParseConfig with environment overrides in Kratos' style:
// it first sets every key named by a variable in environ, then decodes and
// validates the result exactly as ParseConfig does. environ holds "KEY=value"
// entries, as os.Environ returns them. Nothing is read implicitly: ParseConfig
// and LoadConfig never look at the environment, and ParseConfigEnv reads only
// environ.
//
// A variable names a key path the way Kratos does: the path upper-cased, with
// its parts (and list indexes) joined by underscores. So
// courier.sms.request_config.auth.config.password is
// COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD and
// courier.channels[0].request_config.url is
// COURIER_CHANNELS_0_REQUEST_CONFIG_URL. Since key names hold underscores
// themselves, names are not split but matched against the known keys:
//
//	courier.sms.enabled, courier.sms.from, courier.sms.request_config.K
//	courier.channels[N].id, .type, .from, .request_config.K
//	K: url, method, body, response, auth.type,
//	   auth.config.user, auth.config.password,
//	   auth.config.name, auth.config.value, auth.config.in
//
// where N is the index of an entry of courier.channels in the document, or 0
// (which creates the first entry of an empty or absent list). Names are
// matched without regard to case, as Kratos matches them. Variables that name
// no known key are ignored, COURIER_* ones included (Kratos has many other
// keys). Header maps (header, headers) cannot be set from the environment, nor
// can a whole block or list be given as JSON (Kratos accepts
// COURIER_CHANNELS='[...]'; this does not).
//
// Values are strings, taken as they are; an empty value sets an empty string,
// and a value that is not valid UTF-8 is a problem naming the variable.
// courier.sms.enabled takes what strconv.ParseBool accepts (true, false, 1,
// 0, ...); anything else is a problem naming the variable. A variable
// overrides the document's value and creates the mappings above its key when
// they are absent; when a key above it holds a value of the wrong shape (a
// string where a mapping belongs), the variable is not applied and the
// document's problem is reported. When several variables name the same key,
// the last one in environ wins.
//
// Errors are those of ParseConfig: a *ConfigError wrapping ErrInvalidConfig,
// whose problems about a key set from the environment name the variable. No
// error contains a value taken from the environment.
func ParseConfigEnv(data []byte, environ []string) (SMSConfig, error) {
	doc, err := decodeRaw(data)
	if err != nil {
		return SMSConfig{}, err // as ParseConfig reports it
	}
	if doc == nil { // an empty document: the environment may supply everything
		doc = map[string]any{}
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return ParseConfig(data)
	}

	ov := applyEnv(root, knownEnvKeys(root), environ)
	if len(ov.set) == 0 && len(ov.problems) == 0 {
		return ParseConfig(data) // nothing to override
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		// Cannot happen: the document was decoded from JSON and only
		// strings and booleans were added.
		return SMSConfig{}, &ConfigError{Problems: []Problem{{Path: "document", Message: "cannot apply environment overrides"}}}
	}
	cfg, err := ParseConfig(buf.Bytes())
	return ov.result(cfg, err)
}

// applyEnv sets in root every key of keys that a variable of environ
// names, matching names without regard to case, and returns what it did.
func applyEnv(root map[string]any, keys map[string]envKey, environ []string) *overrides {
	ov := &overrides{set: map[string]envSetting{}}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		key, ok := keys[strings.ToUpper(name)]
		if !ok {
			continue
		}
		ov.apply(root, key, name, value)
	}
	return ov
}

// envKey is a config key that a variable may set.
type envKey struct {
	segs   []any  // key path: string keys and int list indexes
	path   string // as ParseConfig reports it: courier.channels[0].from
	isBool bool
}

// knownEnvKeys returns the keys variables may set in the Kratos section of
// doc, by variable name.
func knownEnvKeys(doc map[string]any) map[string]envKey {
	keys := make(map[string]envKey)
	addEnvBlock(keys, seedsBlock, "courier", "sms")
	entries := 1
	if courier, ok := doc["courier"].(map[string]any); ok {
		if list, ok := courier["channels"].([]any); ok {
			entries = max(1, len(list))
		}
	}
	for i := range entries {
		addEnvBlock(keys, channelBlock, "courier", "channels", i)
	}
	return keys
}

// addEnvBlock adds to keys the keys of configKeys that a variable may set
// in an SMS block of the given layout found at the key path prefix (string
// keys and int list indexes). A variable's name is the key path upper-cased,
// its parts joined by underscores, with '-' written '_'.
func addEnvBlock(keys map[string]envKey, layout blockLayout, prefix ...any) {
	add := func(isBool bool, segs ...any) {
		var name, path strings.Builder
		for i, s := range segs {
			if i > 0 {
				name.WriteByte('_')
			}
			switch s := s.(type) {
			case string:
				name.WriteString(envName(s))
				if i > 0 {
					path.WriteByte('.')
				}
				path.WriteString(s)
			case int:
				name.WriteString(strconv.Itoa(s))
				fmt.Fprintf(&path, "[%d]", s)
			}
		}
		keys[name.String()] = envKey{
			segs:   segs,
			path:   path.String(),
			isBool: isBool,
		}
	}
	for _, k := range configKeys {
		if !k.env || k.layout != 0 && k.layout&layout == 0 {
			continue
		}
		segs := append([]any{}, prefix...)
		for part := range strings.SplitSeq(k.path, ".") {
			segs = append(segs, part)
		}
		add(k.kind == kindBool, segs...)
	}
}

// envName is a key as a variable's name spells it: upper-cased, with '-'
// written '_'.
func envName(key string) string {
	return strings.ReplaceAll(strings.ToUpper(key), "-", "_")
}

// envSetting records a key set from the environment.
type envSetting struct {
	name string // the variable as written in environ
}

// overrides collects what the variables did to a document.
type overrides struct {
	set      map[string]envSetting // by key path
	problems []Problem
	created  []string // "courier.sms was created by NAME" notes
}

// apply sets key in root to value, creating absent mappings (and the first
// entry of an absent or empty channels list) on the way.
func (ov *overrides) apply(root map[string]any, key envKey, name, value string) {
	if !utf8.ValidString(value) { // a document cannot hold it either
		ov.problems = append(ov.problems, Problem{Path: key.path, Message: "environment variable " + name + " is not valid UTF-8"})
		return
	}
	var v any = value
	if key.isBool {
		b, err := strconv.ParseBool(value)
		if err != nil {
			ov.problems = append(ov.problems, Problem{Path: key.path, Message: "environment variable " + name + " must be true or false"})
			return
		}
		v = b
	}
	m := root
	for i := 0; i < len(key.segs)-1; i++ {
		seg := key.segs[i].(string)
		if idx, ok := key.segs[i+1].(int); ok { // seg holds a list
			list, ok := m[seg].([]any)
			if m[seg] != nil && !ok {
				return // malformed: ParseConfig reports it
			}
			if idx >= len(list) {
				if idx != 0 {
					return
				}
				list = append(list, map[string]any{})
				m[seg] = list
				ov.note(key, i+1, name)
			}
			next, ok := list[idx].(map[string]any)
			if !ok {
				return
			}
			m = next
			i++
			continue
		}
		switch next := m[seg].(type) {
		case map[string]any:
			m = next
		case nil:
			created := map[string]any{}
			m[seg] = created
			m = created
			ov.note(key, i, name)
		default:
			return // malformed: ParseConfig reports it
		}
	}
	m[key.segs[len(key.segs)-1].(string)] = v
	ov.set[key.path] = envSetting{name: name}
}

// note records that the variable name created the SMS block at segs[:i+1],
// when that is courier.sms or a channels entry.
func (ov *overrides) note(key envKey, i int, name string) {
	var what string
	switch {
	case i == 1 && key.segs[1] == "sms":
		what = "courier.sms"
	case i == 2 && key.segs[1] == "channels":
		what = fmt.Sprintf("courier.channels[%d]", key.segs[2])
	default:
		return
	}
	ov.created = append(ov.created, what+" was created by environment variable "+name)
}

// result merges the problems of the overrides into ParseConfig's outcome,
// naming the variables and keeping their values out.
func (ov *overrides) result(cfg SMSConfig, err error) (SMSConfig, error) {
	if err := ov.merge(err); err != nil {
		return SMSConfig{}, err
	}
	return cfg, nil
}

// merge returns err, the outcome of parsing the overridden document, with
// the problems of the overrides added and the variables named: nil when
// there are none, else a *ConfigError.
func (ov *overrides) merge(err error) error {
	if err == nil && len(ov.problems) == 0 {
		return nil
	}
	list := append([]Problem(nil), ov.problems...)
	var ce *ConfigError
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			list = append(list, ov.annotate(p))
		}
	} else if err != nil {
		return err
	}
	return &ConfigError{Problems: list}
}

// annotate names the variable behind a problem. Problems never quote a
// configured value, so none taken from the environment needs removing.
func (ov *overrides) annotate(p Problem) Problem {
	if s, ok := ov.set[p.Path]; ok {
		p.Message += " (from environment variable " + s.name + ")"
	}
	if p.Path == "courier" && len(ov.created) > 0 {
		p.Message += " (" + strings.Join(ov.created, "; ") + ")"
	}
	return p
}
