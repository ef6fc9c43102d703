package smscourier

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rtTwoProviders routes UK numbers to Vonage first, and every other number
// to Twilio with Vonage as failover.
const rtTwoProviders = `
serve: { public: { base_url: https://example.com } }
smscourier:
  gateways:
    twilio:
      from: "+12065550110"
      request_config:
        url: https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json
        method: POST
        body: base64://ZnVuY3Rpb24oY3R4KSB7IFRvOiBjdHgudG8gfQ==
        header: { Content-Type: application/x-www-form-urlencoded }
        auth:
          type: basic_auth
          config: { user: AC123, password: twilio-pass-zq1 }
    vonage:
      from: Example
      request_config:
        url: https://rest.nexmo.com/sms/json
        method: POST
        headers: { Content-Type: application/json }
        auth:
          type: api_key
          config: { name: X-Api-Key, value: vonage-key-zq2, in: header }
  routes:
    - prefixes: ["+44"]
      gateways: [vonage, twilio]
  default_route:
    gateways: [twilio, vonage]
`

func rtTwilio() SMSConfig {
	return SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: RequestConfig{
			URL:     "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json",
			Method:  "POST",
			Body:    "base64://ZnVuY3Rpb24oY3R4KSB7IFRvOiBjdHgudG8gfQ==",
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Auth:    AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "AC123", Password: "twilio-pass-zq1"}},
		},
	}
}

func rtVonage() SMSConfig {
	return SMSConfig{
		Enabled: true,
		From:    "Example",
		RequestConfig: RequestConfig{
			URL:     "https://rest.nexmo.com/sms/json",
			Method:  "POST",
			Headers: map[string]string{"Content-Type": "application/json"},
			Auth:    AuthConfig{Type: AuthAPIKey, Config: AuthParams{Name: "X-Api-Key", Value: "vonage-key-zq2", In: APIKeyInHeader}},
		},
	}
}

// rtTwoProvidersWant is rtTwoProviders as a RoutingConfig.
func rtTwoProvidersWant() RoutingConfig {
	return RoutingConfig{
		Gateways: map[string]SMSConfig{"twilio": rtTwilio(), "vonage": rtVonage()},
		Routes: []Route{
			{Prefixes: []string{"+44"}, Gateways: []RouteStep{{Gateway: "vonage"}, {Gateway: "twilio"}}},
		},
		Default: Route{Gateways: []RouteStep{{Gateway: "twilio"}, {Gateway: "vonage"}}},
	}
}

// rtGateway is a minimal valid gateway block.
func rtGateway(host string) SMSConfig {
	return SMSConfig{Enabled: true, RequestConfig: RequestConfig{URL: "https://" + host + "/v1", Method: "POST"}}
}

// rtDoc returns a document whose smscourier section defines the valid
// gateways a and b and then holds lines, each a line of the section
// (indented two spaces).
func rtDoc(lines ...string) string {
	return "smscourier:\n" +
		"  gateways:\n" +
		"    a: {request_config: {url: https://a.example/v1, method: POST}}\n" +
		"    b: {request_config: {url: https://b.example/v1, method: POST}}\n" +
		strings.Join(lines, "\n") + "\n"
}

// rtDefaultAB is a default route naming a and b.
const rtDefaultAB = "  default_route: {gateways: [a, b]}"

// rtKratosSMS is a seeds-layout Kratos SMS block.
const rtKratosSMS = "courier:\n  sms:\n    enabled: true\n    request_config: {url: https://k.example/v1, method: POST}\n"

func TestParseRoutingConfig(t *testing.T) {
	twoAB := func() map[string]SMSConfig {
		return map[string]SMSConfig{"a": rtGateway("a.example"), "b": rtGateway("b.example")}
	}
	defaultAB := Route{Gateways: []RouteStep{{Gateway: "a"}, {Gateway: "b"}}}
	kratosOnly := func(sms SMSConfig) RoutingConfig {
		return RoutingConfig{
			Gateways: map[string]SMSConfig{GatewayCourier: sms},
			Default:  Route{Gateways: []RouteStep{{Gateway: GatewayCourier}}},
		}
	}
	withCourier := func(sms SMSConfig, c RoutingConfig) RoutingConfig {
		c.Gateways[GatewayCourier] = sms
		return c
	}
	cases := []struct {
		name string
		doc  string
		want RoutingConfig
	}{
		{"two providers", rtTwoProviders, rtTwoProvidersWant()},
		{"two providers as JSON", func() string {
			data, err := yamlToJSON(rtTwoProviders)
			require.NoError(t, err)
			return data
		}(), rtTwoProvidersWant()},
		{"kratos only, seeds layout", cfgTestdata(t, "seed-sms.yml"), kratosOnly(cfgSeedWant())},
		{"kratos only, channels layout", cfgTestdata(t, "kratos-channels.yml"), kratosOnly(cfgKratosWant())},
		{"kratos only, disabled", "courier:\n  sms:\n    enabled: false\n", kratosOnly(SMSConfig{})},
		{"kratos block routed beside gateways", rtKratosSMS + rtDoc(
			"  routes: [{prefixes: ['+1'], gateways: [courier, a]}]",
			"  default_route: {gateways: [b, courier]}",
		), withCourier(rtGateway("k.example"), RoutingConfig{
			Gateways: twoAB(),
			Routes:   []Route{{Prefixes: []string{"+1"}, Gateways: []RouteStep{{Gateway: GatewayCourier}, {Gateway: "a"}}}},
			Default:  Route{Gateways: []RouteStep{{Gateway: "b"}, {Gateway: GatewayCourier}}},
		})},
		{"kratos block disabled and not routed", "courier:\n  sms: {enabled: false}\n" + rtDoc(rtDefaultAB),
			withCourier(SMSConfig{}, RoutingConfig{Gateways: twoAB(), Default: defaultAB})},
		{"kratos block unrouted is no problem", rtKratosSMS + rtDoc(rtDefaultAB),
			withCourier(rtGateway("k.example"), RoutingConfig{Gateways: twoAB(), Default: defaultAB})},
		{"kratos section without sms", "courier:\n  smtp: {connection_uri: 'smtps://u:p@mail:465/'}\n" + rtDoc(rtDefaultAB),
			RoutingConfig{Gateways: twoAB(), Default: defaultAB}},
		{"every gateway disabled, default only", "courier:\n  sms: {enabled: false}\nsmscourier:\n  default_route: {gateways: [courier]}\n",
			kratosOnly(SMSConfig{})},
		{"share steps, failover, breaker", "smscourier:\n" +
			"  gateways:\n" +
			"    twilio: {request_config: {url: https://a.example/v1, method: POST}}\n" +
			"    sns: {request_config: {url: https://b.example/v1, method: POST}}\n" +
			"    vonage_2: {request_config: {url: https://c.example/v1, method: POST}}\n" +
			"  routes:\n" +
			"    - prefixes: ['+1', '+1868']\n" +
			"      gateways:\n" +
			"        - {twilio: 70, sns: 30}\n" +
			"        - vonage_2\n" +
			"      failover_on_rejected: true\n" +
			"  default_route: {gateways: [twilio], failover_on_rejected: false}\n" +
			"  breaker: {failures: 3, cool_down: 1m30s}\n",
			RoutingConfig{
				Gateways: map[string]SMSConfig{"twilio": rtGateway("a.example"), "sns": rtGateway("b.example"), "vonage_2": rtGateway("c.example")},
				Routes: []Route{{
					Prefixes:           []string{"+1", "+1868"},
					Gateways:           []RouteStep{{Share: map[string]int{"twilio": 70, "sns": 30}}, {Gateway: "vonage_2"}},
					FailoverOnRejected: true,
				}},
				Default: Route{Gateways: []RouteStep{{Gateway: "twilio"}}},
				Breaker: BreakerConfig{Failures: 3, CoolDown: 90 * time.Second},
			}},
		{"breaker zero and absent mean the defaults", rtDoc(rtDefaultAB, "  breaker: {failures: 0}"),
			RoutingConfig{Gateways: twoAB(), Default: defaultAB}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRoutingConfig([]byte(tc.doc))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Empty(t, got.check().list, "a parsed config re-checks clean")

			env, err := ParseRoutingConfigEnv([]byte(tc.doc), nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, env)
		})
	}
}

// yamlToJSON converts a YAML document as decodeRaw reads it.
func yamlToJSON(doc string) (string, error) {
	v, err := decodeRaw([]byte(doc))
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(v)
	return string(data), err
}

// TestParseRoutingConfigKratosOnlyErrors: without an smscourier section,
// the errors are exactly ParseConfig's.
func TestParseRoutingConfigKratosOnlyErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{
		{"empty", ""},
		{"not a mapping", "- a\n"},
		{"no courier", "serve: {}\n"},
		{"no sms", "courier: {smtp: {}}\n"},
		{"bad block", cfgDoc("url: /v1, method: 'P T', headers: {X A: b}")},
		{"header spelling", "courier:\n  sms:\n    enabled: true\n    request_config: {url: " + cfgURL + ", method: POST, header: {X A: b}}\n"},
		{"bad channel", cfgChannelsDoc("{id: sms, type: grpc, request_config: {url: " + cfgURL + "}}")},
		{"duplicate key", "courier:\n  sms:\n    enabled: true\n    enabled: false\n"},
		{"syntax", "courier:\n  sms:\n    enabled: true\n   from: x\n"},
		{"two documents", "courier: {sms: {enabled: false}}\n---\ncourier: {}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, want := ParseConfig([]byte(tc.doc))
			require.Error(t, want)
			got, err := ParseRoutingConfig([]byte(tc.doc))
			assert.Zero(t, got)
			assert.Equal(t, cfgProblems(t, want), cfgProblems(t, err))
		})
	}
}

// rtProblemCase is a document and the problems it must be rejected with:
// each "path: text" with text a part of the message.
type rtProblemCase struct {
	name string
	doc  string
	want []string
}

func runRtProblemCases(t *testing.T, cases []rtProblemCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRoutingConfig([]byte(tc.doc))
			assert.Zero(t, got)
			ps := cfgProblems(t, err)
			require.Len(t, ps, len(tc.want), "problems: %v", ps)
			for i, w := range tc.want {
				path, msg, _ := strings.Cut(w, ": ")
				assert.Equal(t, path, ps[i].Path, "problem %d: %v", i, ps[i])
				assert.Contains(t, ps[i].Message, msg, "problem %d", i)
			}
			// The same from a file, and with the environment variant.
			path := filepath.Join(t.TempDir(), "config.yml")
			require.NoError(t, os.WriteFile(path, []byte(tc.doc), 0o600))
			_, loadErr := LoadRoutingConfig(path)
			assert.Equal(t, ps, cfgProblems(t, loadErr))
			_, envErr := ParseRoutingConfigEnv([]byte(tc.doc), nil)
			assert.Equal(t, ps, cfgProblems(t, envErr))
			// A variable that sets gateway b's from (when the document has
			// a gateway b) changes nothing else.
			_, envErr = ParseRoutingConfigEnv([]byte(tc.doc), []string{"SMSCOURIER_GATEWAYS_B_FROM=+4915112345678"})
			assert.Equal(t, ps, cfgProblems(t, envErr))
		})
	}
}

func TestParseRoutingConfigProblems(t *testing.T) {
	runRtProblemCases(t, []rtProblemCase{
		// Gateways.
		{"no gateway", "smscourier:\n  default_route: {gateways: [a]}\n", []string{
			"smscourier.gateways: required: at least one gateway",
			"smscourier.default_route.gateways[0]: unknown gateway a",
		}},
		{"null gateway", "smscourier:\n  gateways:\n    a:\n  default_route: {gateways: [a]}\n", []string{
			"smscourier.gateways.a.request_config.url: required",
			"smscourier.gateways.a.request_config.method: required",
		}},
		{"empty section", "smscourier:\n", []string{
			"smscourier.gateways: required",
			"smscourier.default_route: required: the route of numbers that no prefix matches",
		}},
		{"gateway name syntax", rtDoc("    Twilio: {request_config: {url: https://t.example/v1, method: POST}}", "  default_route: {gateways: [a, b, Twilio]}"), []string{
			"smscourier.gateways.Twilio: not a valid gateway name",
		}},
		{"gateway name too long", rtDoc("    "+strings.Repeat("x", 65)+": {request_config: {url: https://t.example/v1, method: POST}}", "  default_route: {gateways: [a, b, "+strings.Repeat("x", 65)+"]}"), []string{
			"smscourier.gateways." + strings.Repeat("x", 65) + ": not a valid gateway name",
		}},
		{"gateway name reserved", rtKratosSMS + rtDoc("    courier: {request_config: {url: https://t.example/v1, method: POST}}", rtDefaultAB), []string{
			"smscourier.gateways.courier: reserved",
		}},
		{"gateway name reserved without a kratos block", rtDoc("    courier: {request_config: {url: https://t.example/v1, method: POST}}", "  default_route: {gateways: [a, b, courier]}"), []string{
			"smscourier.gateways.courier: reserved",
		}},
		{"gateway variables collide", rtDoc("    a-b: {request_config: {url: https://t.example/v1, method: POST}}", "    a_b: {request_config: {url: https://u.example/v1, method: POST}}", "  default_route: {gateways: [a, b, a-b, a_b]}"), []string{
			"smscourier.gateways.a_b: has the environment variables of gateway a-b (SMSCOURIER_GATEWAYS_A_B_*): rename one",
		}},
		{"gateway block problems", rtDoc("    c: {request_config: {url: /v1, method: POST, header: {X A: b}, auth: {type: basic_auth}}}", "  default_route: {gateways: [a, b, c]}"), []string{
			"smscourier.gateways.c.request_config.url: must start with http:// or https://",
			"smscourier.gateways.c.request_config.header.X A: not a valid header name",
			"smscourier.gateways.c.request_config.auth.config.user: required",
			"smscourier.gateways.c.request_config.auth.config.password: required",
		}},
		{"gateway block not a mapping", rtDoc("    c: oops", "  default_route: {gateways: [a, b, c]}"), []string{
			"smscourier.gateways.c: must be a mapping",
		}},
		{"gateways not a mapping", "smscourier:\n  gateways: [a, b]\n  default_route: {gateways: [a, b]}\n", []string{
			"smscourier.gateways: must be a mapping",
		}},
		{"section not a mapping", "smscourier: [a]\n", []string{
			"smscourier: must be a mapping",
		}},
		{"unused gateway", rtDoc("  default_route: {gateways: [a]}"), []string{
			"smscourier.gateways.b: not used by any route",
		}},
		{"kratos block disabled but routed", "courier:\n  sms: {enabled: false}\n" + rtDoc("  routes: [{prefixes: ['+1'], gateways: [courier]}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways[0]: gateway courier is disabled",
		}},
		{"kratos block disabled in a share", "courier:\n  sms: {enabled: false}\n" + rtDoc("  default_route: {gateways: [{a: 1, courier: 1}, b]}"), []string{
			"smscourier.default_route.gateways[0].courier: gateway courier is disabled",
		}},
		{"kratos block problems", "courier:\n  sms:\n    enabled: true\n    request_config: {url: /v1, method: POST}\n" + rtDoc("  default_route: {gateways: [courier, a, b]}"), []string{
			"courier.sms.request_config.url: must start with http:// or https://",
		}},
		{"courier named without a kratos block", rtDoc("  default_route: {gateways: [a, b, courier]}"), []string{
			"smscourier.default_route.gateways[2]: unknown gateway courier: there is no SMS block in the Kratos courier section",
		}},

		// Routes.
		{"route without prefixes", rtDoc("  routes: [{gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefixes: required",
		}},
		{"route with empty prefixes", rtDoc("  routes: [{prefixes: [], gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefixes: required",
		}},
		{"prefix syntax", rtDoc("  routes: [{prefixes: ['44', '+4a', '', '+1234567890123456', '+123456789012345', '+0'], gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefixes[0]: must be + and 1 to 15 digits, the first not 0",
			"smscourier.routes[0].prefixes[1]: must be + and 1 to 15 digits, the first not 0",
			"smscourier.routes[0].prefixes[2]: must be + and 1 to 15 digits, the first not 0",
			"smscourier.routes[0].prefixes[3]: must be + and 1 to 15 digits, the first not 0",
			"smscourier.routes[0].prefixes[5]: must be + and 1 to 15 digits, the first not 0",
		}},
		{"bare plus", rtDoc("  routes: [{prefixes: ['+'], gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefixes[0]: matches every number: use default_route",
		}},
		{"prefix twice in a route", rtDoc("  routes: [{prefixes: ['+44', '+1', '+44'], gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefixes[2]: prefix +44 is given twice: first at smscourier.routes[0].prefixes[0]",
		}},
		{"prefix in two routes", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a]}, {prefixes: ['+1', '+44'], gateways: [b]}]", rtDefaultAB), []string{
			"smscourier.routes[1].prefixes[1]: prefix +44 is given twice: first at smscourier.routes[0].prefixes[0]",
		}},
		{"empty route", rtDoc("  routes: [{prefixes: ['+44'], gateways: []}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways: empty route",
		}},
		{"route without gateways", rtDoc("  routes: [{prefixes: ['+44']}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways: empty route",
		}},
		{"empty step", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a, '']}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways[1]: empty step",
		}},
		{"share of one", rtDoc("  routes: [{prefixes: ['+44'], gateways: [{a: 100}]}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways[0]: a share names at least 2 gateways",
		}},
		{"empty share", rtDoc("  routes: [{prefixes: ['+44'], gateways: [{}, a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways[0]: a share names at least 2 gateways",
		}},
		{"share weights", rtDoc("  routes: [{prefixes: ['+44'], gateways: [{a: 0, b: -1}]}]", "  default_route: {gateways: [{a: 1000001, b: 1000000}]}"), []string{
			"smscourier.routes[0].gateways[0].a: weight must be 1 to 1000000",
			"smscourier.routes[0].gateways[0].b: weight must be 1 to 1000000",
			"smscourier.default_route.gateways[0].a: weight must be 1 to 1000000",
		}},
		{"share weight not a whole number", rtDoc("  routes: [{prefixes: ['+44'], gateways: [{a: 1.5, b: '30'}]}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways[0].a: must be a whole number",
			"smscourier.routes[0].gateways[0].b: must be a whole number",
		}},
		{"unknown gateways", rtDoc("  routes: [{prefixes: ['+44'], gateways: [sns, {a: 1, c: 2}]}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways[0]: unknown gateway sns",
			"smscourier.routes[0].gateways[1].c: unknown gateway c",
		}},
		{"gateway twice in a route", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a, {a: 1, b: 1}, b]}]", rtDefaultAB), []string{
			"smscourier.routes[0].gateways[1].a: gateway a is already in this route, at smscourier.routes[0].gateways[0]",
			"smscourier.routes[0].gateways[2]: gateway b is already in this route, at smscourier.routes[0].gateways[1].b",
		}},
		{"step of the wrong type", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a, [b]]}]", "  default_route: {gateways: [a]}"), []string{
			// b may be named by the malformed step: not reported unused
			"smscourier.routes[0].gateways[1]: must be a gateway name or a mapping of gateway names to weights",
		}},
		{"routes not a list", rtDoc("  routes: {prefixes: ['+44']}", rtDefaultAB), []string{
			"smscourier.routes: must be a list",
		}},
		{"route not a mapping", rtDoc("  routes: [a]", rtDefaultAB), []string{
			"smscourier.routes[0]: must be a mapping",
		}},
		{"failover not a boolean", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a], failover_on_rejected: sometimes}]", rtDefaultAB), []string{
			"smscourier.routes[0].failover_on_rejected: must be true or false",
		}},
		{"resend not a boolean", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a], resend_undelivered: twice}]", rtDefaultAB), []string{
			"smscourier.routes[0].resend_undelivered: must be true or false",
		}},

		// Default route.
		{"no default route", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a, b]}]"), []string{
			"smscourier.default_route: required: the route of numbers that no prefix matches",
		}},
		{"default route with prefixes", rtDoc("  default_route: {prefixes: ['+44'], gateways: [a, b]}"), []string{
			"smscourier.default_route.prefixes: must be empty",
		}},
		{"default route without gateways", rtDoc("  routes: [{prefixes: ['+44'], gateways: [a, b]}]", "  default_route: {failover_on_rejected: true}"), []string{
			"smscourier.default_route.gateways: empty route",
		}},
		{"default route steps", rtDoc("  default_route: {gateways: [a, b, a, c]}"), []string{
			"smscourier.default_route.gateways[2]: gateway a is already in this route, at smscourier.default_route.gateways[0]",
			"smscourier.default_route.gateways[3]: unknown gateway c",
		}},

		// Breaker.
		{"breaker negative", rtDoc(rtDefaultAB, "  breaker: {failures: -1, cool_down: -1s}"), []string{
			"smscourier.breaker.failures: must not be negative (0 means the default, 5)",
			"smscourier.breaker.cool_down: must not be negative (0 means the default, 30s)",
		}},
		{"breaker malformed", rtDoc(rtDefaultAB, "  breaker: {failures: '5', cool_down: 30}"), []string{
			"smscourier.breaker.cool_down: must be a string (quote it in YAML)",
			"smscourier.breaker.failures: must be a whole number",
		}},
		{"breaker bad duration", rtDoc(rtDefaultAB, "  breaker: {cool_down: 30 seconds}"), []string{
			"smscourier.breaker.cool_down: not a valid duration",
		}},
	})
}

// TestParseRoutingConfigStrict: the smscourier section is read as strictly
// as courier.sms.
func TestParseRoutingConfigStrict(t *testing.T) {
	runRtProblemCases(t, []rtProblemCase{
		{"duplicate gateway", rtDoc("    a: {request_config: {url: https://c.example/v1, method: POST}}", rtDefaultAB), []string{
			"smscourier.gateways.a: duplicate key",
		}},
		{"duplicate key in a gateway", rtDoc("    c:\n      from: x\n      from: y\n      request_config: {url: https://c.example/v1, method: POST}", "  default_route: {gateways: [a, b, c]}"), []string{
			"smscourier.gateways.c.from: duplicate key",
		}},
		{"duplicate key in a share", rtDoc("  default_route: {gateways: [{a: 1, b: 2, a: 3}]}"), []string{
			"smscourier.default_route.gateways[0].a: duplicate key",
		}},
		{"duplicate section", rtDoc(rtDefaultAB) + "smscourier: {}\n", []string{
			"smscourier: duplicate key",
		}},
		{"unknown key in the section", rtDoc(rtDefaultAB, "  route: []"), []string{
			"smscourier.route: unknown key",
		}},
		{"unknown key in a route", rtDoc("  routes: [{prefixes: ['+44'], prefix: '+1', gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefix: unknown key",
		}},
		{"unknown key in default_route", rtDoc("  default_route: {gateways: [a, b], failover: true}"), []string{
			"smscourier.default_route.failover: unknown key",
		}},
		{"unknown key in breaker", rtDoc(rtDefaultAB, "  breaker: {failure: 3}"), []string{
			"smscourier.breaker.failure: unknown key",
		}},
		{"enabled in a gateway", rtDoc("    c: {enabled: true, request_config: {url: https://c.example/v1, method: POST}}", "  default_route: {gateways: [a, b, c]}"), []string{
			"smscourier.gateways.c.enabled: unknown key",
		}},
		{"channel keys in a gateway", rtDoc("    c: {id: sms, type: http, request_config: {url: https://c.example/v1, method: POST}}", "  default_route: {gateways: [a, b, c]}"), []string{
			"smscourier.gateways.c.id: unknown key",
			"smscourier.gateways.c.type: unknown key",
		}},
		{"unknown key in a gateway's request_config", rtDoc("    c: {request_config: {url: https://c.example/v1, method: POST, timeout: 3s}}", "  default_route: {gateways: [a, b, c]}"), []string{
			"smscourier.gateways.c.request_config.timeout: unknown key",
		}},
		{"a number as prefix", rtDoc("  routes: [{prefixes: [+44, '+1'], gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefixes[0]: must be a string (quote it in YAML)",
		}},
		{"a number as from", rtDoc("    c: {from: +12065550110, request_config: {url: https://c.example/v1, method: POST}}", "  default_route: {gateways: [a, b, c]}"), []string{
			"smscourier.gateways.c.from: must be a string (quote it in YAML)",
		}},
		{"prefixes not a list", rtDoc("  routes: [{prefixes: '+44', gateways: [a]}]", rtDefaultAB), []string{
			"smscourier.routes[0].prefixes: must be a list",
		}},
		{"syntax error", rtDoc(rtDefaultAB, "  breaker:\n   failures: 3\n  cool_down: 1s\n x"), []string{
			"document: not valid YAML or JSON: line",
		}},
		{"two documents", rtDoc(rtDefaultAB) + "---\nsmscourier: {}\n", []string{
			"document: more than one YAML document",
		}},
	})
}

// TestRoutingConfigCheck checks typed configs built in Go, as NewRouter
// does.
func TestRoutingConfigCheck(t *testing.T) {
	gw := func(names ...string) map[string]SMSConfig {
		m := map[string]SMSConfig{}
		for _, n := range names {
			m[n] = rtGateway(n + ".example")
		}
		return m
	}
	steps := func(names ...string) []RouteStep {
		s := make([]RouteStep, len(names))
		for i, n := range names {
			s[i] = RouteStep{Gateway: n}
		}
		return s
	}
	disabled := func(m map[string]SMSConfig, names ...string) map[string]SMSConfig {
		for _, n := range names {
			g := m[n]
			g.Enabled = false
			m[n] = g
		}
		return m
	}
	cases := []struct {
		name string
		cfg  RoutingConfig
		want []string // "path: message", exactly
	}{
		{"valid", rtTwoProvidersWant(), nil},
		{"zero", RoutingConfig{}, []string{
			"smscourier.gateways: required: at least one gateway",
			"smscourier.default_route: required: the route of numbers that no prefix matches",
		}},
		{"kratos only, disabled", RoutingConfig{Gateways: map[string]SMSConfig{GatewayCourier: {}}, Default: Route{Gateways: steps(GatewayCourier)}}, nil},
		{"every gateway disabled, default only", RoutingConfig{Gateways: disabled(gw("a", "b"), "a", "b"), Default: Route{Gateways: []RouteStep{{Gateway: "a"}, {Share: map[string]int{"a": 1, "b": 1}}}}}, []string{
			"smscourier.default_route.gateways[1].a: gateway a is already in this route, at smscourier.default_route.gateways[0]",
		}},
		{"every gateway disabled, with a route", RoutingConfig{Gateways: disabled(gw("a"), "a"), Routes: []Route{{Prefixes: []string{"+1"}, Gateways: steps("a")}}, Default: Route{Gateways: steps("a")}}, []string{
			"smscourier.routes[0].gateways[0]: gateway a is disabled",
			"smscourier.default_route.gateways[0]: gateway a is disabled",
		}},
		{"one gateway disabled", RoutingConfig{Gateways: disabled(gw("a", "b"), "b"), Default: Route{Gateways: steps("a", "b")}}, []string{
			"smscourier.default_route.gateways[1]: gateway b is disabled",
		}},
		{"a disabled gateway that no route names", RoutingConfig{Gateways: disabled(gw("a", "b"), "b"), Default: Route{Gateways: steps("a")}}, []string{
			"smscourier.gateways.b: not used by any route",
		}},
		{"gateway blocks, courier under courier.sms", RoutingConfig{
			Gateways: map[string]SMSConfig{GatewayCourier: {Enabled: true}, "a": {Enabled: true, RequestConfig: RequestConfig{URL: "https://a.example", Method: "POST"}}},
			Default:  Route{Gateways: steps("a", GatewayCourier)},
		}, []string{
			"smscourier.gateways.a.request_config.url: must include a path, for example https://HOST/v1/messages",
			"courier.sms.request_config.url: required",
			"courier.sms.request_config.method: required",
		}},
		{"gateway names", RoutingConfig{Gateways: gw("A", "9a", "a.b", "a-b_9"), Default: Route{Gateways: steps("A", "9a", "a.b", "a-b_9")}}, []string{
			"smscourier.gateways.9a: not a valid gateway name: a lowercase letter, then lowercase letters, digits, '-' or '_', at most 64 in all",
			"smscourier.gateways.A: not a valid gateway name: a lowercase letter, then lowercase letters, digits, '-' or '_', at most 64 in all",
			"smscourier.gateways.a.b: not a valid gateway name: a lowercase letter, then lowercase letters, digits, '-' or '_', at most 64 in all",
		}},
		{"empty gateway name", RoutingConfig{Gateways: gw(""), Default: Route{Gateways: []RouteStep{{Share: map[string]int{"": 1, "x": 1}}}}}, []string{
			`smscourier.gateways."": not a valid gateway name: a lowercase letter, then lowercase letters, digits, '-' or '_', at most 64 in all`,
			"smscourier.default_route.gateways[0].x: unknown gateway x",
		}},
		{"route rules", RoutingConfig{
			Gateways: gw("a", "b", "c"),
			Routes: []Route{
				{Gateways: steps("a")},
				{Prefixes: []string{"+", "+44", "1", "+44"}, Gateways: []RouteStep{{Gateway: "a", Share: map[string]int{"b": 1}}, {}}},
				{Prefixes: []string{"+1", "+44"}},
				{Prefixes: []string{"+2"}, Gateways: []RouteStep{{Share: map[string]int{"c": 0}}, {Gateway: "d"}, {Gateway: "c"}}},
			},
			Default: Route{Prefixes: []string{"+3"}, Gateways: steps("a", "b")},
			Breaker: BreakerConfig{Failures: -1, CoolDown: -time.Second},
		}, []string{
			"smscourier.routes[0].prefixes: required: at least one E.164 prefix, such as +44",
			"smscourier.routes[1].prefixes[0]: matches every number: use default_route",
			"smscourier.routes[1].prefixes[2]: must be + and 1 to 15 digits, the first not 0",
			"smscourier.routes[1].prefixes[3]: prefix +44 is given twice: first at smscourier.routes[1].prefixes[1]",
			"smscourier.routes[1].gateways[0]: both a gateway and a share: a step is one or the other",
			"smscourier.routes[1].gateways[1]: empty step: name a gateway, or gateways that share by weight",
			"smscourier.routes[2].prefixes[1]: prefix +44 is given twice: first at smscourier.routes[1].prefixes[1]",
			"smscourier.routes[2].gateways: empty route: name at least one gateway",
			"smscourier.routes[3].gateways[0]: a share names at least 2 gateways: write a single gateway as its name",
			"smscourier.routes[3].gateways[0].c: weight must be 1 to 1000000",
			"smscourier.routes[3].gateways[1]: unknown gateway d",
			"smscourier.routes[3].gateways[2]: gateway c is already in this route, at smscourier.routes[3].gateways[0].c",
			"smscourier.default_route.prefixes: must be empty: the default route takes the numbers that no prefix matches",
			"smscourier.breaker.failures: must not be negative (0 means the default, 5)",
			"smscourier.breaker.cool_down: must not be negative (0 means the default, 30s)",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range tc.cfg.check().list {
				got = append(got, p.String())
			}
			assert.Equal(t, tc.want, got)
		})
	}
	t.Run("stable order", func(t *testing.T) {
		cfg := RoutingConfig{Gateways: gw("e", "d", "c", "b", "a"), Default: Route{Gateways: []RouteStep{{Share: map[string]int{"x": 1, "y": 1, "z": 1, "e": 0}}}}}
		first := cfg.check().list
		for range 20 {
			require.Equal(t, first, cfg.check().list)
		}
	})
}

// rtEnvDoc is rtTwoProviders with a gateway eu-sms whose credentials and
// URL come from the environment.
var rtEnvDoc = strings.Replace(rtTwoProviders, "  routes:", `    eu-sms:
      request_config:
        method: POST
        auth: { type: basic_auth, config: { user: eu } }
  routes:
    - prefixes: ["+49"]
      gateways: [eu-sms]
`, 1)

func TestParseRoutingConfigEnv(t *testing.T) {
	envURL := "https://eu.example.com/v1/sms"
	base := func() RoutingConfig {
		c := rtTwoProvidersWant()
		c.Gateways["eu-sms"] = SMSConfig{Enabled: true, RequestConfig: RequestConfig{
			URL: envURL, Method: "POST",
			Auth: AuthConfig{Type: AuthBasicAuth, Config: AuthParams{User: "eu", Password: "eu-pass"}},
		}}
		c.Routes = append([]Route{{Prefixes: []string{"+49"}, Gateways: []RouteStep{{Gateway: "eu-sms"}}}}, c.Routes...)
		return c
	}
	required := []string{
		"SMSCOURIER_GATEWAYS_EU_SMS_REQUEST_CONFIG_URL=" + envURL,
		"SMSCOURIER_GATEWAYS_EU_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=eu-pass",
	}
	cases := []struct {
		name string
		doc  string
		env  []string
		want func(*RoutingConfig)
	}{
		{"gateway password and URL", rtEnvDoc, required, func(*RoutingConfig) {}},
		{"names match regardless of case", rtEnvDoc, []string{
			"smscourier_gateways_eu_sms_request_config_url=" + envURL,
			"Smscourier_Gateways_Eu_Sms_Request_Config_Auth_Config_Password=eu-pass",
		}, func(*RoutingConfig) {}},
		{"overrides the document", rtEnvDoc, append(slices.Clone(required),
			"SMSCOURIER_GATEWAYS_TWILIO_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=env-pass",
			"SMSCOURIER_GATEWAYS_VONAGE_REQUEST_CONFIG_AUTH_CONFIG_VALUE=env-key",
			"SMSCOURIER_GATEWAYS_VONAGE_FROM=+4915112345678",
		), func(c *RoutingConfig) {
			tw, vo := c.Gateways["twilio"], c.Gateways["vonage"]
			tw.RequestConfig.Auth.Config.Password = "env-pass"
			vo.RequestConfig.Auth.Config.Value = "env-key"
			vo.From = "+4915112345678"
			c.Gateways["twilio"], c.Gateways["vonage"] = tw, vo
		}},
		{"variables cannot create gateways", rtEnvDoc, append(slices.Clone(required),
			"SMSCOURIER_GATEWAYS_SNS_REQUEST_CONFIG_URL=https://sns.example.com/v1",
			"SMSCOURIER_GATEWAYS_SNS_REQUEST_CONFIG_METHOD=POST",
			"SMSCOURIER_GATEWAYS_EU_SMS_ENABLED=false",
			"SMSCOURIER_GATEWAYS_EU_SMS_REQUEST_CONFIG_HEADERS_X=y",
			"SMSCOURIER_ROUTES_0_PREFIXES_0=+1",
			"SMSCOURIER_BREAKER_FAILURES=1",
		), func(*RoutingConfig) {}},
		{"kratos variables still apply", "courier:\n  sms:\n    enabled: true\n    request_config: {method: POST}\n" + rtEnvDoc, append(slices.Clone(required),
			"COURIER_SMS_REQUEST_CONFIG_URL=https://k.example/v1",
		), func(c *RoutingConfig) {
			c.Gateways[GatewayCourier] = rtGateway("k.example")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := base()
			tc.want(&want)
			got, err := ParseRoutingConfigEnv([]byte(tc.doc), tc.env)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}

	t.Run("kratos only is ParseConfigEnv's", func(t *testing.T) {
		env := []string{"COURIER_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=env-pass", "SMSCOURIER_GATEWAYS_COURIER_FROM=x"}
		sms, err := ParseConfigEnv([]byte(envSMSDoc), env)
		require.NoError(t, err)
		got, err := ParseRoutingConfigEnv([]byte(envSMSDoc), env)
		require.NoError(t, err)
		assert.Equal(t, RoutingConfig{
			Gateways: map[string]SMSConfig{GatewayCourier: sms},
			Default:  Route{Gateways: []RouteStep{{Gateway: GatewayCourier}}},
		}, got)

		cfg, err := ParseRoutingConfigEnv(nil, []string{"COURIER_SMS_ENABLED=true", "COURIER_SMS_REQUEST_CONFIG_URL=https://k.example/v1", "COURIER_SMS_REQUEST_CONFIG_METHOD=POST"})
		require.NoError(t, err)
		assert.Equal(t, rtGateway("k.example"), cfg.Gateways[GatewayCourier], "an empty document, the Kratos block from the environment")
	})

	t.Run("without the variables", func(t *testing.T) {
		_, err := ParseRoutingConfigEnv([]byte(rtEnvDoc), nil)
		assert.Equal(t, []string{
			"smscourier.gateways.eu-sms.request_config.url",
			"smscourier.gateways.eu-sms.request_config.auth.config.password",
		}, cfgPaths(cfgProblems(t, err)))
	})

	t.Run("bad values name the variable, never the value", func(t *testing.T) {
		for _, tc := range []struct {
			name, env, path string
		}{
			{"url without a path", "SMSCOURIER_GATEWAYS_EU_SMS_REQUEST_CONFIG_URL=https://user:pw-zq7@eu-zq7.example.com", "smscourier.gateways.eu-sms.request_config.url"},
			{"url scheme", "smscourier_gateways_eu_sms_request_config_url=ftp://eu-zq7.example.com/v1", "smscourier.gateways.eu-sms.request_config.url"},
			{"password with a control character", "SMSCOURIER_GATEWAYS_EU_SMS_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=pw-zq7\x01", "smscourier.gateways.eu-sms.request_config.auth.config.password"},
			{"password not UTF-8", "SMSCOURIER_GATEWAYS_TWILIO_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=pw-zq7\xff", "smscourier.gateways.twilio.request_config.auth.config.password"},
			{"auth type", "SMSCOURIER_GATEWAYS_TWILIO_REQUEST_CONFIG_AUTH_TYPE=oauth-zq7", "smscourier.gateways.twilio.request_config.auth.type"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				env := slices.DeleteFunc(slices.Clone(required), func(kv string) bool {
					return strings.EqualFold(strings.SplitN(kv, "=", 2)[0], strings.SplitN(tc.env, "=", 2)[0])
				})
				_, err := ParseRoutingConfigEnv([]byte(rtEnvDoc), append(env, tc.env))
				ps := cfgProblems(t, err)
				require.Equal(t, []string{tc.path}, cfgPaths(ps), "problems: %v", ps)
				assert.Contains(t, ps[0].Message, strings.SplitN(tc.env, "=", 2)[0], "names the variable")
				assert.NotContains(t, err.Error(), "zq7", "the value leaked")
			})
		}
	})

	t.Run("colliding gateway names", func(t *testing.T) {
		doc := rtDoc("    a-b: {request_config: {url: https://t.example/v1, method: POST}}", "    a_b: {request_config: {url: https://u.example/v1, method: POST}}", "  default_route: {gateways: [a, b, a-b, a_b]}")
		_, err := ParseRoutingConfigEnv([]byte(doc), []string{"SMSCOURIER_GATEWAYS_A_B_FROM=x"})
		ps := cfgProblems(t, err)
		require.Len(t, ps, 1)
		assert.Equal(t, "smscourier.gateways.a_b", ps[0].Path)
		assert.Contains(t, ps[0].Message, "a-b")
	})
}

func TestLoadRoutingConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yml")
	require.NoError(t, os.WriteFile(path, []byte(rtTwoProviders), 0o600))

	cfg, err := LoadRoutingConfig(path)
	require.NoError(t, err)
	assert.Equal(t, rtTwoProvidersWant(), cfg)

	cfg, err = LoadRoutingConfigEnv(path, []string{"SMSCOURIER_GATEWAYS_TWILIO_REQUEST_CONFIG_AUTH_CONFIG_PASSWORD=env-pass"})
	require.NoError(t, err)
	assert.Equal(t, Secret("env-pass"), cfg.Gateways["twilio"].RequestConfig.Auth.Config.Password)

	missing := filepath.Join(t.TempDir(), "missing.yml")
	_, err = LoadRoutingConfig(missing)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = LoadRoutingConfigEnv(missing, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestRoutingConfigSecretsNotShown: a parsed RoutingConfig prints, encodes
// and logs no password, api key or URL userinfo.
func TestRoutingConfigSecretsNotShown(t *testing.T) {
	doc := strings.Replace(rtTwoProviders, "https://rest.nexmo.com/sms/json", "https://vuser-zq3:vpass-zq4@rest.nexmo.com/sms/json?api_secret=qs-zq5", 1)
	cfg, err := ParseRoutingConfig([]byte(doc))
	require.NoError(t, err)
	require.Equal(t, Secret("twilio-pass-zq1"), cfg.Gateways["twilio"].RequestConfig.Auth.Config.Password, "the secrets are there")

	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg.Gateways["vonage"].RequestConfig, "twilio", cfg.Gateways["twilio"].RequestConfig)
	jsonData, err := json.Marshal(cfg)
	require.NoError(t, err)
	shown := map[string]string{"json": string(jsonData), "slog": logged.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		shown[verb] = fmt.Sprintf(verb, cfg)
		shown[verb+" pointer"] = fmt.Sprintf(verb, &cfg)
	}
	for name, s := range shown {
		assert.NotContains(t, s, "zq", name)
	}
	assert.Contains(t, shown["%+v"], "rest.nexmo.com", "the URL is shown, its userinfo redacted")
	assert.Contains(t, shown["%+v"], redacted)
}

// FuzzParseRoutingConfig checks that ParseRoutingConfig never panics, that
// an accepted config re-checks clean, that ParseRoutingConfigEnv without
// variables agrees with it, and that a gateway variable's value never shows
// in an error.
func FuzzParseRoutingConfig(f *testing.F) {
	f.Add(rtTwoProviders, "zqx")
	f.Add(rtEnvDoc, "https://a@b/c")
	seed, err := os.ReadFile(filepath.Join("testdata", "seed-sms.yml"))
	require.NoError(f, err)
	f.Add(string(seed), "")
	f.Add(rtKratosSMS+rtDoc("  routes: [{prefixes: ['+1', '+1868'], gateways: [{a: 70, courier: 30}, b]}]", "  default_route: {gateways: [a, b]}", "  breaker: {failures: 2, cool_down: 1s}"), "x")
	f.Add("courier:\n  sms: {enabled: false}\nsmscourier:\n  default_route: {gateways: [courier]}\n", "")
	f.Add("smscourier: {gateways: {a: ~}, routes: [~, {prefixes: [+1]}], default_route: {gateways: [{}]}}\n", "\xff")
	f.Add("smscourier: [", "")
	f.Fuzz(func(t *testing.T, doc, value string) {
		cfg, err := ParseRoutingConfig([]byte(doc))
		envCfg, envErr := ParseRoutingConfigEnv([]byte(doc), nil)
		assert.Equal(t, cfg, envCfg)
		assert.Equal(t, fmt.Sprint(err), fmt.Sprint(envErr))
		if err != nil {
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			require.ErrorIs(t, err, ErrInvalidConfig)
			for _, p := range ce.Problems {
				require.NotEmpty(t, p.Path)
				require.NotEmpty(t, p.Message)
			}
			assert.Zero(t, cfg)
		} else {
			require.Empty(t, cfg.check().list, "an accepted config re-checks clean")
			require.NotEmpty(t, cfg.Gateways)
		}

		if strings.Contains(doc, "zqx") || strings.ContainsRune(value, 0) {
			return
		}
		root, ok := mustDecode(doc).(map[string]any)
		if !ok {
			return
		}
		names := slices.Sorted(func(yield func(string) bool) {
			for name := range routingEnvKeys(root) {
				if !yield(name) {
					return
				}
			}
		})
		for _, name := range names {
			if !strings.HasPrefix(name, "SMSCOURIER_") {
				continue
			}
			_, err := ParseRoutingConfigEnv([]byte(doc), []string{name + "=zqx" + value})
			if err != nil {
				assert.NotContains(t, err.Error(), "zqx", "the value of %s leaked", name)
			}
		}
	})
}

// mustDecode returns decodeRaw's document, or nil.
func mustDecode(doc string) any {
	v, err := decodeRaw([]byte(doc))
	if err != nil {
		return nil
	}
	return v
}

// TestRoutingConfigLeavesTheGuardSection checks that a guard section
// (package guard parses it) and a receipts section (package receipt) are
// not unknown keys of the routing config.
func TestRoutingConfigLeavesTheGuardSection(t *testing.T) {
	doc := `
smscourier:
  gateways:
    a:
      request_config: {url: "https://a.example.com/send", method: POST}
  default_route:
    gateways: [a]
  guard:
    policy: {deny_countries: ["XK"]}
  receipts:
    providers: {webhook: {secret: a-webhook-secret-0123456789}}
`
	cfg, err := ParseRoutingConfig([]byte(doc))
	require.NoError(t, err)
	assert.Len(t, cfg.Gateways, 1)
}

// TestRouterResendGateway checks where a message is sent again after an
// undelivered receipt: the next gateway of its route, only when the route
// asks for it.
func TestRouterResendGateway(t *testing.T) {
	doc := "smscourier:\n" +
		"  gateways:\n" +
		"    a: {request_config: {url: https://a.example/v1, method: POST}}\n" +
		"    b: {request_config: {url: https://b.example/v1, method: POST}}\n" +
		"    c: {request_config: {url: https://c.example/v1, method: POST}}\n" +
		"  routes:\n" +
		"    - {prefixes: ['+44'], gateways: [a, b, c], resend_undelivered: true}\n" +
		"    - {prefixes: ['+33'], gateways: [{a: 1, b: 3}, c], resend_undelivered: true}\n" +
		"  default_route: {gateways: [a, b]}\n"
	cfg, err := ParseRoutingConfig([]byte(doc))
	require.NoError(t, err)
	assert.True(t, cfg.Routes[0].ResendUndelivered)
	assert.False(t, cfg.Default.ResendUndelivered)
	r, err := NewRouter(cfg)
	require.NoError(t, err)
	for _, tc := range []struct{ to, taken, want string }{
		{"+447400123456", "a", "b"},
		{"+447400123456", "b", "c"},
		{"+447400123456", "c", ""}, // the last
		{"+447400123456", "x", ""}, // not in the route
		{"+33612345678", "b", "a"}, // the share's heaviest first, then the other
		{"+33612345678", "a", "c"},
		{"+14134242223", "a", ""}, // the default route does not resend
	} {
		assert.Equal(t, tc.want, r.ResendGateway(tc.to, tc.taken), "%s after %s", tc.to, tc.taken)
	}
	var nilRouter *Router
	assert.Equal(t, "", nilRouter.ResendGateway("+447400123456", "a"))
}
