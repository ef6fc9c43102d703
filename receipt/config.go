package receipt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/smscourier/smscourier"
)

// Config is the receipts section of a config document, at
// smscourier.receipts (see ParseConfig): the providers whose receipt
// callbacks are served, with their secrets.
type Config struct {
	// Path, key path, is the URL path under which the endpoints are
	// served: Path/{provider}, and Path/{provider}/{token} for a
	// SharedAuth token. Default DefaultPath.
	Path string
	// Providers, key providers, holds each served provider's settings by
	// its preset's name ("twilio", "vonage-sms", "webhook").
	Providers map[string]ProviderConfig
}

// DefaultPath is Config.Path when it is not set.
const DefaultPath = "/receipts"

// ProviderConfig is one provider's settings. Each provider takes the keys
// its constructor takes, and refuses the others:
//
//	| provider        | keys                                                    |
//	|-----------------|---------------------------------------------------------|
//	| twilio          | auth_token, base_url                                    |
//	| plivo           | auth_token, base_url                                    |
//	| vonage-sms      | signature_secret, signature_method, replay_window       |
//	| vonage-messages | signature_secret, api_key, replay_window                |
//	| telnyx          | public_key, replay_window                               |
//	| webhook         | secret, old_secrets, replay_window                      |
//	| sinch           | secret, user, password, token, replay_window            |
//	| messagebird     | signing_key, public_url, replay_window                  |
//	| infobip         | user, password, token                                   |
//	| brevo           | user, password, token, bearer_token                     |
//	| textmagic       | user, password, token                                   |
//
// Secrets are smscourier.Secret: they never print.
type ProviderConfig struct {
	AuthToken       smscourier.Secret   // key auth_token: Twilio's or Plivo's Auth Token
	BaseURL         string              // key base_url: the public scheme, host and path prefix (TwilioOptions.BaseURL)
	SignatureSecret smscourier.Secret   // key signature_secret: Vonage's signature secret
	SignatureMethod string              // key signature_method: Vonage SMS API's method (md5hash, md5, sha1, sha256, sha512)
	APIKey          string              // key api_key: the Vonage api_key the token must name
	PublicKey       string              // key public_key: Telnyx's public key, base64
	Secret          smscourier.Secret   // key secret: the webhook preset's or Sinch's HMAC secret
	OldSecrets      []smscourier.Secret // key old_secrets: the webhook preset's previous secrets, during a rotation
	SigningKey      smscourier.Secret   // key signing_key: MessageBird's signing key
	PublicURL       string              // key public_url: MessageBird's status report URL, as configured
	User            string              // key user: basic credentials (SharedAuth)
	Password        smscourier.Secret   // key password: basic credentials (SharedAuth)
	Token           smscourier.Secret   // key token: the URL path token (SharedAuth)
	BearerToken     smscourier.Secret   // key bearer_token: Brevo's bearer token
	ReplayWindow    time.Duration       // key replay_window: a Go duration ("5m"); default DefaultReplayWindow
}

// providerKeys are the keys each provider takes, with its constructor.
var providerKeys = map[string]struct {
	keys  []string
	build func(ProviderConfig) (Verifier, error)
}{
	"twilio": {[]string{"auth_token", "base_url"}, func(p ProviderConfig) (Verifier, error) {
		return Twilio(p.AuthToken, TwilioOptions{BaseURL: p.BaseURL})
	}},
	"plivo": {[]string{"auth_token", "base_url"}, func(p ProviderConfig) (Verifier, error) {
		return Plivo(p.AuthToken, PlivoOptions{BaseURL: p.BaseURL})
	}},
	"vonage-sms": {[]string{"signature_secret", "signature_method", "replay_window"}, func(p ProviderConfig) (Verifier, error) {
		return VonageSMS(p.SignatureSecret, VonageSMSOptions{Method: VonageSignatureMethod(p.SignatureMethod), ReplayWindow: p.ReplayWindow})
	}},
	"vonage-messages": {[]string{"signature_secret", "api_key", "replay_window"}, func(p ProviderConfig) (Verifier, error) {
		return VonageMessages(p.SignatureSecret, VonageMessagesOptions{APIKey: p.APIKey, ReplayWindow: p.ReplayWindow})
	}},
	"telnyx": {[]string{"public_key", "replay_window"}, func(p ProviderConfig) (Verifier, error) {
		return Telnyx(p.PublicKey, TelnyxOptions{ReplayWindow: p.ReplayWindow})
	}},
	"webhook": {[]string{"secret", "old_secrets", "replay_window"}, func(p ProviderConfig) (Verifier, error) {
		return Webhook(p.Secret, WebhookOptions{OldSecrets: p.OldSecrets, ReplayWindow: p.ReplayWindow})
	}},
	"sinch": {[]string{"secret", "user", "password", "token", "replay_window"}, func(p ProviderConfig) (Verifier, error) {
		opts := SinchOptions{Secret: p.Secret, ReplayWindow: p.ReplayWindow}
		if p.User != "" || p.Password != "" || p.Token != "" {
			opts.Auth = p.shared()
		}
		return Sinch(opts)
	}},
	"messagebird": {[]string{"signing_key", "public_url", "replay_window"}, func(p ProviderConfig) (Verifier, error) {
		return MessageBird(p.SigningKey, MessageBirdOptions{PublicURL: p.PublicURL, ReplayWindow: p.ReplayWindow})
	}},
	"infobip": {[]string{"user", "password", "token"}, func(p ProviderConfig) (Verifier, error) {
		return Infobip(p.shared())
	}},
	"brevo": {[]string{"user", "password", "token", "bearer_token"}, func(p ProviderConfig) (Verifier, error) {
		opts := BrevoOptions{BearerToken: p.BearerToken}
		if p.User != "" || p.Password != "" || p.Token != "" {
			opts.Auth = p.shared()
		}
		return Brevo(opts)
	}},
	"textmagic": {[]string{"user", "password", "token"}, func(p ProviderConfig) (Verifier, error) {
		return Textmagic(p.shared())
	}},
}

func (p ProviderConfig) shared() SharedAuth {
	return SharedAuth{User: p.User, Password: p.Password, Token: p.Token}
}

// Providers returns the names of the providers a Config can serve, sorted:
// the presets' names.
func Providers() []string {
	return slices.Sorted(maps.Keys(providerKeys))
}

// Verifiers returns the Verifier of each provider of c, in the order of
// their names. It fails with a *smscourier.ConfigError (wrapping
// smscourier.ErrInvalidConfig) naming each provider whose settings its
// constructor refuses; no error quotes a secret.
func (c Config) Verifiers() ([]Verifier, error) {
	var out []Verifier
	var problems []smscourier.Problem
	for _, n := range slices.Sorted(maps.Keys(c.Providers)) {
		pk, ok := providerKeys[n]
		if !ok {
			problems = append(problems, smscourier.Problem{Path: configPath + ".providers." + n, Message: "unknown provider: one of " + strings.Join(Providers(), ", ")})
			continue
		}
		v, err := pk.build(c.Providers[n])
		if err != nil {
			msg, _ := strings.CutPrefix(err.Error(), "smscourier: receipt: ")
			problems = append(problems, smscourier.Problem{Path: configPath + ".providers." + n, Message: msg})
			continue
		}
		out = append(out, v)
	}
	if len(problems) > 0 {
		return nil, &smscourier.ConfigError{Problems: problems}
	}
	return out, nil
}

// Mux returns NewMux's ServeMux of c's providers under c's Path (default
// DefaultPath), handing their receipts to sink.
func (c Config) Mux(sink Sink, opts ...Option) (*http.ServeMux, error) {
	vs, err := c.Verifiers()
	if err != nil {
		return nil, err
	}
	path := c.Path
	if path == "" {
		path = DefaultPath
	}
	return NewMux(path, sink, vs, opts...)
}

// configPath is the key path of the receipts section.
const configPath = "smscourier.receipts"

// LoadConfig reads the config document at path and returns its receipts
// section, as ParseConfig does.
func LoadConfig(path string) (Config, error) {
	return LoadConfigEnv(path, nil)
}

// LoadConfigEnv reads the config document at path and returns its receipts
// section, as ParseConfigEnv does.
func LoadConfigEnv(path string, environ []string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("smscourier: load receipts config: %w", err)
	}
	return ParseConfigEnv(data, environ)
}

// ParseConfig parses a whole config document, YAML or JSON, and returns
// its receipts section, smscourier.receipts; other keys are ignored, and a
// document without the section gives the zero Config. Inside it, an
// unknown key (a provider's key is known only for that provider, see
// ProviderConfig), a value of the wrong type and a duplicate key are
// problems at their key paths, all reported in one *smscourier.ConfigError
// (wrapping smscourier.ErrInvalidConfig). No error quotes a value. The
// providers' settings are checked by Verifiers.
func ParseConfig(data []byte) (Config, error) {
	return ParseConfigEnv(data, nil)
}

// ParseConfigEnv is ParseConfig with the environment environ (as
// os.Environ returns it) applied over the document, as Kratos applies
// its own: a provider's key is set by the variable named by its key path
// in capitals, dots and dashes as underscores:
// SMSCOURIER_RECEIPTS_PROVIDERS_TWILIO_AUTH_TOKEN sets
// smscourier.receipts.providers.twilio.auth_token, and
// SMSCOURIER_RECEIPTS_PATH the path. The variables apply to the providers
// the document lists (an empty mapping, "twilio: {}", is enough), so
// that the secrets need not be in the file; old_secrets is a
// comma-separated list there.
func ParseConfigEnv(data []byte, environ []string) (Config, error) {
	jsonDoc, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return Config{}, &smscourier.ConfigError{Problems: []smscourier.Problem{{Path: "document", Message: "not valid YAML or JSON, or a key given twice"}}}
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(jsonDoc))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Config{}, &smscourier.ConfigError{Problems: []smscourier.Problem{{Path: "document", Message: "not valid YAML or JSON"}}}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "SMSCOURIER_RECEIPTS_") && v != "" {
			env[k] = v
		}
	}
	var d decoder
	var cfg Config
	root, _ := doc.(map[string]any)
	section, _ := root["smscourier"].(map[string]any)
	rs, ok := section["receipts"]
	if !ok || rs == nil {
		return Config{}, nil
	}
	m, ok := rs.(map[string]any)
	if !ok {
		d.add(configPath, "must be a mapping")
		return Config{}, d.err()
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := configPath + "." + k
		switch k {
		case "path":
			cfg.Path = d.str(m[k], p)
		case "providers":
			cfg.Providers = d.providers(m[k], p, env)
		default:
			d.add(p, "unknown key")
		}
	}
	if v, ok := env["SMSCOURIER_RECEIPTS_PATH"]; ok {
		cfg.Path = v
	}
	if cfg.Path != "" && !strings.HasPrefix(cfg.Path, "/") {
		d.add(configPath+".path", "must start with /")
	}
	if len(d.problems) > 0 {
		return Config{}, d.err()
	}
	return cfg, nil
}

// decoder decodes the receipts section strictly, collecting problems.
type decoder struct{ problems []smscourier.Problem }

func (d *decoder) add(path, msg string) {
	d.problems = append(d.problems, smscourier.Problem{Path: path, Message: msg})
}

func (d *decoder) err() error { return &smscourier.ConfigError{Problems: d.problems} }

func (d *decoder) str(v any, path string) string {
	s, ok := v.(string)
	if !ok {
		d.add(path, "must be a string")
	}
	return s
}

func (d *decoder) providers(v any, path string, env map[string]string) map[string]ProviderConfig {
	m, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			d.add(path, "must be a mapping of provider names to their settings")
		}
		return nil
	}
	out := map[string]ProviderConfig{}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		p := path + "." + name
		pk, known := providerKeys[name]
		if !known {
			d.add(p, "unknown provider: one of "+strings.Join(Providers(), ", "))
			continue
		}
		values := map[string]any{}
		switch sv := m[name].(type) {
		case nil:
		case map[string]any:
			values = sv
		default:
			d.add(p, "must be a mapping")
			continue
		}
		prefix := "SMSCOURIER_RECEIPTS_PROVIDERS_" + envName(name) + "_"
		for _, key := range pk.keys {
			if ev, ok := env[prefix+envName(key)]; ok {
				if key == "old_secrets" {
					values[key] = splitList(ev)
				} else {
					values[key] = ev
				}
			}
		}
		var pc ProviderConfig
		for _, key := range slices.Sorted(maps.Keys(values)) {
			kp := p + "." + key
			if !slices.Contains(pk.keys, key) {
				d.add(kp, "unknown key for "+name+": one of "+strings.Join(pk.keys, ", "))
				continue
			}
			d.field(&pc, key, values[key], kp)
		}
		out[name] = pc
	}
	return out
}

// field sets the field of key in pc from v.
func (d *decoder) field(pc *ProviderConfig, key string, v any, path string) {
	switch key {
	case "auth_token":
		pc.AuthToken = smscourier.Secret(d.str(v, path))
	case "base_url":
		pc.BaseURL = d.str(v, path)
	case "signature_secret":
		pc.SignatureSecret = smscourier.Secret(d.str(v, path))
	case "signature_method":
		pc.SignatureMethod = d.str(v, path)
	case "api_key":
		pc.APIKey = d.str(v, path)
	case "public_key":
		pc.PublicKey = d.str(v, path)
	case "secret":
		pc.Secret = smscourier.Secret(d.str(v, path))
	case "old_secrets":
		list, ok := v.([]any)
		if !ok {
			if ss, isStrings := v.([]string); isStrings {
				for _, s := range ss {
					pc.OldSecrets = append(pc.OldSecrets, smscourier.Secret(s))
				}
				return
			}
			d.add(path, "must be a list of strings")
			return
		}
		for i, e := range list {
			pc.OldSecrets = append(pc.OldSecrets, smscourier.Secret(d.str(e, fmt.Sprintf("%s[%d]", path, i))))
		}
	case "signing_key":
		pc.SigningKey = smscourier.Secret(d.str(v, path))
	case "public_url":
		pc.PublicURL = d.str(v, path)
	case "user":
		pc.User = d.str(v, path)
	case "password":
		pc.Password = smscourier.Secret(d.str(v, path))
	case "token":
		pc.Token = smscourier.Secret(d.str(v, path))
	case "bearer_token":
		pc.BearerToken = smscourier.Secret(d.str(v, path))
	case "replay_window":
		s := d.str(v, path)
		if s == "" {
			return
		}
		w, err := time.ParseDuration(s)
		if err != nil || w <= 0 {
			d.add(path, `must be a positive duration such as "5m"`)
			return
		}
		pc.ReplayWindow = w
	}
}

func envName(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(s))
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
