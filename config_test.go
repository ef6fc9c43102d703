package smscourier

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

const (
	cfgURL = "https://sms.example.com/v1/messages"
	cfgRC  = "courier.sms.request_config"
)

// cfgDoc returns a seeds-layout document, enabled, whose request_config is
// the flow mapping {rc}.
func cfgDoc(rc string) string {
	return "courier:\n  sms:\n    enabled: true\n    request_config: {" + rc + "}\n"
}

// cfgAuthDoc returns a valid document with the auth flow mapping {auth}.
func cfgAuthDoc(auth string) string {
	return cfgDoc("url: " + cfgURL + ", method: POST, auth: {" + auth + "}")
}

// cfgHeadersDoc returns a valid document with the headers flow mapping {h}.
func cfgHeadersDoc(h string) string {
	return cfgDoc("url: " + cfgURL + ", method: POST, headers: {" + h + "}")
}

// cfgChannelsDoc returns a Kratos-layout document with the given channels
// flow sequence entries.
func cfgChannelsDoc(channels string) string {
	return "courier:\n  channels: [" + channels + "]\n"
}

// cfgProblems asserts that err is a *ConfigError wrapping ErrInvalidConfig
// and returns its problems.
func cfgProblems(t *testing.T, err error) []Problem {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.NotEmpty(t, ce.Problems)
	return ce.Problems
}

func cfgPaths(ps []Problem) []string {
	paths := make([]string, len(ps))
	for i, p := range ps {
		paths[i] = p.Path
	}
	return paths
}

func cfgTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(data)
}

// cfgSeedWant is testdata/seed-sms.yml as an SMSConfig.
func cfgSeedWant() SMSConfig {
	return SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: RequestConfig{
			URL:     "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json",
			Method:  "POST",
			Body:    "file://./testdata/twilio.request.jsonnet",
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Auth: AuthConfig{
				Type:   AuthBasicAuth,
				Config: AuthParams{User: "AC123", Password: "YourPass"},
			},
		},
	}
}

// cfgKratosWant is testdata/kratos-channels.yml as an SMSConfig.
func cfgKratosWant() SMSConfig {
	return SMSConfig{
		Enabled: true,
		RequestConfig: RequestConfig{
			URL:     "https://sms.example.com/v1/messages",
			Method:  "POST",
			Body:    "file://./testdata/sms.jsonnet",
			Headers: map[string]string{"Content-Type": "application/json"},
			Auth: AuthConfig{
				Type:   AuthAPIKey,
				Config: AuthParams{Name: "X-API-Key", Value: "key-value-123", In: APIKeyInHeader},
			},
		},
	}
}

// cfgCase is a document and either the config it parses to (path empty) or
// the single problem it must be rejected with.
type cfgCase struct {
	name string
	doc  string
	want SMSConfig
	path string // path of the single expected problem
	msg  string // substring of its message
}

func runCfgCases(t *testing.T, cases []cfgCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.doc))
			if tc.path == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			ps := cfgProblems(t, err)
			assert.Zero(t, got)
			require.Len(t, ps, 1, "problems: %v", ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Message, tc.msg)
		})
	}
}

const cfgSeedJSON = `{
  "version": "v1.0.0",
  "courier": {
    "smtp": {"connection_uri": "smtps://test:test@mailslurper:1025/"},
    "sms": {
      "enabled": true,
      "from": "+12065550110",
      "request_config": {
        "url": "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json",
        "method": "POST",
        "body": "file://./testdata/twilio.request.jsonnet",
        "header": {"Content-Type": "application/x-www-form-urlencoded"},
        "auth": {"type": "basic_auth", "config": {"user": "AC123", "password": "YourPass"}}
      }
    }
  }
}`

const cfgKratosJSON = `{
  "courier": {
    "channels": [{
      "id": "sms",
      "type": "http",
      "request_config": {
        "url": "https://sms.example.com/v1/messages",
        "method": "POST",
        "body": "file://./testdata/sms.jsonnet",
        "headers": {"Content-Type": "application/json"},
        "auth": {"type": "api_key", "config": {"name": "X-API-Key", "value": "key-value-123", "in": "header"}}
      }
    }]
  }
}`

func TestParseConfigLayouts(t *testing.T) {
	withFrom := cfgKratosWant()
	withFrom.From = "Example Org"
	runCfgCases(t, []cfgCase{
		{name: "seeds layout file", doc: cfgTestdata(t, "seed-sms.yml"), want: cfgSeedWant()},
		{name: "kratos channels file", doc: cfgTestdata(t, "kratos-channels.yml"), want: cfgKratosWant()},
		{name: "seeds layout JSON", doc: cfgSeedJSON, want: cfgSeedWant()},
		{name: "kratos channels JSON", doc: cfgKratosJSON, want: cfgKratosWant()},
		{
			name: "seeds layout among unrelated keys",
			doc: `
serve: {public: {base_url: "http://127.0.0.1:4433/"}}
selfservice: {default_browser_return_url: "http://127.0.0.1:4455/"}
identity: {schemas: [{id: default, url: "file://x.json"}]}
courier:
  template_override_path: /conf/courier-templates
  templates: {verification: {valid: {sms: {body: {plaintext: "file://x"}}}}}
  smtp: {connection_uri: "smtps://test:test@mailslurper:1025/", from_address: a@b.c}
  channels: [{id: email, type: smtp}]
  sms:
    enabled: true
    from: "+12065550110"
    request_config:
      url: https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json
      method: POST
      body: file://./testdata/twilio.request.jsonnet
      headers: {Content-Type: application/x-www-form-urlencoded}
      auth: {type: basic_auth, config: {user: AC123, password: YourPass}}
`,
			want: cfgSeedWant(),
		},
		{
			name: "kratos channel among other channels and courier keys",
			doc: `
dsn: memory
courier:
  smtp: {connection_uri: "smtps://test:test@mailslurper:1025/"}
  templates: {recovery: {invalid: {email: {body: {html: "file://x"}}}}}
  channels:
    - id: email
      type: smtp
      smtp_config: {connection_uri: "smtps://a:b@c:1025/"}
    - id: whatsapp
      type: http
      request_config: {url: not-a-url, methdo: POST}
    - id: sms
      type: http
      request_config:
        url: https://sms.example.com/v1/messages
        method: POST
        body: file://./testdata/sms.jsonnet
        header: {Content-Type: application/json}
        auth: {type: api_key, config: {name: X-API-Key, value: key-value-123, in: header}}
`,
			want: cfgKratosWant(),
		},
		{
			name: "kratos channel with from",
			doc: cfgChannelsDoc(`{id: sms, type: http, from: Example Org, request_config: {url: ` + cfgURL +
				`, method: POST, body: "file://./testdata/sms.jsonnet", headers: {Content-Type: application/json},` +
				` auth: {type: api_key, config: {name: X-API-Key, value: key-value-123, in: header}}}}`),
			want: withFrom,
		},
	})
}

func TestParseConfigHeaderSpellings(t *testing.T) {
	minimal := func(h map[string]string) SMSConfig {
		return SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: cfgURL, Method: "POST", Headers: h}}
	}
	runCfgCases(t, []cfgCase{
		{
			name: "header",
			doc:  cfgDoc("url: " + cfgURL + ", method: POST, header: {X-A: a, Content-Type: text/plain}"),
			want: minimal(map[string]string{"X-A": "a", "Content-Type": "text/plain"}),
		},
		{
			name: "headers",
			doc:  cfgDoc("url: " + cfgURL + ", method: POST, headers: {X-A: a, Content-Type: text/plain}"),
			want: minimal(map[string]string{"X-A": "a", "Content-Type": "text/plain"}),
		},
		{
			name: "empty headers",
			doc:  cfgDoc("url: " + cfgURL + ", method: POST, headers: {}"),
			want: minimal(nil),
		},
		{
			name: "both in courier.sms",
			doc:  cfgDoc("url: " + cfgURL + ", method: POST, header: {X-A: a}, headers: {X-B: b}"),
			path: cfgRC,
			msg:  "both header and headers",
		},
		{
			name: "both in a channel",
			doc:  cfgChannelsDoc("{id: sms, type: http, request_config: {url: " + cfgURL + ", method: POST, header: {X-A: a}, headers: {X-A: a}}}"),
			path: "courier.channels[0].request_config",
			msg:  "both header and headers",
		},
	})
}

func TestParseConfigChannels(t *testing.T) {
	rc := "request_config: {url: " + cfgURL + ", method: POST}"
	runCfgCases(t, []cfgCase{
		{
			name: "presence means enabled",
			doc:  cfgChannelsDoc("{id: sms, type: http, " + rc + "}"),
			want: SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: cfgURL, Method: "POST"}},
		},
		{
			name: "from accepted",
			doc:  cfgChannelsDoc(`{id: sms, type: http, from: "+12065550110", ` + rc + "}"),
			want: SMSConfig{Enabled: true, From: "+12065550110", RequestConfig: RequestConfig{URL: cfgURL, Method: "POST"}},
		},
		{
			name: "type not http",
			doc:  cfgChannelsDoc("{id: sms, type: smtp, " + rc + "}"),
			path: "courier.channels[0].type",
			msg:  "must be http",
		},
		{
			name: "type missing",
			doc:  cfgChannelsDoc("{id: sms, " + rc + "}"),
			path: "courier.channels[0].type",
			msg:  "required",
		},
		{
			name: "unknown key",
			doc:  cfgChannelsDoc("{id: sms, type: http, enabled: true, " + rc + "}"),
			path: "courier.channels[0].enabled",
			msg:  "unknown key",
		},
		{
			name: "missing request_config",
			doc:  cfgChannelsDoc("{id: sms, type: http}"),
			path: "courier.channels[0].request_config",
			msg:  "required",
		},
		{
			name: "problem path uses the entry index",
			doc:  cfgChannelsDoc("{id: email, type: smtp}, {id: sms, type: http, request_config: {url: https://example.com, method: POST}}"),
			path: "courier.channels[1].request_config.url",
			msg:  "path",
		},
		{
			name: "both courier.sms and an sms channel",
			doc:  "courier:\n  sms: {enabled: true, " + rc + "}\n  channels: [{id: sms, type: http, " + rc + "}]\n",
			path: "courier",
			msg:  "both",
		},
		{
			name: "channels not a list",
			doc:  "courier:\n  channels: {id: sms}\n",
			path: "courier.channels",
			msg:  "must be a list",
		},
		{
			name: "no sms channel",
			doc:  cfgChannelsDoc("{id: email, type: smtp}"),
			path: "courier",
			msg:  "no SMS settings",
		},
	})
}

func TestParseConfigInvalid(t *testing.T) {
	auth := cfgRC + ".auth"
	ac := auth + ".config"
	runCfgCases(t, []cfgCase{
		// request_config.url and method
		{name: "missing url", doc: cfgDoc("method: POST"), path: cfgRC + ".url", msg: "required"},
		{name: "relative url", doc: cfgDoc("url: /v1/messages, method: POST"), path: cfgRC + ".url", msg: "http://"},
		{name: "ftp url", doc: cfgDoc("url: ftp://sms.example.com/v1, method: POST"), path: cfgRC + ".url", msg: "http://"},
		{name: "url without host", doc: cfgDoc("url: https:/v1/messages, method: POST"), path: cfgRC + ".url", msg: "host"},
		{name: "url without path", doc: cfgDoc("url: https://example.com, method: POST"), path: cfgRC + ".url", msg: "path"},
		{name: "url not parseable", doc: cfgDoc(`url: "https://example.com/%zz", method: POST`), path: cfgRC + ".url", msg: "not a valid URL"},
		{name: "missing method", doc: cfgDoc("url: " + cfgURL), path: cfgRC + ".method", msg: "required"},
		{name: "invalid method token", doc: cfgDoc("url: " + cfgURL + ", method: PO ST"), path: cfgRC + ".method", msg: "not a valid HTTP method"},

		// body
		{name: "unsupported body scheme", doc: cfgDoc("url: " + cfgURL + ", method: POST, body: s3://x"), path: cfgRC + ".body", msg: "unsupported scheme"},
		{name: "invalid base64 body", doc: cfgDoc("url: " + cfgURL + ", method: POST, body: base64://!!not-base64!!"), path: cfgRC + ".body", msg: "base64"},
		{name: "file body without path", doc: cfgDoc("url: " + cfgURL + ", method: POST, body: file://"), path: cfgRC + ".body", msg: "path"},
		{name: "http body without host", doc: cfgDoc("url: " + cfgURL + ", method: POST, body: http:///t.jsonnet"), path: cfgRC + ".body", msg: "URL"},

		// headers
		{name: "invalid header name", doc: cfgHeadersDoc(`"Bad Name": x`), path: cfgRC + ".headers.Bad Name", msg: "not a valid header name"},
		{name: "header value with CR LF", doc: cfgHeadersDoc(`X-Note: "a\r\nX-Injected: b"`), path: cfgRC + ".headers.X-Note", msg: "control characters"},
		{name: "header value with LF", doc: cfgHeadersDoc(`X-Note: "a\nb"`), path: cfgRC + ".headers.X-Note", msg: "control characters"},
		{name: "invalid Content-Type", doc: cfgHeadersDoc("Content-Type: not a media type"), path: cfgRC + ".headers.Content-Type", msg: "media type"},
		{name: "Content-Length header", doc: cfgHeadersDoc(`Content-Length: "5"`), path: cfgRC + ".headers.Content-Length", msg: "set by the courier"},
		{name: "Transfer-Encoding header", doc: cfgHeadersDoc("transfer-encoding: chunked"), path: cfgRC + ".headers.transfer-encoding", msg: "set by the courier"},
		{name: "headers differing only in case", doc: cfgHeadersDoc("X-Id: a, x-id: b"), path: cfgRC + ".headers.x-id", msg: "duplicates header X-Id"},
		{name: "header value not a string", doc: cfgHeadersDoc("X-Count: 5"), path: cfgRC + ".headers.X-Count", msg: "must be a string"},
		{name: "headers not a mapping", doc: cfgDoc("url: " + cfgURL + ", method: POST, headers: [a]"), path: cfgRC + ".headers", msg: "mapping"},

		// auth
		{name: "unknown auth type", doc: cfgAuthDoc("type: oauth2, config: {user: u, password: p}"), path: auth + ".type", msg: "api_key or basic_auth"},
		{name: "auth config without type", doc: cfgAuthDoc("config: {user: u, password: p}"), path: auth + ".type", msg: "required"},
		{name: "basic_auth missing user", doc: cfgAuthDoc("type: basic_auth, config: {password: p}"), path: ac + ".user", msg: "required"},
		{name: "basic_auth missing password", doc: cfgAuthDoc("type: basic_auth, config: {user: u}"), path: ac + ".password", msg: "required"},
		{name: "basic_auth user with colon", doc: cfgAuthDoc(`type: basic_auth, config: {user: "a:b", password: p}`), path: ac + ".user", msg: "colon"},
		{name: "basic_auth user with control character", doc: cfgAuthDoc(`type: basic_auth, config: {user: "a\tb", password: p}`), path: ac + ".user", msg: "control"},
		{name: "basic_auth password with control character", doc: cfgAuthDoc(`type: basic_auth, config: {user: u, password: "p\nw"}`), path: ac + ".password", msg: "control"},
		{name: "basic_auth with api_key name", doc: cfgAuthDoc("type: basic_auth, config: {user: u, password: p, name: X-Key}"), path: ac + ".name", msg: "not used by auth type basic_auth"},
		{name: "basic_auth with api_key value", doc: cfgAuthDoc("type: basic_auth, config: {user: u, password: p, value: v}"), path: ac + ".value", msg: "not used by auth type basic_auth"},
		{name: "basic_auth with api_key in", doc: cfgAuthDoc("type: basic_auth, config: {user: u, password: p, in: header}"), path: ac + ".in", msg: "not used by auth type basic_auth"},
		{name: "api_key missing name", doc: cfgAuthDoc("type: api_key, config: {value: v, in: header}"), path: ac + ".name", msg: "required"},
		{name: "api_key missing value", doc: cfgAuthDoc("type: api_key, config: {name: X-Key, in: header}"), path: ac + ".value", msg: "required"},
		{name: "api_key missing in", doc: cfgAuthDoc("type: api_key, config: {name: X-Key, value: v}"), path: ac + ".in", msg: "required"},
		{name: "api_key in query", doc: cfgAuthDoc("type: api_key, config: {name: key, value: v, in: query}"), path: ac + ".in", msg: "header or cookie"},
		{name: "api_key invalid header name", doc: cfgAuthDoc(`type: api_key, config: {name: "X Key", value: v, in: header}`), path: ac + ".name", msg: "not a valid header name"},
		{name: "api_key header value with CR LF", doc: cfgAuthDoc(`type: api_key, config: {name: X-Key, value: "v\r\nX: y", in: header}`), path: ac + ".value", msg: "control"},
		{name: "api_key invalid cookie name", doc: cfgAuthDoc(`type: api_key, config: {name: "a=b", value: v, in: cookie}`), path: ac + ".name", msg: "not a valid cookie name"},
		{name: "api_key cookie value with space", doc: cfgAuthDoc(`type: api_key, config: {name: session, value: "a b", in: cookie}`), path: ac + ".value", msg: "not a valid cookie value"},
		{name: "api_key cookie value with semicolon", doc: cfgAuthDoc(`type: api_key, config: {name: session, value: "a;b", in: cookie}`), path: ac + ".value", msg: "not a valid cookie value"},
		{name: "api_key with basic_auth user", doc: cfgAuthDoc("type: api_key, config: {name: X-Key, value: v, in: header, user: u}"), path: ac + ".user", msg: "not used by auth type api_key"},
		{name: "api_key with basic_auth password", doc: cfgAuthDoc("type: api_key, config: {name: X-Key, value: v, in: header, password: p}"), path: ac + ".password", msg: "not used by auth type api_key"},
		{name: "auth not a mapping", doc: cfgDoc("url: " + cfgURL + ", method: POST, auth: basic_auth"), path: auth, msg: "mapping"},

		// unknown keys
		{name: "unknown key in sms", doc: "courier:\n  sms: {enabeld: true, request_config: {url: " + cfgURL + ", method: POST}}\n", path: "courier.sms.enabeld", msg: "unknown key"},
		{name: "unknown key in request_config", doc: cfgDoc("url: " + cfgURL + ", method: POST, methdo: POST"), path: cfgRC + ".methdo", msg: "unknown key"},
		{name: "unknown key in auth", doc: cfgAuthDoc("type: basic_auth, kind: x, config: {user: u, password: p}"), path: auth + ".kind", msg: "unknown key"},
		{name: "unknown key in auth config", doc: cfgAuthDoc("type: basic_auth, config: {username: u, user: u, password: p}"), path: ac + ".username", msg: "unknown key"},

		// scalar types
		{name: "from unquoted number", doc: "courier:\n  sms:\n    from: +12065550110\n", path: "courier.sms.from", msg: "must be a string"},
		{name: "from with control character", doc: "courier:\n  sms:\n    from: \"a\\nb\"\n", path: "courier.sms.from", msg: "control"},
		{name: "url not a string", doc: cfgDoc("url: [a], method: POST"), path: cfgRC + ".url", msg: "must be a string"},
		{name: "password a number", doc: cfgAuthDoc("type: basic_auth, config: {user: u, password: 1234}"), path: ac + ".password", msg: "must be a string"},
		{name: "enabled a string", doc: "courier:\n  sms:\n    enabled: \"true\"\n", path: "courier.sms.enabled", msg: "true or false"},
		{name: "enabled a number", doc: "courier:\n  sms:\n    enabled: 1\n", path: "courier.sms.enabled", msg: "true or false"},
		{name: "request_config not a mapping", doc: "courier:\n  sms:\n    enabled: true\n    request_config: " + cfgURL + "\n", path: cfgRC, msg: "mapping"},

		// document shape
		{name: "document not YAML", doc: "courier: [\n", path: "document", msg: "not valid YAML"},
		{name: "document with a tab indent", doc: "courier:\n\tsms: {}\n", path: "document", msg: "not valid YAML"},
		{name: "document a list", doc: "- courier\n- sms\n", path: "document", msg: "must be a mapping"},
		{name: "document a scalar", doc: "courier", path: "document", msg: "must be a mapping"},
		{name: "empty document", doc: "", path: "document", msg: "must be a mapping"},
		{name: "no courier key", doc: "serve: {public: {port: 4433}}\n", path: "courier", msg: "not found"},
		{name: "courier not a mapping", doc: "courier: sms\n", path: "courier", msg: "must be a mapping"},
		{name: "courier without sms or channels", doc: "courier:\n  smtp: {connection_uri: \"smtps://a:b@c:1025/\"}\n", path: "courier", msg: "no SMS settings"},
		{name: "sms not a mapping", doc: "courier:\n  sms: [a]\n", path: "courier.sms", msg: "mapping"},
	})
}

// A problem in the seeds' `header` block must name `header`, the key that is
// in the document, as decoding problems in the same block do.
func TestParseConfigHeaderProblemPathFollowsDocument(t *testing.T) {
	seeds := func(h string) string { return cfgDoc("url: " + cfgURL + ", method: POST, header: {" + h + "}") }
	for _, tc := range []struct{ name, doc, path string }{
		{"value not a string", seeds("X-Count: 5"), cfgRC + ".header.X-Count"},
		{"invalid name", seeds(`"Bad Name": x`), cfgRC + ".header.Bad Name"},
		{"invalid value", seeds(`X-Note: "a\r\nb"`), cfgRC + ".header.X-Note"},
		{"duplicate", seeds("X-Id: a, x-id: b"), cfgRC + ".header.x-id"},
		{
			"channel invalid name",
			cfgChannelsDoc("{id: sms, type: http, request_config: {url: " + cfgURL + `, method: POST, header: {"Bad Name": x}}}`),
			"courier.channels[0].request_config.header.Bad Name",
		},
		{
			"channel headers invalid name",
			cfgChannelsDoc("{id: sms, type: http, request_config: {url: " + cfgURL + `, method: POST, headers: {"Bad Name": x}}}`),
			"courier.channels[0].request_config.headers.Bad Name",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc))
			assert.Equal(t, []string{tc.path}, cfgPaths(cfgProblems(t, err)))
		})
	}
}

func TestParseConfigReportsAllProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		paths []string
	}{
		{
			name:  "three invalid values",
			doc:   cfgDoc("url: https://example.com, method: PO ST, auth: {type: basic_auth, config: {user: u}}"),
			paths: []string{cfgRC + ".url", cfgRC + ".method", cfgRC + ".auth.config.password"},
		},
		{
			name:  "three malformed keys",
			doc:   "courier:\n  sms:\n    enabeld: true\n    from: +12065550110\n    request_config: {url: " + cfgURL + ", method: POST, retries: 3}\n",
			paths: []string{"courier.sms.enabeld", "courier.sms.from", cfgRC + ".retries"},
		},
		{
			name:  "a typo and two invalid values",
			doc:   "courier:\n  sms:\n    enabeld: true\n    request_config: {url: /v1/messages, method: POST, auth: {type: basic_auth, config: {user: u}}}\n",
			paths: []string{"courier.sms.enabeld", cfgRC + ".url", cfgRC + ".auth.config.password"},
		},
		{
			name:  "both header spellings and two invalid values",
			doc:   cfgDoc("url: /v1/messages, method: POST, header: {X-A: a}, headers: {X-B: b}, auth: {type: basic_auth, config: {user: u}}"),
			paths: []string{cfgRC, cfgRC + ".url", cfgRC + ".auth.config.password"},
		},
		{
			name: "every api_key property missing",
			doc:  cfgAuthDoc("type: api_key"),
			paths: []string{
				cfgRC + ".auth.config.name", cfgRC + ".auth.config.value", cfgRC + ".auth.config.in",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc))
			assert.ElementsMatch(t, tc.paths, cfgPaths(cfgProblems(t, err)))
		})
	}
}

func TestParseConfigDisabled(t *testing.T) {
	runCfgCases(t, []cfgCase{
		{name: "enabled false without request_config", doc: "courier:\n  sms:\n    enabled: false\n", want: SMSConfig{}},
		{name: "enabled absent", doc: "courier:\n  sms:\n    from: Example\n", want: SMSConfig{From: "Example"}},
		{name: "empty sms block", doc: "courier:\n  sms: {}\n", want: SMSConfig{}},
		{
			name: "enabled false with valid request_config",
			doc:  "courier:\n  sms:\n    enabled: false\n    request_config: {url: " + cfgURL + ", method: PUT}\n",
			want: SMSConfig{RequestConfig: RequestConfig{URL: cfgURL, Method: "PUT"}},
		},
		{
			name: "enabled false with invalid request_config",
			doc:  "courier:\n  sms:\n    enabled: false\n    request_config: {url: /v1/messages, method: POST}\n",
			path: cfgRC + ".url",
			msg:  "http://",
		},
	})
}

func TestConfigNewValidates(t *testing.T) {
	valid := RequestConfig{URL: cfgURL, Method: "POST"}
	for _, tc := range []struct {
		name  string
		cfg   SMSConfig
		paths []string
	}{
		{
			name:  "enabled with empty request_config",
			cfg:   SMSConfig{Enabled: true},
			paths: []string{cfgRC + ".url", cfgRC + ".method"},
		},
		{
			name:  "relative url",
			cfg:   SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: "/v1", Method: "POST"}},
			paths: []string{cfgRC + ".url"},
		},
		{
			name:  "invalid method",
			cfg:   SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: cfgURL, Method: "PO ST"}},
			paths: []string{cfgRC + ".method"},
		},
		{
			name: "invalid body and header",
			cfg: SMSConfig{Enabled: true, RequestConfig: RequestConfig{
				URL: cfgURL, Method: "POST", Body: "s3://x", Headers: map[string]string{"X-A": "a\nb"},
			}},
			paths: []string{cfgRC + ".body", cfgRC + ".headers.X-A"},
		},
		{
			name: "basic_auth without password",
			cfg: SMSConfig{Enabled: true, RequestConfig: RequestConfig{
				URL: cfgURL, Method: "POST", Auth: AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "u"}},
			}},
			paths: []string{cfgRC + ".auth.config.password"},
		},
		{
			name: "api_key with a password",
			cfg: SMSConfig{Enabled: true, RequestConfig: RequestConfig{
				URL: cfgURL, Method: "POST",
				Auth: AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Key", Value: "v", In: APIKeyInCookie, Password: "p"}},
			}},
			paths: []string{cfgRC + ".auth.config.password"},
		},
		{
			name:  "from with control character",
			cfg:   SMSConfig{Enabled: true, From: "a\x00b", RequestConfig: valid},
			paths: []string{"courier.sms.from"},
		},
		{
			name:  "disabled with incomplete request_config",
			cfg:   SMSConfig{RequestConfig: RequestConfig{URL: cfgURL}},
			paths: []string{cfgRC + ".method"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			assert.Nil(t, c)
			assert.ElementsMatch(t, tc.paths, cfgPaths(cfgProblems(t, err)))
		})
	}
}

func TestConfigNewAcceptsParsedTestdata(t *testing.T) {
	for _, name := range []string{"seed-sms.yml", "kratos-channels.yml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join("testdata", name))
			require.NoError(t, err)
			c, err := New(cfg)
			require.NoError(t, err)
			require.NotNil(t, c)
		})
	}
}

func TestConfigNewDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  SMSConfig
	}{
		{name: "zero config", cfg: SMSConfig{}},
		{
			// The template of a disabled courier is not loaded.
			name: "valid request_config with missing template",
			cfg: SMSConfig{From: "x", RequestConfig: RequestConfig{
				URL: cfgURL, Method: "POST", Body: "file://./testdata/cfg-missing.jsonnet",
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			require.NoError(t, err)
			require.NotNil(t, c)
			ctx := context.Background()
			m := Message{To: "+14134242223", Body: "hello"}

			require.ErrorIs(t, c.Send(ctx, m.To, m.Body), ErrDisabled)
			res, err := c.SendMessage(ctx, m)
			require.ErrorIs(t, err, ErrDisabled)
			assert.Zero(t, res)
			req, err := c.Render(ctx, m)
			require.ErrorIs(t, err, ErrDisabled)
			assert.Nil(t, req)
		})
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	seed := write("seed.yml", cfgTestdata(t, "seed-sms.yml"))
	kratos := write("kratos.json", cfgKratosJSON)
	invalid := write("invalid.yml", cfgDoc("url: /v1, method: POST"))

	t.Run("seeds layout", func(t *testing.T) {
		cfg, err := LoadConfig(seed)
		require.NoError(t, err)
		require.Equal(t, cfgSeedWant(), cfg)
	})
	t.Run("kratos layout JSON", func(t *testing.T) {
		cfg, err := LoadConfig(kratos)
		require.NoError(t, err)
		require.Equal(t, cfgKratosWant(), cfg)
	})
	t.Run("invalid document", func(t *testing.T) {
		_, err := LoadConfig(invalid)
		assert.Equal(t, []string{cfgRC + ".url"}, cfgPaths(cfgProblems(t, err)))
	})
	for _, tc := range []struct {
		name   string
		path   string
		target error
	}{
		{name: "missing file", path: filepath.Join(dir, "missing.yml"), target: fs.ErrNotExist},
		{name: "missing directory", path: filepath.Join(dir, "nodir", "c.yml"), target: fs.ErrNotExist},
		{name: "directory", path: dir, target: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(tc.path)
			require.Error(t, err)
			assert.Zero(t, cfg)
			assert.NotErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			assert.NotErrorAs(t, err, &ce)
			if tc.target != nil {
				assert.ErrorIs(t, err, tc.target)
			}
		})
	}
}

func TestConfigSecretsNotShown(t *testing.T) {
	const (
		password = "pa55word-basic"
		apiKey   = "key-value-secret"
	)
	basic := SMSConfig{Enabled: true, RequestConfig: RequestConfig{
		URL: cfgURL, Method: "POST",
		Auth: AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "u", Password: password}},
	}}
	key := SMSConfig{Enabled: true, RequestConfig: RequestConfig{
		URL: cfgURL, Method: "POST",
		Auth: AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Key", Value: apiKey, In: APIKeyInHeader}},
	}}
	notShown := func(t *testing.T, s string, secrets ...string) {
		t.Helper()
		for _, secret := range secrets {
			assert.NotContains(t, s, secret)
			assert.NotContains(t, s, hex.EncodeToString([]byte(secret)))
		}
	}

	t.Run("fmt", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			cfg    SMSConfig
			secret string
		}{
			{"basic_auth", basic, password},
			{"api_key", key, apiKey},
		} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
				t.Run(tc.name+" "+verb, func(t *testing.T) {
					for _, v := range []any{tc.cfg, &tc.cfg, tc.cfg.RequestConfig, tc.cfg.RequestConfig.Auth, tc.cfg.RequestConfig.Auth.Config} {
						notShown(t, fmt.Sprintf(verb, v), tc.secret)
					}
				})
			}
			t.Run(tc.name+" redacted, not dropped", func(t *testing.T) {
				assert.Contains(t, fmt.Sprintf("%+v", tc.cfg), "[REDACTED]")
			})
		}
	})

	t.Run("json", func(t *testing.T) {
		for _, v := range []any{basic, &key, basic.RequestConfig.Auth, key.RequestConfig.Auth.Config} {
			data, err := json.Marshal(v)
			require.NoError(t, err)
			notShown(t, string(data), password, apiKey)
			assert.Contains(t, string(data), `"[REDACTED]"`)
		}
	})

	t.Run("ParseConfig errors", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			doc     string
			secrets []string
		}{
			{
				name:    "password with invalid url",
				doc:     cfgDoc("url: /v1, method: POST, auth: {type: basic_auth, config: {user: u, password: " + password + "}}"),
				secrets: []string{password},
			},
			{
				name:    "api_key with url without path",
				doc:     cfgDoc("url: https://example.com, method: POST, auth: {type: api_key, config: {name: X-Key, value: " + apiKey + ", in: header}}"),
				secrets: []string{apiKey},
			},
			{
				name:    "password with control character",
				doc:     cfgAuthDoc(`type: basic_auth, config: {user: u, password: "` + password + `\n"}`),
				secrets: []string{password},
			},
			{
				name:    "api_key header value with CR LF",
				doc:     cfgAuthDoc(`type: api_key, config: {name: X-Key, value: "` + apiKey + `\r\n", in: header}`),
				secrets: []string{apiKey},
			},
			{
				name:    "api_key invalid cookie value",
				doc:     cfgAuthDoc(`type: api_key, config: {name: session, value: "` + apiKey + `; x", in: cookie}`),
				secrets: []string{apiKey},
			},
			{
				name:    "api_key value under basic_auth",
				doc:     cfgAuthDoc("type: basic_auth, config: {user: u, password: " + password + ", value: " + apiKey + "}"),
				secrets: []string{password, apiKey},
			},
			{
				name:    "password under api_key",
				doc:     cfgAuthDoc("type: api_key, config: {name: X-Key, value: " + apiKey + ", in: query, password: " + password + "}"),
				secrets: []string{password, apiKey},
			},
			{
				name:    "password with an explicit YAML tag",
				doc:     cfgAuthDoc("type: basic_auth, config: {user: u, password: !!int " + password + "}"),
				secrets: []string{password},
			},
			{
				name:    "url userinfo without path",
				doc:     cfgDoc("url: https://user:pa55word@sms.example.com, method: POST"),
				secrets: []string{"pa55word", "user:"},
			},
			{
				name:    "url userinfo with ftp scheme",
				doc:     cfgDoc("url: ftp://user:pa55word@sms.example.com/v1, method: POST"),
				secrets: []string{"pa55word", "user:"},
			},
			{
				name:    "url userinfo without scheme",
				doc:     cfgDoc("url: //user:pa55word@sms.example.com/v1, method: POST"),
				secrets: []string{"pa55word", "user:"},
			},
			{
				name:    "url userinfo not parseable",
				doc:     cfgDoc(`url: "https://user:pa55word@sms.example.com/%zz", method: POST`),
				secrets: []string{"pa55word", "user:"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := ParseConfig([]byte(tc.doc))
				cfgProblems(t, err)
				notShown(t, err.Error(), tc.secrets...)
			})
		}
	})

	t.Run("New errors", func(t *testing.T) {
		badURL := basic
		badURL.RequestConfig.URL = "https://example.com"
		badKey := key
		badKey.RequestConfig.URL = "ftp://x/y"
		badKey.RequestConfig.Auth.Config.Value = apiKey + "\n"
		userinfo := SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: "https://user:pa55word@sms.example.com", Method: "POST"}}
		for _, tc := range []struct {
			name    string
			cfg     SMSConfig
			secrets []string
		}{
			{"password with url without path", badURL, []string{password}},
			{"api_key invalid value with ftp url", badKey, []string{apiKey}},
			{"url userinfo without path", userinfo, []string{"pa55word", "user:"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := New(tc.cfg)
				cfgProblems(t, err)
				notShown(t, err.Error(), tc.secrets...)
			})
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"seed-sms.yml", "kratos-channels.yml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(data)
	}
	for _, doc := range []string{
		cfgSeedJSON,
		cfgKratosJSON,
		cfgDoc("url: " + cfgURL + ", method: POST, body: base64://ZnVuY3Rpb24oY3R4KSB7fQ=="),
		cfgAuthDoc("type: api_key, config: {name: session, value: v, in: cookie}"),
		cfgHeadersDoc("X-A: a, x-a: b"),
		"courier:\n  sms:\n    enabled: false\n",
		"courier: {channels: [{id: sms, type: http, request_config: {url: " + cfgURL + ", method: GET}}]}",
		"- a\n",
		"{",
		"",
		`{"courier":{"sms":{"enabled":true,"enabled":false}}}`,
		"courier:\n  sms:\n    enabled: false\n    enabled: true\n",
		"base: &b {k: 1}\ncourier:\n  sms:\n    <<: *b\n    enabled: false\n",
		"courier:\n  sms: {enabled: false}\n---\nserve: {}\n",
		"---\ncourier:\n  sms: {enabled: false}\n...\n",
		"courier:\n  sms:\n    enabled: true\n   from: x\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err == nil {
			// A second copy of an accepted document is never ignored.
			_, err := ParseConfig(slices.Concat(data, []byte("\n---\n"), data))
			require.ErrorIs(t, err, ErrInvalidConfig)
		}
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			require.NotEmpty(t, ce.Problems)
			for _, p := range ce.Problems {
				require.NotEmpty(t, p.Path)
				require.NotEmpty(t, p.Message)
			}
			return
		}
		require.Empty(t, cfg.check("courier.sms").list)
		cfg.RequestConfig.Body = "" // New would load the template
		c, err := New(cfg)
		require.NoError(t, err)
		require.NotNil(t, c)
	})
}

// TestProblemsNeverQuoteValues: a Problem names the key path and the rule,
// never the configured value, which may be a secret or come from the
// environment.
func TestProblemsNeverQuoteValues(t *testing.T) {
	const v = "zqvalue"
	cases := []struct {
		name string
		doc  string
		path string
	}{
		{"channel type", "courier:\n  channels:\n    - id: sms\n      type: " + v + "\n      request_config: {url: 'https://h.example/p', method: POST}\n", "courier.channels[0].type"},
		{"method", "courier:\n  sms:\n    enabled: true\n    request_config: {url: 'https://h.example/p', method: 'P " + v + "'}\n", "courier.sms.request_config.method"},
		{"url without a path", "courier:\n  sms:\n    enabled: true\n    request_config: {url: 'https://" + v + ".example', method: POST}\n", "courier.sms.request_config.url"},
		{"body scheme", "courier:\n  sms:\n    enabled: true\n    request_config: {url: 'https://h.example/p', method: POST, body: '" + v + "://x'}\n", "courier.sms.request_config.body"},
		{"content type", "courier:\n  sms:\n    enabled: true\n    request_config: {url: 'https://h.example/p', method: POST, headers: {Content-Type: '" + v + "/a/b'}}\n", "courier.sms.request_config.headers.Content-Type"},
		{"auth type", "courier:\n  sms:\n    enabled: true\n    request_config: {url: 'https://h.example/p', method: POST, auth: {type: " + v + ", config: {user: u}}}\n", "courier.sms.request_config.auth.type"},
		{"api key in", "courier:\n  sms:\n    enabled: true\n    request_config: {url: 'https://h.example/p', method: POST, auth: {type: api_key, config: {name: k, value: s, in: " + v + "}}}\n", "courier.sms.request_config.auth.config.in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc))
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			var found bool
			for _, p := range ce.Problems {
				found = found || p.Path == tc.path
				assert.NotContains(t, p.Message, v, p.Path)
			}
			assert.True(t, found, "a problem at %s in %v", tc.path, ce.Problems)
			assert.NotContains(t, err.Error(), v)
		})
	}
}

// TestConfigKeysCoverEveryField: every field of SMSConfig, by its JSON key
// path, has exactly one entry in configKeys, and every entry sets a field
// (but the channel layout's id and type), so a new field cannot be left out
// of decoding, environment overrides or Redacted.
func TestConfigKeysCoverEveryField(t *testing.T) {
	var fields []string
	var walk func(t reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			path := prefix + name
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, path+".")
				continue
			}
			fields = append(fields, path)
		}
	}
	walk(reflect.TypeFor[SMSConfig](), "")

	var keys []string
	for _, k := range configKeys {
		if k.path == "id" || k.path == "type" {
			assert.Equal(t, channelBlock, k.layout, k.path)
			continue
		}
		keys = append(keys, k.path)
		var cfg SMSConfig
		switch k.kind {
		case kindBool:
			*k.flag(&cfg) = true
		case kindSecret:
			*k.secret(&cfg) = "x"
		case kindHeaders:
			*k.headers(&cfg) = map[string]string{"a": "b"}
		default:
			*k.str(&cfg) = "x"
		}
		assert.False(t, reflect.ValueOf(cfg).IsZero(), "%s sets a field", k.path)
	}
	slices.Sort(fields)
	slices.Sort(keys)
	require.Equal(t, fields, keys)
}

// docProblems parses doc with every entry point that reads a document
// (ParseConfig, LoadConfig, ParseConfigEnv with and without an override)
// and returns the problems ParseConfig reports, after checking that the
// others report the same ones.
func docProblems(t *testing.T, doc string) []Problem {
	t.Helper()
	cfg, err := ParseConfig([]byte(doc))
	assert.Zero(t, cfg)
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.True(t, errors.As(err, &ce), "want a *ConfigError, got %T", err)
	require.NotEmpty(t, ce.Problems)

	path := filepath.Join(t.TempDir(), "kratos.yml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	_, loadErr := LoadConfig(path)
	_, envErr := ParseConfigEnv([]byte(doc), nil)
	_, overrideErr := ParseConfigEnv([]byte(doc), []string{"COURIER_SMS_FROM=+4915112345678"})
	for name, other := range map[string]error{"LoadConfig": loadErr, "ParseConfigEnv": envErr, "ParseConfigEnv with an override": overrideErr} {
		assert.Equal(t, cfgPaths(ce.Problems), cfgPaths(cfgProblems(t, other)), name)
	}
	return ce.Problems
}

func TestParseConfigDuplicateKeys(t *testing.T) {
	seedYAML := cfgTestdata(t, "seed-sms.yml")
	kratosYAML := cfgTestdata(t, "kratos-channels.yml")
	// insert returns doc with line added after the line that contains after.
	insert := func(doc, after, line string) string {
		i := strings.Index(doc, after)
		require.GreaterOrEqual(t, i, 0, "%q not in the document", after)
		end := i + strings.IndexByte(doc[i:], '\n') + 1
		return doc[:end] + line + "\n" + doc[end:]
	}
	// repeat returns doc with the JSON member that starts with member
	// written twice, the second time with value.
	repeat := func(doc, member, value string) string {
		require.Contains(t, doc, member)
		key, _, _ := strings.Cut(member, ":")
		return strings.Replace(doc, member, key+": "+value+", "+member, 1)
	}
	const secret = "zq7-secret"
	cases := []struct {
		name string
		doc  string
		path string
	}{
		// YAML, the seeds' layout
		{"url", insert(seedYAML, "url:", "      url: https://"+secret+".example.com/v1"), "courier.sms.request_config.url"},
		{"enabled", insert(seedYAML, "enabled:", "    enabled: false"), "courier.sms.enabled"},
		{"password", insert(seedYAML, "password:", "          password: "+secret), "courier.sms.request_config.auth.config.password"},
		{"same header twice", insert(seedYAML, `"Content-Type"`, `        "Content-Type": "text/`+secret+`"`), "courier.sms.request_config.header.Content-Type"},
		{"request_config", seedYAML + "    request_config: {url: " + cfgURL + ", method: POST}\n", "courier.sms.request_config"},
		{"flow mapping", cfgDoc("url: " + cfgURL + ", method: POST, url: https://" + secret + ".example.com/v1"), cfgRC + ".url"},
		{"sms", strings.Replace(cfgDoc("url: "+cfgURL+", method: POST"), "courier:\n", "courier:\n  sms: {enabled: false}\n", 1), "courier.sms"},
		{"courier", seedYAML + "courier: {}\n", "courier"},
		{"top-level key outside courier", insert(seedYAML, "version:", "version: "+secret), "version"},
		{"nested key outside courier", insert(seedYAML, "connection_uri:", "    connection_uri: smtps://"+secret+"@mail:1025/"), "courier.smtp.connection_uri"},

		// YAML, the Kratos layout
		{"channel method", insert(kratosYAML, "method:", "        method: GET"), "courier.channels[0].request_config.method"},
		{"channel id", insert(kratosYAML, "- id: sms", "      id: email"), "courier.channels[0].id"},
		{"channel api key value", insert(kratosYAML, "value:", "            value: "+secret), "courier.channels[0].request_config.auth.config.value"},
		{"second channel", strings.Replace(kratosYAML, "  channels:\n", "  channels:\n    - {id: email, type: smtp, type: http}\n", 1), "courier.channels[0].type"},
		{"channels", kratosYAML + "  channels: []\n", "courier.channels"},

		// JSON
		{"JSON enabled", `{"courier":{"sms":{"enabled":true,"enabled":false}}}`, "courier.sms.enabled"},
		{"JSON url", repeat(cfgSeedJSON, `"url":`, `"https://`+secret+`.example.com/v1"`), "courier.sms.request_config.url"},
		{"JSON password", repeat(cfgSeedJSON, `"password":`, `"`+secret+`"`), "courier.sms.request_config.auth.config.password"},
		{"JSON top-level key", repeat(cfgSeedJSON, `"version":`, `"`+secret+`"`), "version"},
		{"JSON channel url", repeat(cfgKratosJSON, `"url":`, `"https://`+secret+`.example.com/v1"`), "courier.channels[0].request_config.url"},
		{"JSON channel id", repeat(cfgKratosJSON, `"id":`, `"email"`), "courier.channels[0].id"},
		{"JSON method", repeat(cfgSeedJSON, `"method":`, `"GET"`), "courier.sms.request_config.method"},
		{"JSON key spelled with a unicode escape", strings.Replace(cfgSeedJSON, `"method": "POST"`, `"method": "POST", "\u006dethod": "GET"`, 1), "courier.sms.request_config.method"},

		// keys equal once converted to JSON, as sigs.k8s.io/yaml converts them
		{"yes and true", insert(seedYAML, "dsn:", "yes: 1\ntrue: 2"), "true"},
		{"integer and string", insert(seedYAML, "dsn:", "1: a\n\"1\": b"), "1"},
		// an empty key is written "" in a path
		{"empty key", insert(seedYAML, "dsn:", "\"\": 1\n\"\": 2"), `""`},
		{"empty keys below an empty key", insert(seedYAML, "dsn:", "\"\": {\"\": 1, \"\": 2}"), `"".""`},
		// a duplicate in an anchored mapping is reported where it is written
		// and where an alias repeats it
		{"in an anchored mapping", insert(seedYAML, "dsn:", "base: &b {k: 1, k: 2}"), "base.k"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := docProblems(t, tc.doc)
			require.Equal(t, []Problem{{Path: tc.path, Message: "duplicate key"}}, ps)
			_, err := ParseConfig([]byte(tc.doc))
			assert.Contains(t, err.Error(), tc.path+": duplicate key")
			assert.NotContains(t, err.Error(), "zq7", "a value leaked")
		})
	}

	t.Run("every duplicate is reported, once", func(t *testing.T) {
		doc := insert(insert(insert(seedYAML, "method:", "      method: GET\n      method: PUT"), "dsn:", "dsn: file"), "user:", "          user: other")
		assert.Equal(t, []Problem{
			{Path: "dsn", Message: "duplicate key"},
			{Path: "courier.sms.request_config.method", Message: "duplicate key"},
			{Path: "courier.sms.request_config.auth.config.user", Message: "duplicate key"},
		}, docProblems(t, doc))
	})
	t.Run("an alias repeats a duplicate", func(t *testing.T) {
		doc := insert(seedYAML, "dsn:", "base: &b {k: 1, k: 2}\ncopy: *b")
		assert.Equal(t, []string{"base.k", "copy.k"}, cfgPaths(docProblems(t, doc)))
	})
}

// Keys that are not duplicates: a key given again below another key, the
// same key in two list entries, and a key given both by a merge (<<) and
// explicitly, which YAML defines as an override.
func TestParseConfigNotDuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want SMSConfig
	}{
		{"same key at two levels", "type: x\ncourier:\n  sms:\n    enabled: false\n    request_config: {auth: {type: basic_auth, config: {user: u, password: p}}, url: " + cfgURL + ", method: POST}\n", SMSConfig{RequestConfig: RequestConfig{URL: cfgURL, Method: "POST", Auth: AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "u", Password: "p"}}}}},
		{"same key in two list entries", "courier:\n  channels:\n    - {id: email, type: smtp}\n    - {id: sms, type: http, request_config: {url: " + cfgURL + ", method: POST}}\n", SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: cfgURL, Method: "POST"}}},
		{"merge overridden", "base: &b {url: " + cfgURL + ", method: GET}\ncourier:\n  sms:\n    enabled: true\n    request_config:\n      <<: *b\n      method: POST\n", SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: cfgURL, Method: "POST"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.doc))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseConfigDocuments(t *testing.T) {
	seedYAML := cfgTestdata(t, "seed-sms.yml")
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct{ name, doc string }{
			{"two configs", seedYAML + "---\n" + seedYAML},
			{"a second mapping", seedYAML + "---\nserve: {public: {port: 4433}}\n"},
			{"after an explicit end", seedYAML + "...\n---\nserve: {}\n"},
			{"an empty first document", "---\n---\n" + seedYAML},
			{"a scalar second document", seedYAML + "--- text\n"},
			{"an empty string second document", seedYAML + "--- \"\"\n"},
			{"a third document", seedYAML + "---\n---\nserve: {}\n"},
			{"JSON documents", cfgKratosJSON + "\n---\n" + cfgKratosJSON},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ps := docProblems(t, tc.doc)
				require.Equal(t, []Problem{{Path: "document", Message: "more than one YAML document (separated by ---): keep one"}}, ps)
			})
		}
	})
	t.Run("refused with the first document's duplicates", func(t *testing.T) {
		doc := strings.Replace(seedYAML, "dsn: memory\n", "dsn: memory\ndsn: file\n", 1) + "---\nserve: {}\n"
		assert.Equal(t, []string{"dsn", "document"}, cfgPaths(docProblems(t, doc)))
	})
	t.Run("accepted", func(t *testing.T) {
		for _, tc := range []struct{ name, doc string }{
			{"leading ---", "---\n" + seedYAML},
			{"leading --- after a comment", "# Kratos\n--- # config\n" + seedYAML},
			{"trailing ...", seedYAML + "...\n"},
			{"trailing ---", seedYAML + "---\n"},
			{"trailing --- and a comment", seedYAML + "--- \n# end\n"},
			{"trailing ... and ---", seedYAML + "...\n---\n"},
			{"trailing --- with an explicit null", seedYAML + "--- ~\n"},
			{"both markers", "---\n" + seedYAML + "...\n"},
			{"a %YAML directive", "%YAML 1.1\n---\n" + seedYAML},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg, err := ParseConfig([]byte(tc.doc))
				require.NoError(t, err)
				assert.Equal(t, cfgSeedWant(), cfg)
				cfg, err = ParseConfigEnv([]byte(tc.doc), []string{"COURIER_SMS_FROM=+4915112345678"})
				require.NoError(t, err)
				assert.Equal(t, "+4915112345678", cfg.From)
			})
		}
	})
}

// A syntax error names the line of the fault, and the parser's fixed
// description of it, never a value from the document.
func TestParseConfigSyntaxErrorLine(t *testing.T) {
	const secret = "zq7-secret"
	for _, tc := range []struct {
		name string
		doc  string
		want string // the problem's message
	}{
		{"key indented less than its siblings", "courier:\n  sms:\n    enabled: true\n   from: " + secret + "\n", "line 4: did not find expected key"},
		{"key indented more than its siblings", "courier:\n  sms:\n    enabled: true\n      from: " + secret + "\n", "line 4: mapping values are not allowed in this context"},
		{"list item among keys", "courier:\n  sms:\n    enabled: true\n    - " + secret + "\n", "line 4: did not find expected key"},
		{"tab indent", "courier:\n  sms:\n\tenabled: true\n", "line 3: found character that cannot start any token"},
		{"second colon in a plain value", "courier:\n  sms:\n    from: " + secret + ": b\n", "line 3: mapping values are not allowed in this context"},
		{"unclosed flow sequence", "courier: [\n", "line 1: did not find expected node content"},
		{"unclosed flow mapping on the last line", "courier:\n  sms: {from: " + secret + "\n", "line 2: did not find expected ',' or '}'"},
		{"unclosed quote on the last line", "courier:\n  sms:\n    from: \"" + secret + "\n", "line 3: found unexpected end of stream"},
		{"content after ...", "courier: {}\n...\nserve: {}\n", "line 3: did not find expected <document start>"},
		{"error in the second document", "courier: {}\n---\nserve:\n  a: 1\n b: 2\n", "line 5: did not find expected key"},
		{"error on the first line", "@" + secret + ": x\n", "line 1: found character that cannot start any token"},
		{"parser error on the first line", "]\ncourier: {}\n", "line 1: did not find expected node content"},
		{"CRLF line ends", "courier:\r\n  sms:\r\n    enabled: true\r\n   from: x\r\n", "line 4: did not find expected key"},
		{"CR line ends", "courier:\r  sms:\r    enabled: true\r   from: x\r", "line 4: did not find expected key"},
		{"JSON missing comma", "{\n  \"courier\": {\n    \"sms\": {\n      \"enabled\": true\n      \"from\": \"" + secret + "\"\n    }\n  }\n}\n", "line 5: did not find expected ',' or '}'"},
		{"JSON missing comma on one line", `{"courier": {"sms": {"enabled": true "from": "` + secret + `"}}}`, "line 1: did not find expected ',' or '}'"},
		{"JSON missing brace", "{\n  \"courier\": {\n    \"sms\": {\"enabled\": true}\n  }\n", "line 4: did not find expected ',' or '}'"},
		{"JSON documents without a separator", cfgKratosJSON + "\n" + cfgKratosJSON, fmt.Sprintf("line %d: did not find expected <document start>", strings.Count(cfgKratosJSON, "\n")+2)},
		// not a syntax error: no line, and the anchor's name is left out
		{"unknown anchor", "courier:\n  sms: *" + secret + "\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := "not valid YAML or JSON"
			if tc.want != "" {
				want += ": " + tc.want
			}
			ps := docProblems(t, tc.doc)
			require.Equal(t, []Problem{{Path: "document", Message: want}}, ps)
			_, err := ParseConfig([]byte(tc.doc))
			assert.NotContains(t, err.Error(), "zq7", "a value leaked")
		})
	}
}

// FuzzDecodeRawKeepsYAMLToJSON checks that the strict decoding changes
// nothing but what it refuses: a document it accepts decodes as
// sigs.k8s.io/yaml's YAMLToJSON alone decodes it, one YAMLToJSON refuses is
// refused, and what only the strict decoding refuses has a duplicate key or
// a second document (which YAMLToJSON never reads).
func FuzzDecodeRawKeepsYAMLToJSON(f *testing.F) {
	for _, doc := range []string{
		cfgSeedJSON, cfgKratosJSON,
		"on: yes\nn: [0x1F, 0o17, 017, 1_000, 1e3, .inf, ~, null, 'yes']\n",
		"a: &a {k: v}\nb: *a\nc: {<<: *a, k: w}\n",
		"1: a\n1.5: b\ntrue: c\n? [x]\n: d\n",
		"a: 1\na: 2\n",
		"a: 1\n---\nb: 2\n",
		"a: 1\n---\nb: [\n",
		"a: !!int x\n",
		"\ufeffa: 1\n",
		"\xff\xfea\x00:\x00 \x001\x00\n\x00",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		jsonDoc, wantErr := yaml.YAMLToJSON(data)
		if wantErr == nil {
			dec := json.NewDecoder(bytes.NewReader(jsonDoc))
			dec.UseNumber()
			wantErr = dec.Decode(&want)
		}
		got, err := decodeRaw(data)
		switch {
		case err == nil:
			require.NoError(t, wantErr, "accepted what YAMLToJSON refuses")
			require.Equal(t, want, got)
		case wantErr == nil:
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			for _, p := range ce.Problems {
				if p.Message == "duplicate key" {
					continue
				}
				// a second document, or an error in it
				require.Equal(t, "document", p.Path)
				dec := goyaml.NewDecoder(bytes.NewReader(data))
				var v any
				require.NoError(t, dec.Decode(&v))
				require.NotErrorIs(t, dec.Decode(&v), io.EOF, "refused a single document that YAMLToJSON accepts: %v", p)
			}
		}
	})
}
