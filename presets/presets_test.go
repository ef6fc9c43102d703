package presets_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/presets"
	"github.com/smscourier/smscourier/smstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The message every test sends.
const (
	testTo   = "+14134242223"
	testFrom = "+13104661805"
	testBody = "Your code is 123456"
)

// reply is one answer of the fake gateway.
type reply struct {
	status int
	header map[string]string
	body   string
}

// newGateway starts a fake gateway (package smstest) answering with the
// replies in order, repeating the last one; a reply with a body and no
// Content-Type is sent as application/json.
func newGateway(t *testing.T, replies ...reply) *smstest.Gateway {
	t.Helper()
	require.NotEmpty(t, replies)
	script := make([]smstest.Reply, len(replies))
	for i, rep := range replies {
		h := http.Header{}
		for k, v := range rep.header {
			h.Set(k, v)
		}
		if rep.body != "" && h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		script[i] = smstest.Reply{Status: rep.status, Header: h, Body: rep.body}
	}
	g := smstest.New(t)
	g.Script(script...)
	return g
}

// presetCase is what one preset must send, and a success reply for it.
type presetCase struct {
	// fill replaces the preset's placeholders with test values.
	fill map[string]string
	// path and query of the request, after filling.
	path, query string
	// header holds headers the request must carry exactly; "" means absent.
	header map[string]string
	// form or json is the decoded body the request must carry.
	form url.Values
	json any
	// success is the provider's documented success reply, and messageID the
	// id in it.
	success   reply
	messageID string
	// fast: the request template renders without go-jsonnet.
	fast bool
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// presetCases holds every preset; TestEveryPresetIsTested keeps it complete.
var presetCases = map[string]presetCase{
	"twilio": {
		fill: map[string]string{"YOUR_ACCOUNT_SID": "AC0123456789abcdef", "YOUR_AUTH_TOKEN": "twilio-token", "YOUR_SENDER": "+12065550110"},
		path: "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json",
		header: map[string]string{
			"Authorization": basic("AC0123456789abcdef", "twilio-token"),
			"Content-Type":  formType,
		},
		form: url.Values{"From": {testFrom}, "To": {testTo}, "Body": {testBody}},
		success: reply{status: 201, body: `{"account_sid": "AC0123456789abcdef", "api_version": "2010-04-01",
			"body": "Your code is 123456", "direction": "outbound-api", "from": "+13104661805",
			"num_segments": "1", "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "queued",
			"to": "+14134242223", "uri": "/2010-04-01/Accounts/AC0123456789abcdef/Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json"}`},
		messageID: "SM1f0e8ae6ade43cb3c0ce4525424e404f",
		fast:      true,
	},
	"vonage-sms": {
		fill: map[string]string{"YOUR_API_KEY": "abcd1234", "YOUR_API_SECRET": "vonage-secret", "YOUR_SENDER": "AcmeInc"},
		path: "/sms/json",
		header: map[string]string{
			"Authorization": basic("abcd1234", "vonage-secret"),
			"Content-Type":  formType,
		},
		form: url.Values{"from": {"13104661805"}, "to": {"14134242223"}, "text": {testBody}, "type": {"text"}},
		success: reply{status: 200, body: `{"message-count": "1", "messages": [{"to": "14134242223",
			"message-id": "0A0000000123ABCD1", "status": "0", "remaining-balance": "3.14159265",
			"message-price": "0.03330000", "network": "12345"}]}`},
		messageID: "0A0000000123ABCD1",
		fast:      true,
	},
	"vonage-messages": {
		fill: map[string]string{"YOUR_API_KEY": "abcd1234", "YOUR_API_SECRET": "vonage-secret", "YOUR_SENDER": "AcmeInc"},
		path: "/v1/messages",
		header: map[string]string{
			"Authorization": basic("abcd1234", "vonage-secret"),
			"Content-Type":  jsonType,
		},
		json: map[string]any{
			"channel": "sms", "message_type": "text",
			"from": "13104661805", "to": "14134242223", "text": testBody,
		},
		success:   reply{status: 202, body: `{"message_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"}`},
		messageID: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
		fast:      true,
	},
	"plivo": {
		fill: map[string]string{"YOUR_AUTH_ID": "MAXXXXXXXXXXXXXXXXXX", "YOUR_AUTH_TOKEN": "plivo-token", "YOUR_SENDER": "+12065550110"},
		path: "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/",
		header: map[string]string{
			"Authorization": basic("MAXXXXXXXXXXXXXXXXXX", "plivo-token"),
			"Content-Type":  jsonType,
		},
		json: map[string]any{"src": testFrom, "dst": testTo, "text": testBody},
		success: reply{status: 202, body: `{"message": "message(s) queued",
			"message_uuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"],
			"api_id": "db342550-7f1d-11e1-8ea7-1231380bc196"}`},
		messageID: "db3ce55a-7f1d-11e1-8ea7-1231380bc196",
		fast:      true,
	},
	"sinch": {
		fill: map[string]string{"YOUR_SERVICE_PLAN_ID": "plan0123", "YOUR_API_TOKEN": "sinch-token", "YOUR_SENDER": "+12065550110"},
		path: "/xms/v1/plan0123/batches",
		header: map[string]string{
			"Authorization": "Bearer sinch-token",
			"Content-Type":  jsonType,
		},
		json: map[string]any{"from": testFrom, "to": []any{testTo}, "body": testBody, "delivery_report": "per_recipient"},
		success: reply{status: 201, body: `{"id": "01FC66621XXXXX119Z8PMV1QPQ", "to": ["14134242223"],
			"from": "13104661805", "canceled": false, "body": "Your code is 123456", "type": "mt_text",
			"created_at": "2024-06-06T09:22:14.304Z", "modified_at": "2024-06-06T09:22:14.304Z",
			"delivery_report": "none", "expire_at": "2024-06-09T09:22:14.304Z", "flash_message": false}`},
		messageID: "01FC66621XXXXX119Z8PMV1QPQ",
		fast:      true,
	},
	"infobip": {
		fill: map[string]string{"YOUR_BASE_URL": "y3k9z1", "YOUR_API_KEY": "infobip-key", "YOUR_SENDER": "InfoSMS"},
		path: "/sms/3/messages",
		header: map[string]string{
			"Authorization": "App infobip-key",
			"Content-Type":  jsonType,
			"Accept":        jsonType,
		},
		json: map[string]any{"messages": []any{map[string]any{
			"sender":       "13104661805",
			"destinations": []any{map[string]any{"to": "14134242223"}},
			"content":      map[string]any{"text": testBody},
		}}},
		success: reply{status: 200, body: `{"bulkId": "2034072219640523073", "messages": [{
			"messageId": "2250be2d4219-3af1-78856-aabe-1362af1edfd2",
			"status": {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
				"description": "Message sent to next instance"},
			"destination": "14134242223", "details": {"messageCount": 1}}]}`},
		messageID: "2250be2d4219-3af1-78856-aabe-1362af1edfd2",
		fast:      true,
	},
	"telnyx": {
		fill: map[string]string{"YOUR_API_KEY": "KEY0123", "YOUR_SENDER": "+12065550110"},
		path: "/v2/messages",
		header: map[string]string{
			"Authorization": "Bearer KEY0123",
			"Content-Type":  jsonType,
		},
		json: map[string]any{"from": testFrom, "to": testTo, "text": testBody},
		success: reply{status: 200, body: `{"data": {"record_type": "message", "direction": "outbound",
			"id": "40385f64-5717-4562-b3fc-2c963f66afa6", "type": "SMS",
			"from": {"phone_number": "+13104661805"}, "to": [{"phone_number": "+14134242223", "status": "queued"}],
			"text": "Your code is 123456", "parts": 1, "encoding": "GSM-7"}}`},
		messageID: "40385f64-5717-4562-b3fc-2c963f66afa6",
		fast:      true,
	},
	"messagebird": {
		fill: map[string]string{"YOUR_ACCESS_KEY": "live_0123", "YOUR_SENDER": "Acme"},
		path: "/messages",
		header: map[string]string{
			"Authorization": "AccessKey live_0123",
			"Content-Type":  jsonType,
		},
		json: map[string]any{
			"originator": testFrom, "recipients": []any{"14134242223"},
			"body": testBody, "datacoding": "auto",
		},
		success: reply{status: 201, body: `{"id": "e8077d803532c0b5937c639b60216938",
			"href": "https://rest.messagebird.com/messages/e8077d803532c0b5937c639b60216938",
			"direction": "mt", "type": "sms", "originator": "+13104661805", "body": "Your code is 123456",
			"reference": null, "validity": null, "gateway": 10, "typeDetails": {}, "datacoding": "plain",
			"mclass": 1, "scheduledDatetime": null, "createdDatetime": "2016-05-03T14:26:57+00:00",
			"recipients": {"totalCount": 1, "totalSentCount": 1, "totalDeliveredCount": 0,
				"totalDeliveryFailedCount": 0, "items": [{"recipient": 14134242223, "status": "sent",
				"statusDatetime": "2016-05-03T14:26:57+00:00"}]}}`},
		messageID: "e8077d803532c0b5937c639b60216938",
		fast:      true,
	},
	"brevo": {
		fill: map[string]string{"YOUR_API_KEY": "xkeysib-0123", "YOUR_SENDER": "Acme"},
		path: "/v3/transactionalSMS/send",
		header: map[string]string{
			"Api-Key":       "xkeysib-0123",
			"Authorization": "",
			"Content-Type":  jsonType,
			"Accept":        jsonType,
		},
		json: map[string]any{
			"type": "transactional", "sender": "13104661805", "recipient": "14134242223",
			"content": testBody, "unicodeEnabled": false,
		},
		success: reply{status: 201, body: `{"reference": "ab1cde2fgh3i4jklmno", "messageId": 1511882900176220,
			"smsCount": 1, "usedCredits": 0.7, "remainingCredits": 82.85}`},
		messageID: "1511882900176220",
		fast:      true,
	},
	"textmagic": {
		fill: map[string]string{"YOUR_USERNAME": "acme", "YOUR_API_KEY": "tm-key-0123", "YOUR_SENDER": "+12065550110"},
		path: "/api/v2/messages",
		header: map[string]string{
			"X-TM-Username": "acme",
			"X-TM-Key":      "tm-key-0123",
			"Authorization": "",
			"Content-Type":  formType,
		},
		form: url.Values{"from": {"13104661805"}, "phones": {"14134242223"}, "text": {testBody}},
		success: reply{status: 201, body: `{"id": 49576009, "href": "/api/v2/messages/49576009",
			"type": "message", "sessionId": 34436059, "bulkId": null, "messageId": 49576009, "scheduleId": null}`},
		messageID: "49576009",
		fast:      true,
	},
	"webhook": {
		fill: map[string]string{"YOUR_API_KEY": "hook-key", "YOUR_SENDER": "+12065550110"},
		path: "/v1/messages",
		header: map[string]string{
			"X-API-Key":     "hook-key",
			"Authorization": "",
			"Content-Type":  jsonType,
		},
		json: map[string]any{
			"from": testFrom, "to": testTo, "body": testBody, "idempotency_key": "otp-7f3a",
		},
		success:   reply{status: 202, body: `{"id": "msg_0123"}`},
		messageID: "msg_0123",
		fast:      true,
	},
}

// presetConfig returns the preset's config with its placeholders filled in
// and, when gatewayURL is not empty, its URL's scheme and host replaced by
// the gateway's, keeping the path and query.
func presetConfig(t testing.TB, name, gatewayURL string) smscourier.SMSConfig {
	t.Helper()
	cfg, err := presets.Config(name)
	require.NoError(t, err)
	return fill(t, cfg, presetCases[name].fill, gatewayURL)
}

func fill(t testing.TB, cfg smscourier.SMSConfig, values map[string]string, gatewayURL string) smscourier.SMSConfig {
	t.Helper()
	replace := func(s string) string {
		for placeholder, v := range values {
			s = strings.ReplaceAll(s, placeholder, v)
		}
		return s
	}
	rc := &cfg.RequestConfig
	cfg.From = replace(cfg.From)
	rc.URL = replace(rc.URL)
	for k, v := range rc.Headers {
		rc.Headers[k] = replace(v)
	}
	a := &rc.Auth.Config
	a.User = replace(a.User)
	a.Password = smscourier.Secret(replace(string(a.Password)))
	a.Value = smscourier.Secret(replace(string(a.Value)))

	// Every placeholder is filled: none is left for a user to miss.
	for _, s := range []string{cfg.From, rc.URL, a.User, string(a.Password), string(a.Value)} {
		require.NotContains(t, s, "YOUR_")
	}
	for _, v := range rc.Headers {
		require.NotContains(t, v, "YOUR_")
	}

	if gatewayURL != "" {
		u, err := url.Parse(rc.URL)
		require.NoError(t, err)
		gw, err := url.Parse(gatewayURL)
		require.NoError(t, err)
		u.Scheme, u.Host = gw.Scheme, gw.Host
		rc.URL = u.String()
	}
	return cfg
}

// tinyRetries retries at once: no test waits.
var tinyRetries = smscourier.WithRetryPolicy(smscourier.RetryPolicy{
	MaxAttempts:   3,
	BaseDelay:     time.Microsecond,
	MaxDelay:      time.Microsecond,
	MaxRetryAfter: time.Millisecond,
})

func TestEveryPresetIsTested(t *testing.T) {
	var tested []string
	for name := range presetCases {
		tested = append(tested, name)
	}
	slices.Sort(tested)
	assert.Equal(t, presets.Names(), tested)
}

func TestPresetSendsProviderRequest(t *testing.T) {
	for _, name := range presets.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pc := presetCases[name]
			gw := newGateway(t, pc.success)
			courier, err := smscourier.New(presetConfig(t, name, gw.URL()), smscourier.WithoutRetries())
			require.NoError(t, err)

			res, err := courier.SendMessage(context.Background(), smscourier.Message{
				To: testTo, From: testFrom, Body: testBody, IdempotencyKey: "otp-7f3a",
			})
			require.NoError(t, err)
			assert.Equal(t, pc.messageID, res.MessageID)
			assert.Equal(t, pc.success.status, res.StatusCode)

			got := gw.Requests()
			require.Len(t, got, 1)
			r := got[0]
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, pc.path, r.Path)
			assert.Equal(t, pc.query, r.RawQuery)
			for k, want := range pc.header {
				assert.Equal(t, want, r.Header.Get(k), "header %s", k)
			}
			switch {
			case pc.form != nil:
				form, err := url.ParseQuery(r.Body)
				require.NoError(t, err)
				assert.Equal(t, pc.form, form)
			default:
				var body any
				require.NoError(t, json.Unmarshal([]byte(r.Body), &body), "body %s", r.Body)
				assert.Equal(t, pc.json, body)
			}
		})
	}
}

// TestPresetConfigFilesLoad loads every config.yml as a Kratos user would,
// with its file:// template paths, from the module root, and checks that
// it renders the same request as Config.
func TestPresetConfigFilesLoad(t *testing.T) {
	t.Chdir("..")
	for _, name := range presets.Names() {
		t.Run(name, func(t *testing.T) {
			fromFile, err := smscourier.LoadConfig("presets/" + name + "/config.yml")
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(fromFile.RequestConfig.Body, "file://./presets/"+name+"/"))
			assert.True(t, strings.HasPrefix(fromFile.RequestConfig.Response, "file://./presets/"+name+"/"))
			fromFile = fill(t, fromFile, presetCases[name].fill, "")
			embedded := presetConfig(t, name, "")

			m := smscourier.Message{To: testTo, Body: testBody, IdempotencyKey: "k"}
			var bodies []string
			for _, cfg := range []smscourier.SMSConfig{fromFile, embedded} {
				courier, err := smscourier.New(cfg)
				require.NoError(t, err)
				req, err := courier.Render(context.Background(), m)
				require.NoError(t, err)
				b, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				bodies = append(bodies, req.Method+" "+req.URL.String()+"\n"+string(b))
			}
			assert.Equal(t, bodies[0], bodies[1])
		})
	}
}

// TestPresetFastPath checks which request templates render without
// go-jsonnet, by their allocations: a fast-path render takes a dozen, a
// go-jsonnet evaluation about a thousand or more.
func TestPresetFastPath(t *testing.T) {
	const threshold = 200
	for _, name := range presets.Names() {
		t.Run(name, func(t *testing.T) {
			courier, err := smscourier.New(presetConfig(t, name, ""))
			require.NoError(t, err)
			m := smscourier.Message{To: testTo, Body: testBody, IdempotencyKey: "k"}
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := courier.Render(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			})
			if presetCases[name].fast {
				assert.Less(t, allocs, float64(threshold), "allocations per render")
			} else {
				assert.Greater(t, allocs, float64(threshold), "allocations per render")
			}
		})
	}
}

// TestPresetEncodingMatchesSegments checks the presets that name the
// encoding themselves against smscourier.Segments, character by character.
func TestPresetEncodingMatchesSegments(t *testing.T) {
	// Every character up to U+03FF (where GSM-7's letters end), then some
	// beyond: the euro sign (GSM-7), a no-break space, Cyrillic, CJK, an
	// emoji.
	var chars []string
	for r := rune(0); r < 0x400; r++ {
		chars = append(chars, string(r))
	}
	chars = append(chars, "€", "\u00a0", "Ж", "中", "😀", "\u2019")
	var allGSM strings.Builder
	for _, c := range chars {
		if smscourier.Segments(c).Encoding == smscourier.EncodingGSM7 {
			allGSM.WriteString(c)
		}
	}
	texts := append(chars, allGSM.String(), testBody, "Código: 123456", "Ваш код 123456")

	for _, tc := range []struct {
		preset string
		// unicode reports whether the request asks for UCS-2.
		unicode func(t *testing.T, body []byte) bool
	}{
		{"vonage-sms", func(t *testing.T, body []byte) bool {
			form, err := url.ParseQuery(string(body))
			require.NoError(t, err)
			require.Contains(t, []string{"text", "unicode"}, form.Get("type"))
			return form.Get("type") == "unicode"
		}},
		{"brevo", func(t *testing.T, body []byte) bool {
			var v struct{ UnicodeEnabled *bool }
			require.NoError(t, json.Unmarshal(body, &v))
			require.NotNil(t, v.UnicodeEnabled)
			return *v.UnicodeEnabled
		}},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			t.Parallel()
			courier, err := smscourier.New(presetConfig(t, tc.preset, ""))
			require.NoError(t, err)
			for _, text := range texts {
				req, err := courier.Render(context.Background(), smscourier.Message{To: testTo, Body: text, IdempotencyKey: "k"})
				require.NoError(t, err)
				body, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				want := smscourier.Segments(text).Encoding == smscourier.EncodingUCS2
				if got := tc.unicode(t, body); got != want {
					t.Errorf("text %q (%U): unicode %v, want %v", text, []rune(text), got, want)
				}
			}
		})
	}
}

// responseCase is one reply sequence and what the send must conclude.
type responseCase struct {
	name    string
	replies []reply
	// wantClass is the failure class, nil for success.
	wantClass error
	// wantID is the message id of a success.
	wantID string
	// wantCode and wantMessage are the GatewayError's ErrorCode and
	// ErrorMessage; wantRetryAfter its RetryAfter.
	wantCode, wantMessage string
	wantRetryAfter        time.Duration
	// noGatewayError marks failures without a reply to blame: a response
	// template that cannot make sense of a 2xx reply.
	noGatewayError bool
	// wantRequests is how many requests the gateway saw (retries included).
	wantRequests int
}

// responseCases holds each preset's documented replies.
var responseCases = map[string][]responseCase{
	"twilio": {
		{name: "invalid number", replies: []reply{{status: 400, body: `{"code": 21211,
			"message": "The 'To' number +1413424222 is not a valid phone number.",
			"more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`}},
			wantClass: smscourier.ErrRejected, wantCode: "21211",
			wantMessage: "The 'To' number +1413424222 is not a valid phone number.", wantRequests: 1},
		{name: "bad credentials", replies: []reply{{status: 401, body: `{"code": 20003,
			"message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`}},
			wantClass: smscourier.ErrRejected, wantCode: "20003", wantMessage: "Authenticate", wantRequests: 1},
		{name: "too many requests", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"code": 20429,
			"message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}`}},
			wantClass: smscourier.ErrRefused, wantCode: "20429", wantMessage: "Too Many Requests",
			wantRetryAfter: 7 * time.Second, wantRequests: 1},
	},
	"vonage-sms": {
		{name: "throttled, then accepted", replies: []reply{
			{status: 200, body: `{"message-count": "1", "messages": [{"status": "1",
				"error-text": "Throughput Rate Exceeded - please wait [ 30 ] and retry"}]}`},
			presetCases["vonage-sms"].success,
		}, wantID: "0A0000000123ABCD1", wantRequests: 2},
		{name: "throttled every time", replies: []reply{{status: 200, body: `{"message-count": "1",
			"messages": [{"status": "1", "error-text": "Throughput Rate Exceeded - please wait [ 30 ] and retry"}]}`}},
			wantClass: smscourier.ErrRefused, wantCode: "1",
			wantMessage: "Throughput Rate Exceeded - please wait [ 30 ] and retry", wantRequests: 3},
		{name: "invalid credentials", replies: []reply{{status: 200, body: `{"message-count": "1",
			"messages": [{"status": "4", "error-text": "Bad Credentials"}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "4", wantMessage: "Bad Credentials", wantRequests: 1},
		{name: "too many binds", replies: []reply{{status: 200, body: `{"message-count": "1",
			"messages": [{"status": "10", "error-text": "Too many existing binds"}]}`}},
			wantClass: smscourier.ErrRefused, wantCode: "10", wantMessage: "Too many existing binds", wantRequests: 3},
		{name: "internal error", replies: []reply{{status: 200, body: `{"message-count": "1",
			"messages": [{"status": "5", "error-text": "Internal Error"}]}`}},
			wantClass: smscourier.ErrOutcomeUnknown, wantCode: "5", wantMessage: "Internal Error", wantRequests: 1},
		{name: "internal error in one part, the other throttled: not resent", replies: []reply{{status: 200, body: `{"message-count": "2",
			"messages": [{"status": "1", "error-text": "Throughput Rate Exceeded"}, {"status": "5", "error-text": "Internal Error"}]}`}},
			wantClass: smscourier.ErrOutcomeUnknown, wantCode: "1", wantMessage: "Throughput Rate Exceeded", wantRequests: 1},
		{name: "multipart, second part throttled: not resent", replies: []reply{{status: 200, body: `{"message-count": "2",
			"messages": [{"to": "14134242223", "message-id": "0A0000000123ABCD1", "status": "0"},
				{"status": "1", "error-text": "Throughput Rate Exceeded - please wait [ 30 ] and retry"}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "1",
			wantMessage: "Throughput Rate Exceeded - please wait [ 30 ] and retry", wantRequests: 1},
		{name: "multipart, all accepted", replies: []reply{{status: 200, body: `{"message-count": "2",
			"messages": [{"to": "14134242223", "message-id": "0A0000000123ABCD1", "status": "0"},
				{"to": "14134242223", "message-id": "0A0000000123ABCD2", "status": "0"}]}`}},
			wantID: "0A0000000123ABCD1", wantRequests: 1},
		{name: "200 without messages: outcome unknown", replies: []reply{{status: 200, body: `{"message-count": "0"}`}},
			wantClass: smscourier.ErrOutcomeUnknown, noGatewayError: true, wantRequests: 1},
	},
	"vonage-messages": {
		{name: "bad credentials", replies: []reply{{status: 401, header: map[string]string{"Content-Type": "application/problem+json"},
			body: `{"type": "https://developer.vonage.com/api-errors#unauthorized", "title": "Invalid credentials supplied",
			"detail": "You did not provide correct credentials.", "instance": "797a8f199c45014ab7b08bfe9cc1c12c"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "unauthorized",
			wantMessage: "Invalid credentials supplied: You did not provide correct credentials.", wantRequests: 1},
		{name: "invalid params", replies: []reply{{status: 422, body: `{"type": "https://developer.vonage.com/api-errors/messages#1150",
			"title": "Invalid params", "detail": "The value of one or more parameters is invalid.",
			"instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf", "invalid_parameters": [{"name": "to", "reason": "Invalid number"}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "1150",
			wantMessage: "Invalid params: The value of one or more parameters is invalid.", wantRequests: 1},
		{name: "throttled", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"type": "https://developer.vonage.com/api-errors#throttled", "title": "Rate Limit Hit",
			"detail": "Please wait, then retry your request", "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"}`}},
			wantClass: smscourier.ErrRefused, wantCode: "throttled",
			wantMessage: "Rate Limit Hit: Please wait, then retry your request", wantRetryAfter: 7 * time.Second, wantRequests: 1},
	},
	"plivo": {
		{name: "invalid destination", replies: []reply{{status: 400, body: `{"api_id": "b8d0a4d6-6f0f-11e1-8ea7-1231380bc196",
			"error": "invalid 'dst' parameter"}`}},
			wantClass: smscourier.ErrRejected, wantMessage: "invalid 'dst' parameter", wantRequests: 1},
		{name: "bad credentials", replies: []reply{{status: 401, body: `{"api_id": "b8d0a4d6-6f0f-11e1-8ea7-1231380bc196",
			"error": "authentication failed"}`}},
			wantClass: smscourier.ErrRejected, wantMessage: "authentication failed", wantRequests: 1},
	},
	"sinch": {
		{name: "invalid number", replies: []reply{{status: 400, body: `{"code": "syntax_invalid_parameter_format",
			"text": "Parameter to has invalid format"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "syntax_invalid_parameter_format",
			wantMessage: "Parameter to has invalid format", wantRequests: 1},
		{name: "forbidden", replies: []reply{{status: 403, body: `{"code": "forbidden",
			"text": "Service plan is not allowed to use this API"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "forbidden",
			wantMessage: "Service plan is not allowed to use this API", wantRequests: 1},
	},
	"infobip": {
		{name: "bad credentials", replies: []reply{{status: 401, body: `{"requestError": {"serviceException": {
			"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}}`}},
			wantClass: smscourier.ErrRejected, wantCode: "UNAUTHORIZED", wantMessage: "Invalid login details", wantRequests: 1},
		{name: "bad request, v3 error", replies: []reply{{status: 400, body: `{"errorCode": "E400",
			"description": "Request cannot be processed.", "action": "Check the syntax, violations and adjust the request.",
			"violations": [{"property": "messages[0].destinations[0].to", "violation": "must not be blank"}], "resources": []}`}},
			wantClass: smscourier.ErrRejected, wantCode: "E400", wantMessage: "Request cannot be processed.", wantRequests: 1},
		{name: "rejected in a 200 reply", replies: []reply{{status: 200, body: `{"bulkId": "2034072219640523073",
			"messages": [{"messageId": "2250be2d4219-3af1-78856-aabe-1362af1edfd2",
			"status": {"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK",
				"description": "Network is forbidden"}, "destination": "14134242223"}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "REJECTED_NETWORK", wantMessage: "Network is forbidden", wantRequests: 1},
		{name: "general error", replies: []reply{{status: 500, body: `{"requestError": {"serviceException": {
			"messageId": "GENERAL_ERROR", "text": "Something went wrong. Please contact support."}}}`}},
			wantClass: smscourier.ErrOutcomeUnknown, wantCode: "GENERAL_ERROR",
			wantMessage: "Something went wrong. Please contact support.", wantRequests: 1},
	},
	"telnyx": {
		{name: "invalid number", replies: []reply{{status: 422, body: `{"errors": [{"code": "40310",
			"title": "Invalid 'to' address", "detail": "The 'to' address should be in E.164 format.",
			"source": {"pointer": "/to"}, "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/40310"}}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "40310",
			wantMessage: "Invalid 'to' address: The 'to' address should be in E.164 format.", wantRequests: 1},
		{name: "bad credentials", replies: []reply{{status: 401, body: `{"errors": [{"code": "10009",
			"title": "Authentication failed", "detail": "Could not understand the provided credentials.",
			"meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10009"}}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "10009",
			wantMessage: "Authentication failed: Could not understand the provided credentials.", wantRequests: 1},
		{name: "too many requests", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"errors": [{"code": "10011", "title": "Too many requests",
			"detail": "You have exceeded the maximum number of allowed requests."}]}`}},
			wantClass: smscourier.ErrRefused, wantCode: "10011",
			wantMessage:    "Too many requests: You have exceeded the maximum number of allowed requests.",
			wantRetryAfter: 7 * time.Second, wantRequests: 1},
	},
	"messagebird": {
		{name: "no recipients", replies: []reply{{status: 422, body: `{"errors": [{"code": 9,
			"description": "no (correct) recipients found", "parameter": "recipients"}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "9", wantMessage: "no (correct) recipients found", wantRequests: 1},
		{name: "bad access key", replies: []reply{{status: 401, body: `{"errors": [{"code": 2,
			"description": "Request not allowed (incorrect access_key)", "parameter": "access_key"}]}`}},
			wantClass: smscourier.ErrRejected, wantCode: "2",
			wantMessage: "Request not allowed (incorrect access_key)", wantRequests: 1},
	},
	"brevo": {
		{name: "invalid parameter", replies: []reply{{status: 400, body: `{"code": "invalid_parameter",
			"message": "recipient is not a valid mobile number"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "invalid_parameter",
			wantMessage: "recipient is not a valid mobile number", wantRequests: 1},
		{name: "bad key", replies: []reply{{status: 401, body: `{"code": "unauthorized", "message": "Key not found"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "unauthorized", wantMessage: "Key not found", wantRequests: 1},
		{name: "no credits", replies: []reply{{status: 402, body: `{"code": "not_enough_credits",
			"message": "Not enough credits"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "not_enough_credits", wantMessage: "Not enough credits", wantRequests: 1},
	},
	"textmagic": {
		{name: "validation failed", replies: []reply{{status: 400, body: `{"code": 400, "message": "Validation Failed",
			"errors": {"errors": [], "fields": {"phones": ["This value should not be blank."]}}}`}},
			wantClass: smscourier.ErrRejected, wantCode: "400", wantMessage: "Validation Failed", wantRequests: 1},
		{name: "bad credentials", replies: []reply{{status: 401, body: `{"code": 401, "message": "Unauthorized"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "401", wantMessage: "Unauthorized", wantRequests: 1},
	},
	"webhook": {
		{name: "message_id", replies: []reply{{status: 201, body: `{"message_id": 42}`}},
			wantID: "42", wantRequests: 1},
		{name: "code and message", replies: []reply{{status: 400, body: `{"code": "invalid_number",
			"message": "to is not a phone number"}`}},
			wantClass: smscourier.ErrRejected, wantCode: "invalid_number", wantMessage: "to is not a phone number", wantRequests: 1},
		{name: "error text", replies: []reply{{status: 422, body: `{"error": "to is not a phone number"}`}},
			wantClass: smscourier.ErrRejected, wantMessage: "to is not a phone number", wantRequests: 1},
		{name: "unavailable, then accepted", replies: []reply{
			{status: 503, header: map[string]string{"Retry-After": "0"}},
			presetCases["webhook"].success,
		}, wantID: "msg_0123", wantRequests: 2},
	},
}

// commonCases are replies every preset must read the same way.
func commonCases(name string) []responseCase {
	cases := []responseCase{
		{name: "429 with Retry-After", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "7", "Content-Type": "text/plain"}, body: "Too Many Requests"}},
			wantClass: smscourier.ErrRefused, wantRetryAfter: 7 * time.Second, wantRequests: 1},
		{name: "429, then success", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}, presetCases[name].success},
			wantID: presetCases[name].messageID, wantRequests: 2},
		{name: "503 every time", replies: []reply{{status: 503, header: map[string]string{"Content-Type": "text/html"}, body: "<html>Service Unavailable</html>"}},
			wantClass: smscourier.ErrRefused, wantRequests: 3},
		{name: "500", replies: []reply{{status: 500, header: map[string]string{"Content-Type": "text/html"}, body: "<html>Internal Server Error</html>"}},
			wantClass: smscourier.ErrOutcomeUnknown, wantRequests: 1},
		{name: "502", replies: []reply{{status: 502}},
			wantClass: smscourier.ErrOutcomeUnknown, wantRequests: 1},
		{name: "404 with a text body", replies: []reply{{status: 404, header: map[string]string{"Content-Type": "text/plain"}, body: "404 page not found"}},
			wantClass: smscourier.ErrRejected, wantRequests: 1},
	}
	// A 2xx reply without the usual body: success without an id, except
	// where only the body tells success from failure.
	empty := responseCase{name: "2xx without a body", replies: []reply{{status: presetCases[name].success.status}}, wantRequests: 1}
	if name == "vonage-sms" {
		empty.wantClass, empty.noGatewayError = smscourier.ErrOutcomeUnknown, true
	}
	return append(cases, empty)
}

func TestPresetReadsReplies(t *testing.T) {
	classes := []error{smscourier.ErrNotSent, smscourier.ErrRefused, smscourier.ErrOutcomeUnknown, smscourier.ErrRejected}
	for _, name := range presets.Names() {
		pc := presetCases[name]
		cases := append([]responseCase{{name: "documented success", replies: []reply{pc.success}, wantID: pc.messageID, wantRequests: 1}},
			responseCases[name]...)
		cases = append(cases, commonCases(name)...)
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				gw := newGateway(t, tc.replies...)
				courier, err := smscourier.New(presetConfig(t, name, gw.URL()), tinyRetries)
				require.NoError(t, err)

				res, err := courier.SendMessage(context.Background(), smscourier.Message{To: testTo, From: testFrom, Body: testBody})
				assert.Len(t, gw.Requests(), tc.wantRequests, "requests the gateway saw")
				assert.Equal(t, tc.wantRequests, res.Attempts)
				if tc.wantClass == nil {
					require.NoError(t, err)
					assert.Equal(t, tc.wantID, res.MessageID)
					return
				}
				require.Error(t, err)
				for _, class := range classes {
					assert.Equal(t, class == tc.wantClass, errors.Is(err, class), "errors.Is(err, %v)", class)
				}
				var ge *smscourier.GatewayError
				if tc.noGatewayError {
					assert.False(t, errors.As(err, &ge), "%v", err)
					return
				}
				require.ErrorAs(t, err, &ge)
				assert.Equal(t, tc.wantCode, ge.ErrorCode)
				assert.Equal(t, tc.wantMessage, ge.ErrorMessage)
				assert.Equal(t, tc.wantRetryAfter, ge.RetryAfter)
				assert.Empty(t, res.MessageID)
			})
		}
	}
}

func TestNames(t *testing.T) {
	names := presets.Names()
	assert.True(t, slices.IsSorted(names))
	assert.Contains(t, names, "twilio")
	names[0] = "changed"
	assert.NotEqual(t, "changed", presets.Names()[0], "Names returns a copy")
}

func TestPresetDirectories(t *testing.T) {
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	assert.Equal(t, dirs, presets.Names(), "every directory is an embedded preset")
	for _, name := range dirs {
		for _, file := range []string{presets.ConfigFile, presets.RequestFile, presets.ResponseFile} {
			onDisk, err := os.ReadFile(name + "/" + file)
			require.NoError(t, err, "%s/%s", name, file)
			embedded, err := presets.Template(name, file)
			require.NoError(t, err)
			assert.Equal(t, onDisk, embedded)
		}
	}
}

// TestReadmeListsEveryPreset reads the preset column of the README's
// table: it must list exactly the presets there are.
func TestReadmeListsEveryPreset(t *testing.T) {
	f, err := os.Open("README.md")
	require.NoError(t, err)
	defer f.Close()
	var listed []string
	inTable := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "| provider | preset |"):
			inTable = true
		case !inTable:
		case !strings.HasPrefix(line, "|"):
			inTable = false
		case strings.HasPrefix(line, "|---"):
		default:
			cells := strings.Split(line, "|")
			require.Greater(t, len(cells), 3, "row %q", line)
			listed = append(listed, strings.Trim(strings.TrimSpace(cells[2]), "`"))
		}
	}
	require.NoError(t, sc.Err())
	slices.Sort(listed)
	assert.Equal(t, presets.Names(), listed)
}

func TestTemplateAndConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"no-such-preset", presets.ConfigFile},
		{"", presets.ConfigFile},
		{"twilio", "no-such-file"},
		{"twilio", "../vonage-sms/config.yml"},
		{"twilio", "/etc/passwd"},
		{".", "presets.go"},
		{"..", "presets.go"},
	} {
		_, err := presets.Template(tc.name, tc.file)
		assert.ErrorIs(t, err, presets.ErrNotFound, "Template(%q, %q)", tc.name, tc.file)
	}
	_, err := presets.Config("no-such-preset")
	assert.ErrorIs(t, err, presets.ErrNotFound)
}

func TestConfigReturnsFreshValues(t *testing.T) {
	a, err := presets.Config("textmagic")
	require.NoError(t, err)
	a.RequestConfig.Headers["X-TM-Username"] = "changed"
	b, err := presets.Config("textmagic")
	require.NoError(t, err)
	assert.Equal(t, "YOUR_USERNAME", b.RequestConfig.Headers["X-TM-Username"])
	assert.True(t, strings.HasPrefix(b.RequestConfig.Body, "base64://"))
	assert.True(t, strings.HasPrefix(b.RequestConfig.Response, "base64://"))
}

// BenchmarkPresetRender renders each preset's request for the test message:
// go test -run '^$' -bench BenchmarkPresetRender ./presets/
func BenchmarkPresetRender(b *testing.B) {
	for _, name := range presets.Names() {
		b.Run(name, func(b *testing.B) {
			courier, err := smscourier.New(presetConfig(b, name, ""))
			require.NoError(b, err)
			m := smscourier.Message{To: testTo, Body: testBody, IdempotencyKey: "k"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := courier.Render(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPresetEndpoints pins each preset's method and URL, before the tests
// above point it at a loopback gateway: the providers' documented hosts
// and paths, placeholders included.
func TestPresetEndpoints(t *testing.T) {
	want := map[string]string{
		"twilio":          "POST https://api.twilio.com/2010-04-01/Accounts/YOUR_ACCOUNT_SID/Messages.json",
		"vonage-sms":      "POST https://rest.nexmo.com/sms/json",
		"vonage-messages": "POST https://api.nexmo.com/v1/messages",
		"plivo":           "POST https://api.plivo.com/v1/Account/YOUR_AUTH_ID/Message/",
		"sinch":           "POST https://us.sms.api.sinch.com/xms/v1/YOUR_SERVICE_PLAN_ID/batches",
		"infobip":         "POST https://YOUR_BASE_URL.api.infobip.com/sms/3/messages",
		"telnyx":          "POST https://api.telnyx.com/v2/messages",
		"messagebird":     "POST https://rest.messagebird.com/messages",
		"brevo":           "POST https://api.brevo.com/v3/transactionalSMS/send",
		"textmagic":       "POST https://rest.textmagic.com/api/v2/messages",
		"webhook":         "POST https://sms.example.com/v1/messages",
	}
	assert.ElementsMatch(t, presets.Names(), slices.Collect(maps.Keys(want)))
	for _, name := range presets.Names() {
		cfg, err := presets.Config(name)
		require.NoError(t, err)
		assert.Equal(t, want[name], cfg.RequestConfig.Method+" "+cfg.RequestConfig.URL, name)
	}
}
