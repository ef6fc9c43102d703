package smscourier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

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
