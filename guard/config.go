package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/smscourier/smscourier"
	"sigs.k8s.io/yaml"
)

// Config is what a Guard enforces. The zero Config enforces nothing: every
// rule and every limit is off until set. In a config document it is the
// mapping at smscourier.guard (see ParseConfig); each field's comment
// gives its key.
type Config struct {
	// Policy is the destination policy, key policy: which numbers are
	// refused before anything is rendered or counted.
	Policy Policy
	// Limits are the rate limits and budgets, key limits.
	Limits Limits
	// DryRun, key dry_run, makes the Guard log and report (Event.DryRun)
	// what it would block, and send it anyway. It counts exactly what an
	// enforcing Guard would count, the sends it would allow, so its log
	// lists the blocks that enforcement would make, no more. Default
	// false: block.
	DryRun bool
	// OnStoreFailure, key on_store_failure, says for each kind of limit
	// whether a send goes ahead (open) or is blocked (closed) when the
	// Store fails. See StoreFailure for the defaults.
	OnStoreFailure StoreFailure
	// KeySecret, key key_secret (or the environment's
	// SMSCOURIER_GUARD_KEY_SECRET, see ParseConfigEnv), keys the SHA-256
	// hashes the Guard makes of numbers, ranges and requesters for its
	// Store, so that no one who reads the Store can find a number by
	// hashing every number. At least 16 bytes; a long random string, the
	// same in every instance that shares a Store. Required when the limits
	// are kept in a Store other than a MemoryStore (package pgstore); a
	// MemoryStore, whose state never leaves the process, needs none.
	// It never appears in an error or a log; changing it starts every
	// limit afresh. A smscourier.Secret: fmt, JSON and slog show it
	// redacted.
	KeySecret smscourier.Secret
	// Remember, key remember (a Go duration such as "24h"), is how long
	// the Store remembers a message it let through, by its idempotency key
	// and recipient: a retry of it within that time (a gateway failure, a
	// queue's retry) passes without being counted again. Default (0) 24h.
	Remember time.Duration
}

// MinKeySecret is the length, in bytes, of the shortest Config.KeySecret.
const MinKeySecret = 16

// DefaultRemember is how long a Guard remembers an admitted message when
// Config.Remember is 0.
const DefaultRemember = 24 * time.Hour

// Policy is the destination policy: rules on the recipient alone, checked
// before anything is rendered or counted. A number is refused by the first
// rule that applies, in the order of the Rule constants. The lists compare
// numbers in E.164 form, as libphonenumber writes them.
type Policy struct {
	// AllowCountries, key allow_countries, when not empty, refuses a
	// number of any other country (rule not_allowed_country). Countries are
	// ISO 3166 alpha-2 region codes ("GB"), in any case.
	AllowCountries []string
	// DenyCountries, key deny_countries, refuses a number of any of these
	// countries (rule deny_country).
	DenyCountries []string
	// AllowPrefixes, key allow_prefixes, when not empty, refuses a number
	// that starts with none of these E.164 prefixes ("+44", "+331"): rule
	// not_allowed_prefix.
	AllowPrefixes []string
	// DenyPrefixes, key deny_prefixes, refuses a number that starts with
	// any of these E.164 prefixes (rule deny_prefix).
	DenyPrefixes []string
	// DenyNumberTypes, key deny_number_types, refuses a number whose type,
	// as libphonenumber tells it, is in the list (rule number_type). The
	// types that never receive a one-time code are premium_rate,
	// shared_cost, toll_free and voicemail (RecommendedConfig); see
	// NumberType for all of them.
	DenyNumberTypes []NumberType
	// RefuseInvalid, key refuse_invalid, refuses a number that
	// libphonenumber says is invalid (rule invalid_number): an unassigned
	// range, a wrong length.
	RefuseInvalid bool
}

// NumberType is a kind of phone number, as libphonenumber classifies it.
type NumberType string

// The number types, as Policy.DenyNumberTypes names them. A number of
// type fixed_line_or_mobile (most of North America) is neither fixed_line
// nor mobile for the list.
const (
	TypeFixedLine         NumberType = "fixed_line"
	TypeMobile            NumberType = "mobile"
	TypeFixedLineOrMobile NumberType = "fixed_line_or_mobile"
	TypeTollFree          NumberType = "toll_free"
	TypePremiumRate       NumberType = "premium_rate"
	TypeSharedCost        NumberType = "shared_cost"
	TypeVoIP              NumberType = "voip"
	TypePersonalNumber    NumberType = "personal_number"
	TypePager             NumberType = "pager"
	TypeUAN               NumberType = "uan"
	TypeVoicemail         NumberType = "voicemail"
	TypeUnknown           NumberType = "unknown" // an invalid number
)

// numberTypes maps libphonenumber's types to ours.
var numberTypes = map[phonenumbers.PhoneNumberType]NumberType{
	phonenumbers.FIXED_LINE:           TypeFixedLine,
	phonenumbers.MOBILE:               TypeMobile,
	phonenumbers.FIXED_LINE_OR_MOBILE: TypeFixedLineOrMobile,
	phonenumbers.TOLL_FREE:            TypeTollFree,
	phonenumbers.PREMIUM_RATE:         TypePremiumRate,
	phonenumbers.SHARED_COST:          TypeSharedCost,
	phonenumbers.VOIP:                 TypeVoIP,
	phonenumbers.PERSONAL_NUMBER:      TypePersonalNumber,
	phonenumbers.PAGER:                TypePager,
	phonenumbers.UAN:                  TypeUAN,
	phonenumbers.VOICEMAIL:            TypeVoicemail,
	phonenumbers.UNKNOWN:              TypeUnknown,
}

// Limits are the rate limits and budgets. Each is off while its cap is 0.
// A cap of N per window W lets N messages through at once and then one
// every W/N (a GCRA cell): it never lets more than N through in any
// window of length W, plus one more for each W/N of it.
type Limits struct {
	Recipient RecipientLimits // key recipient
	Prefix    PrefixLimits    // key prefix
	Country   CountryLimits   // key country
	Global    GlobalLimits    // key global
	Requester RequesterLimits // key requester
}

// RecipientLimits limit the messages to one number.
type RecipientLimits struct {
	// Cooldown, key cooldown, is the least time between two messages to
	// the number (rule recipient_cooldown).
	Cooldown time.Duration
	// PerHour and PerDay, keys per_hour and per_day, cap the messages to
	// the number (rules recipient_per_hour, recipient_per_day).
	PerHour, PerDay int
}

// PrefixLimits cap the messages to a range of numbers: the country
// calling code and the next Digits digits. A burst to sequential numbers
// in one range is SMS pumping's signature.
type PrefixLimits struct {
	// Digits, key digits, is how many digits after the country calling
	// code make the range: +44 74 00... is range +44740 with 3. Default
	// (0) 3; at most 12.
	Digits int
	// Window, key window, is the window of the cap. Default (0) 10m.
	Window time.Duration
	// PerWindow, key per_window, caps the messages to one range in a
	// Window (rule prefix_per_window).
	PerWindow int
}

// Defaults of PrefixLimits.
const (
	DefaultPrefixDigits = 3
	DefaultPrefixWindow = 10 * time.Minute
)

// CountryLimits cap the messages to one country.
type CountryLimits struct {
	// PerHour, key per_hour, caps the messages to one country (rule
	// country_per_hour). A number without a country (a non-geographic
	// calling code such as +881) counts against its calling code; a
	// number not in E.164 form, against nothing.
	PerHour int
}

// GlobalLimits are budgets for all messages the Guard's Store counts,
// fleet-wide with a shared Store.
type GlobalLimits struct {
	// MessagesPerHour and MessagesPerDay, keys messages_per_hour and
	// messages_per_day (rules global_messages_per_hour,
	// global_messages_per_day).
	MessagesPerHour, MessagesPerDay int
	// SegmentsPerHour and SegmentsPerDay, keys segments_per_hour and
	// segments_per_day, count SMS segments (smscourier.Segments), which
	// is what a gateway bills (rules global_segments_per_hour,
	// global_segments_per_day). A message longer than the whole budget is
	// refused with no RetryAfter.
	SegmentsPerHour, SegmentsPerDay int
}

// RequesterLimits cap the messages one requester asks for
// (smscourier.Message.Requester: an account id, a client IP). A message
// without a Requester is not counted.
type RequesterLimits struct {
	// PerHour, key per_hour (rule requester_per_hour).
	PerHour int
}

// StoreFailure says, for each kind of limit, what a Guard does when its
// Store fails to answer: FailOpen sends as if the limit had allowed the
// message (and logs a warning), FailClosed blocks it (rule
// store_unavailable, with a RetryAfter of StoreRetryAfter). A send is
// blocked when any limit it draws on fails closed.
//
// The defaults (FailDefault) are closed for Global and open for the
// others. A budget is the last line of defence against a bill without
// bound: while the store is down nothing counts what is sent, so an attack
// then would be limitless, and the queue snoozes what a closed guard
// refuses. The per-recipient, per-prefix, per-country and per-requester
// limits fail open: they guard against one attacker's pattern, and
// blocking every sign-in code during an outage of the store would turn
// the outage into one of the whole service; the policy still applies.
type StoreFailure struct {
	Recipient FailureMode // key recipient; default open
	Prefix    FailureMode // key prefix; default open
	Country   FailureMode // key country; default open
	Requester FailureMode // key requester; default open
	Global    FailureMode // key global; default closed
}

// FailureMode is what a Guard does with a limit when its Store fails.
type FailureMode string

// The failure modes. FailDefault is the kind of limit's default.
const (
	FailDefault FailureMode = ""
	FailOpen    FailureMode = "open"
	FailClosed  FailureMode = "closed"
)

// StoreRetryAfter is the RetryAfter of a message blocked because the Store
// failed (rule store_unavailable): a queue snoozes it that long.
const StoreRetryAfter = 30 * time.Second

// RecommendedConfig returns the settings recommended for a service that
// sends one-time codes, those the pumping simulation
// (TestPumpingSimulation) is run with:
//
//   - refuse premium rate, shared cost, toll free and voicemail numbers,
//     and numbers libphonenumber says are invalid;
//   - per recipient: 30 s between codes (below the usual 60 s "resend"
//     timer of a sign-in form), at most 5 an hour and 10 a day;
//   - per range (calling code and 3 digits): at most 10 in 10 minutes;
//   - per requester: at most 10 an hour.
//
// The per-range cap assumes that no range gets more than a few of the
// service's codes in 10 minutes; a service sending more sizes it from
// its own traffic (run the Guard with DryRun first). Budgets and
// per-country caps depend on the service's volume and are left off:
// set Limits.Global to a few times a normal day's traffic.
func RecommendedConfig() Config {
	return Config{
		Policy: Policy{
			DenyNumberTypes: []NumberType{TypePremiumRate, TypeSharedCost, TypeTollFree, TypeVoicemail},
			RefuseInvalid:   true,
		},
		Limits: Limits{
			Recipient: RecipientLimits{Cooldown: 30 * time.Second, PerHour: 5, PerDay: 10},
			Prefix:    PrefixLimits{Digits: 3, Window: 10 * time.Minute, PerWindow: 10},
			Requester: RequesterLimits{PerHour: 10},
		},
	}
}

// IsZero reports whether c enforces nothing and changes no default: the
// Config of a document without a smscourier.guard section.
func (c Config) IsZero() bool {
	return c.Policy.isZero() && c.Limits == (Limits{}) && !c.DryRun &&
		c.OnStoreFailure == (StoreFailure{}) && c.Remember == 0 && c.KeySecret == ""
}

func (p Policy) isZero() bool {
	return len(p.AllowCountries) == 0 && len(p.DenyCountries) == 0 && len(p.AllowPrefixes) == 0 &&
		len(p.DenyPrefixes) == 0 && len(p.DenyNumberTypes) == 0 && !p.RefuseInvalid
}

// configPath is the key path of the guard's section in a config document.
const configPath = "smscourier.guard"

// LoadConfig reads the config document at path and returns its guard
// settings, as ParseConfig does.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("smscourier: load guard config: %w", err)
	}
	return ParseConfig(data)
}

// KeySecretEnv is the environment variable that ParseConfigEnv and
// LoadConfigEnv read Config.KeySecret from, over the document's
// smscourier.guard.key_secret: the key path in capitals, its dots as
// underscores, as smscourier.ParseConfigEnv reads the courier's keys.
const KeySecretEnv = "SMSCOURIER_GUARD_KEY_SECRET"

// LoadConfigEnv reads the config document at path and returns its guard
// settings, as ParseConfigEnv does.
func LoadConfigEnv(path string, environ []string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("smscourier: load guard config: %w", err)
	}
	return ParseConfigEnv(data, environ)
}

// ParseConfigEnv is ParseConfig with the environment environ (as
// os.Environ returns it) applied: a non-empty KeySecretEnv sets
// Config.KeySecret, so that the secret need not be in the file. Only when
// the document has a smscourier.guard section does it apply; a document
// without one still gives the zero Config.
func ParseConfigEnv(data []byte, environ []string) (Config, error) {
	var secret string
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, KeySecretEnv+"="); ok && v != "" {
			secret = v
		}
	}
	return parseConfig(data, secret)
}

// ParseConfig parses a whole config document, YAML or JSON, and returns
// the guard's settings: the mapping at smscourier.guard, validated. Other
// keys are ignored; a document without that section gives the zero
// Config. Inside it, an unknown key, a value of the wrong type, a
// duplicate key and a value New would refuse are problems at their key
// paths ("smscourier.guard.limits.recipient.per_hour: must be a whole
// number from 0"), all reported at once in a *smscourier.ConfigError,
// which wraps smscourier.ErrInvalidConfig. Durations are Go duration
// strings ("90s", "10m", "24h"). No error quotes a value of the document.
func ParseConfig(data []byte) (Config, error) {
	return parseConfig(data, "")
}

// parseConfig is ParseConfig with secret, when not empty, over the
// section's key_secret.
func parseConfig(data []byte, secret string) (Config, error) {
	jsonDoc, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return Config{}, invalid(configProblem{Path: "document", Message: yamlProblem(err)})
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(jsonDoc))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Config{}, invalid(configProblem{Path: "document", Message: "not valid YAML or JSON"})
	}
	var d decoder
	var cfg Config
	if root, ok := doc.(map[string]any); ok {
		if section, ok := root["smscourier"].(map[string]any); ok {
			if g, ok := section["guard"]; ok && g != nil {
				d.config(g, configPath, &cfg)
				if secret != "" {
					cfg.KeySecret = smscourier.Secret(secret)
				}
			}
		}
	} else if doc != nil {
		d.add("document", "must be a mapping")
	}
	if len(d.problems) == 0 {
		d.problems = cfg.check(configPath)
	}
	if len(d.problems) > 0 {
		return Config{}, invalid(d.problems...)
	}
	return cfg, nil
}

// yamlProblem describes a YAML error with the line it gives, if any, and
// nothing else of the parser's text, which may quote the document.
func yamlProblem(err error) string {
	msg := err.Error()
	what := "not valid YAML or JSON"
	if strings.Contains(msg, "already set in map") {
		what = "a mapping gives a key twice"
	}
	if i := strings.Index(msg, "line "); i >= 0 {
		j := i + len("line ")
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		if j > i+len("line ") {
			return what + " (at " + msg[i:j] + ")"
		}
	}
	return what
}

// configProblem is one problem, at a key path.
type configProblem = smscourier.Problem

// invalid returns the *smscourier.ConfigError of ps.
func invalid(ps ...configProblem) error {
	return &smscourier.ConfigError{Problems: ps}
}

// decoder decodes the guard's section strictly, collecting problems.
type decoder struct {
	problems []configProblem
}

func (d *decoder) add(path, format string, args ...any) {
	d.problems = append(d.problems, configProblem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// fields decodes mapping v at path: each key with its decoder, an unknown
// key is a problem.
func (d *decoder) fields(v any, path string, keys map[string]func(v any, path string)) {
	if v == nil {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.add(path, "must be a mapping")
		return
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p := path + "." + k
		if dec, ok := keys[k]; ok {
			dec(m[k], p)
		} else {
			d.add(p, "unknown key")
		}
	}
}

func (d *decoder) config(v any, path string, c *Config) {
	d.fields(v, path, map[string]func(any, string){
		"policy":           func(v any, p string) { d.policy(v, p, &c.Policy) },
		"limits":           func(v any, p string) { d.limits(v, p, &c.Limits) },
		"dry_run":          func(v any, p string) { c.DryRun = d.boolean(v, p) },
		"on_store_failure": func(v any, p string) { d.storeFailure(v, p, &c.OnStoreFailure) },
		"remember":         func(v any, p string) { c.Remember = d.duration(v, p) },
		"key_secret":       func(v any, p string) { c.KeySecret = smscourier.Secret(d.str(v, p)) },
	})
}

func (d *decoder) policy(v any, path string, p *Policy) {
	d.fields(v, path, map[string]func(any, string){
		"allow_countries": func(v any, k string) { p.AllowCountries = d.strings(v, k) },
		"deny_countries":  func(v any, k string) { p.DenyCountries = d.strings(v, k) },
		"allow_prefixes":  func(v any, k string) { p.AllowPrefixes = d.strings(v, k) },
		"deny_prefixes":   func(v any, k string) { p.DenyPrefixes = d.strings(v, k) },
		"deny_number_types": func(v any, k string) {
			for _, s := range d.strings(v, k) {
				p.DenyNumberTypes = append(p.DenyNumberTypes, NumberType(s))
			}
		},
		"refuse_invalid": func(v any, k string) { p.RefuseInvalid = d.boolean(v, k) },
	})
}

func (d *decoder) limits(v any, path string, l *Limits) {
	d.fields(v, path, map[string]func(any, string){
		"recipient": func(v any, p string) {
			d.fields(v, p, map[string]func(any, string){
				"cooldown": func(v any, k string) { l.Recipient.Cooldown = d.duration(v, k) },
				"per_hour": func(v any, k string) { l.Recipient.PerHour = d.count(v, k) },
				"per_day":  func(v any, k string) { l.Recipient.PerDay = d.count(v, k) },
			})
		},
		"prefix": func(v any, p string) {
			d.fields(v, p, map[string]func(any, string){
				"digits":     func(v any, k string) { l.Prefix.Digits = d.count(v, k) },
				"window":     func(v any, k string) { l.Prefix.Window = d.duration(v, k) },
				"per_window": func(v any, k string) { l.Prefix.PerWindow = d.count(v, k) },
			})
		},
		"country": func(v any, p string) {
			d.fields(v, p, map[string]func(any, string){
				"per_hour": func(v any, k string) { l.Country.PerHour = d.count(v, k) },
			})
		},
		"global": func(v any, p string) {
			d.fields(v, p, map[string]func(any, string){
				"messages_per_hour": func(v any, k string) { l.Global.MessagesPerHour = d.count(v, k) },
				"messages_per_day":  func(v any, k string) { l.Global.MessagesPerDay = d.count(v, k) },
				"segments_per_hour": func(v any, k string) { l.Global.SegmentsPerHour = d.count(v, k) },
				"segments_per_day":  func(v any, k string) { l.Global.SegmentsPerDay = d.count(v, k) },
			})
		},
		"requester": func(v any, p string) {
			d.fields(v, p, map[string]func(any, string){
				"per_hour": func(v any, k string) { l.Requester.PerHour = d.count(v, k) },
			})
		},
	})
}

func (d *decoder) storeFailure(v any, path string, f *StoreFailure) {
	mode := func(dst *FailureMode) func(any, string) {
		return func(v any, k string) { *dst = FailureMode(d.str(v, k)) }
	}
	d.fields(v, path, map[string]func(any, string){
		"recipient": mode(&f.Recipient),
		"prefix":    mode(&f.Prefix),
		"country":   mode(&f.Country),
		"requester": mode(&f.Requester),
		"global":    mode(&f.Global),
	})
}

func (d *decoder) boolean(v any, path string) bool {
	b, ok := v.(bool)
	if !ok {
		d.add(path, "must be true or false")
	}
	return b
}

func (d *decoder) str(v any, path string) string {
	s, ok := v.(string)
	if !ok {
		d.add(path, "must be a string (quote it in YAML)")
	}
	return s
}

// strings decodes a list of strings; null is an empty list.
func (d *decoder) strings(v any, path string) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		d.add(path, "must be a list of strings")
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		out = append(out, d.str(e, fmt.Sprintf("%s[%d]", path, i)))
	}
	return out
}

// maxCount is the largest cap a limit takes.
const maxCount = 1_000_000_000

// count decodes a whole number from 0 to maxCount.
func (d *decoder) count(v any, path string) int {
	n, ok := v.(json.Number)
	if ok {
		if i, err := n.Int64(); err == nil && i >= 0 && i <= maxCount {
			return int(i)
		}
	}
	d.add(path, "must be a whole number from 0 to %d", maxCount)
	return 0
}

// duration decodes a Go duration string.
func (d *decoder) duration(v any, path string) time.Duration {
	s, ok := v.(string)
	if ok {
		if dur, err := time.ParseDuration(s); err == nil {
			return dur
		}
	}
	d.add(path, `must be a duration such as "30s", "10m" or "24h"`)
	return 0
}

// check validates c, reporting key paths below prefix.
func (c Config) check(prefix string) []configProblem {
	var d decoder
	pol := prefix + ".policy"
	checkCountries(&d, c.Policy.AllowCountries, pol+".allow_countries")
	checkCountries(&d, c.Policy.DenyCountries, pol+".deny_countries")
	checkPrefixes(&d, c.Policy.AllowPrefixes, pol+".allow_prefixes")
	checkPrefixes(&d, c.Policy.DenyPrefixes, pol+".deny_prefixes")
	for i, t := range c.Policy.DenyNumberTypes {
		if !slices.Contains(numberTypeNames(), t) {
			d.add(fmt.Sprintf("%s.deny_number_types[%d]", pol, i), "unknown number type: one of %s", joinTypes())
		}
	}

	lim := prefix + ".limits"
	l := c.Limits
	nonNegative(&d, l.Recipient.Cooldown, lim+".recipient.cooldown")
	counts(&d, lim+".recipient.per_hour", l.Recipient.PerHour)
	counts(&d, lim+".recipient.per_day", l.Recipient.PerDay)
	if l.Prefix.Digits < 0 || l.Prefix.Digits > 12 {
		d.add(lim+".prefix.digits", "must be from 0 (the default, 3) to 12")
	}
	nonNegative(&d, l.Prefix.Window, lim+".prefix.window")
	counts(&d, lim+".prefix.per_window", l.Prefix.PerWindow)
	if w := orDefault(l.Prefix.Window, DefaultPrefixWindow); l.Prefix.PerWindow > 0 && w > 0 && time.Duration(l.Prefix.PerWindow) > w {
		d.add(lim+".prefix.per_window", "must be at most one a nanosecond of the window")
	}
	counts(&d, lim+".country.per_hour", l.Country.PerHour)
	counts(&d, lim+".global.messages_per_hour", l.Global.MessagesPerHour)
	counts(&d, lim+".global.messages_per_day", l.Global.MessagesPerDay)
	counts(&d, lim+".global.segments_per_hour", l.Global.SegmentsPerHour)
	counts(&d, lim+".global.segments_per_day", l.Global.SegmentsPerDay)
	counts(&d, lim+".requester.per_hour", l.Requester.PerHour)

	fail := prefix + ".on_store_failure"
	for _, f := range []struct {
		key  string
		mode FailureMode
	}{
		{"recipient", c.OnStoreFailure.Recipient},
		{"prefix", c.OnStoreFailure.Prefix},
		{"country", c.OnStoreFailure.Country},
		{"requester", c.OnStoreFailure.Requester},
		{"global", c.OnStoreFailure.Global},
	} {
		if f.mode != FailDefault && f.mode != FailOpen && f.mode != FailClosed {
			d.add(fail+"."+f.key, `must be "open" or "closed"`)
		}
	}
	nonNegative(&d, c.Remember, prefix+".remember")
	if c.KeySecret != "" && len(c.KeySecret) < MinKeySecret {
		d.add(prefix+".key_secret", "must be at least %d bytes", MinKeySecret)
	}
	return d.problems
}

// orDefault returns d, or def when d is 0.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func nonNegative(d *decoder, v time.Duration, path string) {
	if v < 0 {
		d.add(path, "must not be negative")
	}
}

func counts(d *decoder, path string, n int) {
	if n < 0 || n > maxCount {
		d.add(path, "must be a whole number from 0 to %d", maxCount)
	}
}

func checkCountries(d *decoder, list []string, path string) {
	regions := phonenumbers.GetSupportedRegions()
	for i, c := range list {
		if !regions[strings.ToUpper(c)] {
			d.add(fmt.Sprintf("%s[%d]", path, i), "not an ISO 3166 alpha-2 region code that libphonenumber knows (such as GB)")
		}
	}
}

func checkPrefixes(d *decoder, list []string, path string) {
	for i, p := range list {
		if !smscourier.IsE164(p) {
			d.add(fmt.Sprintf("%s[%d]", path, i), "must be a plus sign and 1 to 15 digits, the first not 0 (such as +44 or +4420)")
		}
	}
}

// numberTypeNames returns the names DenyNumberTypes takes.
func numberTypeNames() []NumberType {
	return []NumberType{TypeFixedLine, TypeMobile, TypeFixedLineOrMobile, TypeTollFree, TypePremiumRate,
		TypeSharedCost, TypeVoIP, TypePersonalNumber, TypePager, TypeUAN, TypeVoicemail, TypeUnknown}
}

func joinTypes() string {
	var b strings.Builder
	for i, t := range numberTypeNames() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
	}
	return b.String()
}

// windowInterval returns the GCRA interval of a cap of n per window.
func windowInterval(window time.Duration, n int) time.Duration {
	return max(1, window/time.Duration(n))
}
