package smscourier

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envSMSDoc is a valid seeds-layout document with basic auth.
const envSMSDoc = `
serve: { public: { base_url: https://example.com } }
courier:
  sms:
    enabled: true
    from: "+12065550110"
    request_config:
      url: https://sms.example.com/v1/messages
      method: POST
      body: base64://ZnVuY3Rpb24oY3R4KSB7IHRvOiBjdHgudG8gfQ==
      header: { Content-Type: application/json }
      auth:
        type: basic_auth
        config: { user: AC123, password: file-pass }
`

// envChannelsDoc is a valid current-Kratos document whose sms channel is the
// second entry.
const envChannelsDoc = `
courier:
  channels:
    - id: email
      type: smtp
    - id: sms
      type: http
      request_config:
        url: https://sms.example.com/v1/messages
        method: POST
        headers: { Content-Type: application/json }
        auth:
          type: api_key
          config: { name: X-API-Key, value: file-key, in: header }
`

// TestParseConfigEnvMatchesDocument checks that every known variable has the
// same effect as writing its value into the document at the key it names.
func TestParseConfigEnvMatchesDocument(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		env     string // NAME=value
		edit    string // the equivalent document edit: old text
		replace string // new text
	}{
		{"sms enabled", envSMSDoc, "COURIER_SMS_ENABLED=false", "enabled: true", "enabled: false"},
		{"sms from", envSMSDoc, "COURIER_SMS_FROM=+4915112345678", `from: "+12065550110"`, `from: "+4915112345678"`},
		{"sms url", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_URL=http://127.0.0.1:8080/send", "url: https://sms.example.com/v1/messages", "url: http://127.0.0.1:8080/send"},
		{"sms method", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_METHOD=PUT", "method: POST", "method: PUT"},
		{"sms body", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_BODY=file://./t.jsonnet", "body: base64://ZnVuY3Rpb24oY3R4KSB7IHRvOiBjdHgudG8gfQ==", "body: file://./t.jsonnet"},
		{"sms response", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_RESPONSE=base64://ZnVuY3Rpb24oY3R4KSB7fQ==", "      header:", "      response: base64://ZnVuY3Rpb24oY3R4KSB7fQ==\n      header:"},
		{"sms auth type", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_TYPE=api_key", "type: basic_auth", "type: api_key"},
		{"sms user", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_USER=AC999", "user: AC123", "user: AC999"},
		{"sms password", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=env-pass", "password: file-pass", "password: env-pass"},
		{"sms name", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_NAME=X-Key", "password: file-pass", "password: file-pass, name: X-Key"},
		{"sms value", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_VALUE=v", "password: file-pass", "password: file-pass, value: v"},
		{"sms in", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_IN=cookie", "password: file-pass", "password: file-pass, in: cookie"},
		{"channel id", envChannelsDoc, "COURIER_CHANNELS_1_ID=sms2", "id: sms\n", "id: sms2\n"},
		{"channel type", envChannelsDoc, "COURIER_CHANNELS_1_TYPE=smtp", "type: http", "type: smtp"},
		{"channel from", envChannelsDoc, "COURIER_CHANNELS_1_FROM=+4915112345678", "type: http", "type: http\n      from: \"+4915112345678\""},
		{"channel url", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_URL=https://gw.example.org/sms", "url: https://sms.example.com/v1/messages", "url: https://gw.example.org/sms"},
		{"channel method", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_METHOD=GET", "method: POST", "method: GET"},
		{"channel body", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_BODY=base64://e30=", "method: POST", "method: POST\n        body: base64://e30="},
		{"channel response", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_RESPONSE=base64://e30=", "method: POST", "method: POST\n        response: base64://e30="},
		{"channel auth type", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_TYPE=basic_auth", "type: api_key", "type: basic_auth"},
		{"channel user", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_USER=u", "name: X-API-Key", "user: u, name: X-API-Key"},
		{"channel password", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=p", "name: X-API-Key", "password: p, name: X-API-Key"},
		{"channel name", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_NAME=Api-Key", "name: X-API-Key", "name: Api-Key"},
		{"channel value", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_VALUE=env-key", "value: file-key", "value: env-key"},
		{"channel in", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_IN=cookie", "in: header", "in: cookie"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, tc.doc, tc.edit)
			edited := strings.Replace(tc.doc, tc.edit, tc.replace, 1)
			want, wantErr := ParseConfig([]byte(edited))
			got, err := ParseConfigEnv([]byte(tc.doc), []string{tc.env})
			if wantErr != nil {
				// The same problems, at the same paths; the env side names
				// the variable.
				assert.Equal(t, cfgPaths(cfgProblems(t, wantErr)), cfgPaths(cfgProblems(t, err)))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestParseConfigEnvPasswordOnlyInEnv(t *testing.T) {
	doc := strings.Replace(envSMSDoc, "password: file-pass", "", 1)
	const env = "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=only-in-env"

	_, err := ParseConfig([]byte(doc))
	assert.Contains(t, cfgPaths(cfgProblems(t, err)), "courier.sms.request_config.auth.config.password")

	_, err = ParseConfigEnv([]byte(doc), nil)
	assert.Contains(t, cfgPaths(cfgProblems(t, err)), "courier.sms.request_config.auth.config.password", "no environ, no override")

	cfg, err := ParseConfigEnv([]byte(doc), []string{"HOME=/root", env})
	require.NoError(t, err)
	assert.Equal(t, Secret("only-in-env"), cfg.RequestConfig.Auth.Config.Password)
	assert.Equal(t, "AC123", cfg.RequestConfig.Auth.Config.User)
}

func TestParseConfigEnvEnabled(t *testing.T) {
	disabled := strings.Replace(envSMSDoc, "enabled: true", "enabled: false", 1)
	cases := []struct {
		name    string
		doc     string
		value   string
		want    bool
		problem bool
	}{
		{"true enables", disabled, "true", true, false},
		{"1 enables", disabled, "1", true, false},
		{"TRUE enables", disabled, "TRUE", true, false},
		{"false disables", envSMSDoc, "false", false, false},
		{"0 disables", envSMSDoc, "0", false, false},
		{"garbage", envSMSDoc, "yes-please", false, true},
		{"empty", envSMSDoc, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfigEnv([]byte(tc.doc), []string{"COURIER_SMS_ENABLED=" + tc.value})
			if !tc.problem {
				require.NoError(t, err)
				assert.Equal(t, tc.want, cfg.Enabled)
				return
			}
			ps := cfgProblems(t, err)
			require.Len(t, ps, 1)
			assert.Equal(t, "courier.sms.enabled", ps[0].Path)
			assert.Contains(t, ps[0].Message, "COURIER_SMS_ENABLED")
			assert.Contains(t, ps[0].Message, "true or false")
			if tc.value != "" {
				assert.NotContains(t, err.Error(), tc.value)
			}
		})
	}
}

func TestParseConfigEnvChannels(t *testing.T) {
	t.Run("index of the sms entry", func(t *testing.T) {
		cfg, err := ParseConfigEnv([]byte(envChannelsDoc), []string{
			"COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_VALUE=env-key",
			"COURIER_CHANNELS_1_FROM=+4915112345678",
		})
		require.NoError(t, err)
		assert.True(t, cfg.Enabled)
		assert.Equal(t, Secret("env-key"), cfg.RequestConfig.Auth.Config.Value)
		assert.Equal(t, "+4915112345678", cfg.From)
	})
	t.Run("other entries and missing indexes do not touch the sms entry", func(t *testing.T) {
		cfg, err := ParseConfigEnv([]byte(envChannelsDoc), []string{
			"COURIER_CHANNELS_0_REQUEST_CONFIG_AUTH_CONFIG_VALUE=email-key",
			"COURIER_CHANNELS_2_REQUEST_CONFIG_AUTH_CONFIG_VALUE=nowhere",
			"COURIER_CHANNELS_7_ID=sms",
		})
		require.NoError(t, err)
		assert.Equal(t, Secret("file-key"), cfg.RequestConfig.Auth.Config.Value)
	})
	t.Run("index 0 creates the first entry", func(t *testing.T) {
		env := []string{
			"COURIER_CHANNELS_0_ID=sms",
			"COURIER_CHANNELS_0_TYPE=http",
			"COURIER_CHANNELS_0_REQUEST_CONFIG_URL=https://sms.example.com/v1/messages",
			"COURIER_CHANNELS_0_REQUEST_CONFIG_METHOD=POST",
		}
		for _, doc := range []string{"", "courier: {}", "courier: { channels: [] }", "courier: { channels: }", "identity: { default_schema_id: x }"} {
			cfg, err := ParseConfigEnv([]byte(doc), env)
			require.NoError(t, err, doc)
			assert.Equal(t, SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: "https://sms.example.com/v1/messages", Method: "POST"}}, cfg, doc)
		}
	})
	t.Run("sms block from the environment alone", func(t *testing.T) {
		cfg, err := ParseConfigEnv(nil, []string{
			"COURIER_SMS_ENABLED=true",
			"COURIER_SMS_REQUEST_CONFIG_URL=https://sms.example.com/v1/messages",
			"COURIER_SMS_REQUEST_CONFIG_METHOD=POST",
			"COURIER_SMS_REQUEST_CONFIG_AUTH_TYPE=api_key",
			"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_NAME=X-Key",
			"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_VALUE=k",
			"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_IN=header",
		})
		require.NoError(t, err)
		assert.Equal(t, AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Key", Value: "k", In: APIKeyInHeader}}, cfg.RequestConfig.Auth)
	})
	t.Run("a block created by the environment is named in a conflict", func(t *testing.T) {
		_, err := ParseConfigEnv([]byte(envChannelsDoc), []string{"COURIER_SMS_FROM=+4915112345678"})
		ps := cfgProblems(t, err)
		require.Len(t, ps, 1)
		assert.Equal(t, "courier", ps[0].Path)
		assert.Contains(t, ps[0].Message, "courier.sms was created by environment variable COURIER_SMS_FROM")
		assert.NotContains(t, err.Error(), "+4915112345678")
	})
}

func TestParseConfigEnvIgnores(t *testing.T) {
	want, err := ParseConfig([]byte(envSMSDoc))
	require.NoError(t, err)
	env := []string{
		"PATH=/usr/bin",
		"COURIER_SMTP_CONNECTION_URI=smtps://a:b@mail:465/",
		"COURIER_TEMPLATE_OVERRIDE_PATH=/templates",
		"COURIER_SMS=oops",
		"COURIER_SMS_REQUEST_CONFIG=oops",
		"COURIER_SMS_REQUEST_CONFIG_HEADER_CONTENT_TYPE=text/plain",
		"COURIER_SMS_REQUEST_CONFIG_HEADERS_CONTENT_TYPE=text/plain",
		"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG=oops",
		"COURIER_SMS_REQUEST_CONFIG_METHDO=GET",
		"COURIER_SMS_UNKNOWN=1",
		"COURIER_CHANNELS=[]",
		"COURIER_CHANNELS_X_ID=sms",
		"XCOURIER_SMS_FROM=nope",
		"COURIER_SMS_FROMX=nope",
		"=C:=C:\\",
		"NO_EQUALS_SIGN",
		"",
	}
	got, err := ParseConfigEnv([]byte(envSMSDoc), env)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestParseConfigEnvOverrides(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want func(*SMSConfig)
	}{
		{"replaces the document's value", []string{"COURIER_SMS_FROM=+4915112345678"}, func(c *SMSConfig) { c.From = "+4915112345678" }},
		{"last variable wins", []string{"COURIER_SMS_FROM=+1", "COURIER_SMS_FROM=+2"}, func(c *SMSConfig) { c.From = "+2" }},
		{"names match regardless of case, as in Kratos", []string{"courier_sms_request_config_method=PUT"}, func(c *SMSConfig) { c.RequestConfig.Method = "PUT" }},
		{"empty value sets an empty string", []string{"COURIER_SMS_FROM="}, func(c *SMSConfig) { c.From = "" }},
		{"value with = signs", []string{"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=a=b=c"}, func(c *SMSConfig) { c.RequestConfig.Auth.Config.Password = "a=b=c" }},
		{"several keys", []string{
			"COURIER_SMS_REQUEST_CONFIG_URL=https://gw.example.org/v2/sms?x=1",
			"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_USER=env-user",
			"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=env-pass",
		}, func(c *SMSConfig) {
			c.RequestConfig.URL = "https://gw.example.org/v2/sms?x=1"
			c.RequestConfig.Auth.Config = AuthParams{User: "env-user", Password: "env-pass"}
		}},
		{"a value that is not YAML-safe stays a string", []string{"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=: {a: [\"<&>\\u0041"}, func(c *SMSConfig) {
			c.RequestConfig.Auth.Config.Password = ": {a: [\"<&>\\u0041"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := ParseConfig([]byte(envSMSDoc))
			require.NoError(t, err)
			tc.want(&want)
			got, err := ParseConfigEnv([]byte(envSMSDoc), tc.env)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestParseConfigEnvValuesNeverInErrors(t *testing.T) {
	cases := []struct {
		name  string
		doc   string
		env   string
		path  string
		value string
	}{
		{"method", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_METHOD=", "courier.sms.request_config.method", "BAD METHOD zq7"},
		{"auth type", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_TYPE=", "courier.sms.request_config.auth.type", "oauth-zq7"},
		{"url without path", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_URL=", "courier.sms.request_config.url", "https://sms-zq7.example.com?to=1"},
		{"url without path, with userinfo", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_URL=", "courier.sms.request_config.url", "https://user:pw-zq7@sms.example.com"},
		{"url without path, quotes in the host", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_URL=", "courier.sms.request_config.url", `https://zq7"a"b?q`},
		{"url scheme", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_URL=", "courier.sms.request_config.url", "ftp://user:pw-zq7@sms.example.com/x"},
		{"body scheme", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_BODY=", "courier.sms.request_config.body", "s3cr3tzq7://bucket/t.jsonnet"},
		{"password with control character", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=", "courier.sms.request_config.auth.config.password", "pw-zq7\x01"},
		{"user with colon", envSMSDoc, "COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_USER=", "courier.sms.request_config.auth.config.user", "us:er-zq7"},
		{"channel type", envChannelsDoc, "COURIER_CHANNELS_1_TYPE=", "courier.channels[1].type", "grpc-zq7"},
		{"api key in", envChannelsDoc, "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_IN=", "courier.channels[1].request_config.auth.config.in", "query-zq7"},
		{"api key value in a cookie", strings.Replace(envChannelsDoc, "in: header", "in: cookie", 1), "COURIER_CHANNELS_1_REQUEST_CONFIG_AUTH_CONFIG_VALUE=", "courier.channels[1].request_config.auth.config.value", "key zq7;"},
		{"enabled", envSMSDoc, "COURIER_SMS_ENABLED=", "courier.sms.enabled", "maybe-zq7"},
		{"invalid UTF-8", envSMSDoc, "COURIER_SMS_FROM=", "courier.sms.from", "+1-zq7\xff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.TrimSuffix(tc.env, "=")
			_, err := ParseConfigEnv([]byte(tc.doc), []string{tc.env + tc.value})
			ps := cfgProblems(t, err)
			assert.Contains(t, cfgPaths(ps), tc.path)
			assert.NotContains(t, err.Error(), "zq7", "the value leaked")
			assert.NotContains(t, err.Error(), tc.value)
			for _, p := range ps {
				if p.Path == tc.path {
					assert.Contains(t, p.Message, name, "the problem names the variable")
				}
			}
		})
	}
}

func TestParseConfigEnvMalformedDocument(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		env  string
		path string
	}{
		{"request_config is a string", "courier:\n  sms:\n    enabled: true\n    request_config: oops\n", "COURIER_SMS_REQUEST_CONFIG_URL=https://sms.example.com/v1", "courier.sms.request_config"},
		{"channels is a mapping", "courier:\n  channels: { id: sms }\n", "COURIER_CHANNELS_0_ID=sms", "courier.channels"},
		{"channel entry is a string", "courier:\n  channels: [oops]\n", "COURIER_CHANNELS_0_ID=sms", "courier.channels[0]"},
		{"courier is a list", "courier: [1]\n", "COURIER_SMS_FROM=x", "courier"},
		{"not YAML", "courier: [\n", "COURIER_SMS_FROM=x", "document"},
		{"not a mapping", "- 1\n", "COURIER_SMS_FROM=x", "document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, want := ParseConfig([]byte(tc.doc))
			_, err := ParseConfigEnv([]byte(tc.doc), []string{tc.env})
			ps := cfgProblems(t, err)
			assert.Contains(t, cfgPaths(ps), tc.path)
			assert.Equal(t, cfgPaths(cfgProblems(t, want)), cfgPaths(ps), "the document's problems, as ParseConfig reports them")
		})
	}
}

func TestLoadConfigEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kratos.yml")
	require.NoError(t, os.WriteFile(path, []byte(envSMSDoc), 0o600))

	cfg, err := LoadConfigEnv(path, []string{"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=env-pass"})
	require.NoError(t, err)
	assert.Equal(t, Secret("env-pass"), cfg.RequestConfig.Auth.Config.Password)

	cfg, err = LoadConfigEnv(path, nil)
	require.NoError(t, err)
	assert.Equal(t, Secret("file-pass"), cfg.RequestConfig.Auth.Config.Password)

	_, err = LoadConfigEnv(filepath.Join(t.TempDir(), "missing.yml"), []string{"COURIER_SMS_FROM=x"})
	require.ErrorIs(t, err, os.ErrNotExist)
}

// FuzzParseConfigEnv checks that ParseConfigEnv never panics, equals
// ParseConfig without variables, and never puts a variable's value in an
// error.
func FuzzParseConfigEnv(f *testing.F) {
	f.Add(envSMSDoc, uint8(0), "zqx-value")
	f.Add(envChannelsDoc, uint8(20), "BAD METHOD zqx")
	f.Add("", uint8(3), "zqx")
	f.Add("courier: [", uint8(1), "zqx")
	f.Add("courier:\n  channels: [oops]\n", uint8(15), "zqx")
	f.Add("", uint8('9'), "\x80") // invalid UTF-8 became U+FFFD in the re-encoded document
	f.Add("", uint8(0), `"0"`)    // a quoted run inside a URL host once hid part of it from the leak check
	names := make([]string, 0, 64)
	for name := range knownEnvKeys(map[string]any{}) {
		names = append(names, name)
	}
	slices.Sort(names)
	f.Fuzz(func(t *testing.T, doc string, which uint8, value string) {
		want, wantErr := ParseConfig([]byte(doc))
		got, err := ParseConfigEnv([]byte(doc), nil)
		assert.Equal(t, want, got)
		assert.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err))

		// A value marked so that it cannot come from anywhere else.
		if strings.Contains(doc, "zqx") || strings.ContainsAny(value, "\x00") {
			return
		}
		value = "zqx" + value
		_, err = ParseConfigEnv([]byte(doc), []string{names[int(which)%len(names)] + "=" + value})
		if err != nil {
			assert.NotContains(t, err.Error(), "zqx", "the value leaked")
		}
		_, err = ParseConfigEnv([]byte(doc), []string{"COURIER_SMS_REQUEST_CONFIG_URL=https://" + value + "?q"})
		if err != nil {
			assert.NotContains(t, err.Error(), "zqx", "the URL leaked")
		}
	})
}
