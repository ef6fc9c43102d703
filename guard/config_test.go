package guard

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullDocument sets every key of the guard's section, beside a Kratos
// courier section and routing keys the guard ignores.
const fullDocument = `
courier:
  sms:
    enabled: true
smscourier:
  gateways: {}
  guard:
    dry_run: true
    remember: 12h
    policy:
      allow_countries: [GB, fr]
      deny_countries: [RU]
      allow_prefixes: ["+44", "+33"]
      deny_prefixes: ["+4470"]
      deny_number_types: [premium_rate, shared_cost, toll_free, voicemail]
      refuse_invalid: true
    limits:
      recipient: {cooldown: 30s, per_hour: 5, per_day: 10}
      prefix: {digits: 4, window: 15m, per_window: 20}
      country: {per_hour: 1000}
      global: {messages_per_hour: 100, messages_per_day: 1000, segments_per_hour: 200, segments_per_day: 2000}
      requester: {per_hour: 10}
    on_store_failure: {recipient: closed, prefix: closed, country: open, requester: open, global: open}
`

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(fullDocument))
	require.NoError(t, err)
	assert.Equal(t, Config{
		DryRun:   true,
		Remember: 12 * time.Hour,
		Policy: Policy{
			AllowCountries:  []string{"GB", "fr"},
			DenyCountries:   []string{"RU"},
			AllowPrefixes:   []string{"+44", "+33"},
			DenyPrefixes:    []string{"+4470"},
			DenyNumberTypes: []NumberType{TypePremiumRate, TypeSharedCost, TypeTollFree, TypeVoicemail},
			RefuseInvalid:   true,
		},
		Limits: Limits{
			Recipient: RecipientLimits{Cooldown: 30 * time.Second, PerHour: 5, PerDay: 10},
			Prefix:    PrefixLimits{Digits: 4, Window: 15 * time.Minute, PerWindow: 20},
			Country:   CountryLimits{PerHour: 1000},
			Global:    GlobalLimits{MessagesPerHour: 100, MessagesPerDay: 1000, SegmentsPerHour: 200, SegmentsPerDay: 2000},
			Requester: RequesterLimits{PerHour: 10},
		},
		OnStoreFailure: StoreFailure{Recipient: FailClosed, Prefix: FailClosed, Country: FailOpen, Requester: FailOpen, Global: FailOpen},
	}, cfg)

	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fullDocument), 0o600))
	loaded, err := LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, cfg, loaded)
	_, err = LoadConfig(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestParseConfigJSONAndAbsent(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"smscourier": {"guard": {"limits": {"recipient": {"cooldown": "1m"}}}}}`))
	require.NoError(t, err)
	assert.Equal(t, Config{Limits: Limits{Recipient: RecipientLimits{Cooldown: time.Minute}}}, cfg)
	for _, doc := range []string{"", "courier: {}\n", "smscourier:\n  gateways: {}\n", "smscourier:\n  guard:\n"} {
		cfg, err := ParseConfig([]byte(doc))
		require.NoError(t, err, "%q", doc)
		assert.True(t, cfg.IsZero(), "%q", doc)
	}
	assert.False(t, RecommendedConfig().IsZero())
}

// TestParseConfigProblems checks that each kind of mistake is reported
// at its key path, all at once, without quoting the document's values.
func TestParseConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []smscourier.Problem
	}{
		{name: "unknown keys", doc: "smscourier:\n  guard:\n    dryrun: true\n    limits:\n      recipient: {per_minute: 3}\n",
			want: []smscourier.Problem{
				{Path: "smscourier.guard.dryrun", Message: "unknown key"},
				{Path: "smscourier.guard.limits.recipient.per_minute", Message: "unknown key"},
			}},
		{name: "wrong types", doc: "smscourier:\n  guard:\n    dry_run: yes please\n    remember: 24\n    policy:\n      deny_countries: RU\n      allow_prefixes: [+44]\n    limits:\n      recipient: {per_hour: 2.5, per_day: -1}\n      prefix: 10\n",
			want: []smscourier.Problem{
				{Path: "smscourier.guard.dry_run", Message: "must be true or false"},
				{Path: "smscourier.guard.limits.prefix", Message: "must be a mapping"},
				{Path: "smscourier.guard.limits.recipient.per_day", Message: "must be a whole number from 0 to 1000000000"},
				{Path: "smscourier.guard.limits.recipient.per_hour", Message: "must be a whole number from 0 to 1000000000"},
				{Path: "smscourier.guard.policy.allow_prefixes[0]", Message: "must be a string (quote it in YAML)"},
				{Path: "smscourier.guard.policy.deny_countries", Message: "must be a list of strings"},
				{Path: "smscourier.guard.remember", Message: `must be a duration such as "30s", "10m" or "24h"`},
			}},
		{name: "values New refuses", doc: "smscourier:\n  guard:\n    policy:\n      deny_countries: [UK]\n      deny_number_types: [premium]\n    limits:\n      recipient: {cooldown: -30s}\n    on_store_failure: {global: maybe}\n",
			want: []smscourier.Problem{
				{Path: "smscourier.guard.policy.deny_countries[0]", Message: "not an ISO 3166 alpha-2 region code that libphonenumber knows (such as GB)"},
				{Path: "smscourier.guard.policy.deny_number_types[0]", Message: "unknown number type: one of fixed_line, mobile, fixed_line_or_mobile, toll_free, premium_rate, shared_cost, voip, personal_number, pager, uan, voicemail, unknown"},
				{Path: "smscourier.guard.limits.recipient.cooldown", Message: "must not be negative"},
				{Path: "smscourier.guard.on_store_failure.global", Message: `must be "open" or "closed"`},
			}},
		{name: "guard not a mapping", doc: "smscourier:\n  guard: [1]\n",
			want: []smscourier.Problem{{Path: "smscourier.guard", Message: "must be a mapping"}}},
		{name: "duplicate key", doc: "smscourier:\n  guard:\n    dry_run: true\n    dry_run: false\n",
			want: []smscourier.Problem{{Path: "document", Message: "a mapping gives a key twice (at line 4)"}}},
		{name: "not YAML", doc: "smscourier: [\n",
			want: []smscourier.Problem{{Path: "document", Message: "not valid YAML or JSON (at line 1)"}}},
		{name: "not a mapping", doc: "- 1\n",
			want: []smscourier.Problem{{Path: "document", Message: "must be a mapping"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc))
			var ce *smscourier.ConfigError
			require.ErrorAs(t, err, &ce)
			require.ErrorIs(t, err, smscourier.ErrInvalidConfig)
			assert.Equal(t, tc.want, ce.Problems)
		})
	}
}

// recommendedYAML is RecommendedConfig as docs/guard.md writes it.
const recommendedYAML = `
smscourier:
  guard:
    policy:
      deny_number_types: [premium_rate, shared_cost, toll_free, voicemail]
      refuse_invalid: true
    limits:
      recipient: {cooldown: 30s, per_hour: 5, per_day: 10}
      prefix: {digits: 3, window: 10m, per_window: 10}
      requester: {per_hour: 10}
`

func TestRecommendedYAML(t *testing.T) {
	cfg, err := ParseConfig([]byte(recommendedYAML))
	require.NoError(t, err)
	assert.Equal(t, RecommendedConfig(), cfg)
}
