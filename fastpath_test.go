package smscourier

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-jsonnet"
	"github.com/smscourier/smscourier/internal/jsonnetfast"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastTemplates are templates inside the fast-path subset, beside those in
// testdata/. Each exercises part of the subset.
var fastTemplates = []string{
	`function(ctx) {to: ctx.to, from: ctx.from, body: ctx.body}`,
	`function(ctx) {To: ctx['recipient'], MessageType: ctx.message_type, Subject: ctx.subject, T: ctx.template_type, K: ctx.idempotency_key}`,
	`function(ctx) {n: 1, f: 1.5, neg: -2, big: 1e21, tiny: 0.1, e: 2.5e-7, t: true, no: false, z: null, s: "lit\u0001\"\\/"}`,
	`function(ctx) {list: ['x', ctx.to, 3, true, null], empty: [], obj: {}, nested: {deep: {to: ctx.to, arr: [[], [ctx.body]]}}}`,
	`function(ctx) {msg: 'Code: ' + ctx.body + ' (' + ctx.from + ')'}`,
	`function(ctx) {d: std.lstripChars(ctx.to, '+'), r: std.rstripChars(ctx.body, ' .!'), s: std.stripChars(ctx.from, '+ ')}`,
	`function(ctx) {r: std.strReplace(ctx.body, 'a', 'ä'), lo: std.asciiLower(ctx.body), up: std.asciiUpper(ctx.from + 'ß')}`,
	`function(ctx) {f: std.format('%s: %s%%', [ctx.to, ctx.body]), g: std.format('<%s>', ctx.from), h: std.format('none', [])}`,
	`function(ctx) {hidden:: ctx.to, shown::: ctx.body, visible: 'v'}`,
	`function(ctx) {"b": 1, "a": 2, "é": 3, "Z": 4, "": 5, "aa": 6}`,
	`function(ctx) {channel: 'sms', message_type: 'text', to: std.lstripChars(ctx.to, '+'), from: ctx.from, text: ctx.body}`,
	`function(ctx) {messages: [{sender: ctx.from, destinations: [{to: ctx.to}], content: {text: ctx.body}}]}`,
	`function(ctx) 'To ' + ctx.to + ': ' + ctx.body`,
	`function(ctx) [ctx.to, 1]`,
	`function(ctx) {eq: ctx.to == ctx.from, ne: ctx.body != '', not: !(ctx.to == '+1'), nn: !!(ctx.body == std.asciiLower(ctx.body))}`,
	`function(ctx) {t: if ctx.body == '' then 'empty' else if ctx.to != ctx.from then {d: [ctx.to, 1]} else null, u: if !(ctx.to != '') then 1}`,
	`function(ctx) {type: if std.stripChars(ctx.body, 'abc ' + '\n\\€') == '' then 'text' else 'unicode', flag: ctx.body != '', n: if ctx.to == '' then null else 7, list: [if ctx.from == '' then 'none' else ctx.from, false]}`,
	// The GSM-7 check of the vonage-sms and brevo presets.
	`function(ctx) {text: ctx.body, type: if std.stripChars(ctx.body, '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' + '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà' + '\f^{}\\[~]|€') == '' then 'text' else 'unicode'}`,
	`function(ctx) if true then {a: ctx.to} else {b: ctx.from}`,
	`function(ctx) {f: std.format('%s' + ': %s!', [ctx.to, ctx.body]), g: std.strReplace(ctx.body, 'a' + 'b', 'c' + 'd')}`,
}

// slowTemplates are outside the subset and must fall back to go-jsonnet.
var slowTemplates = []string{
	`function(ctx) {data: ctx.template_data}`,
	`function(ctx) {code: ctx.template_data.code}`,
	`function(ctx) if ctx.to == '' then error 'cancel' else {to: ctx.to}`,
	`function(ctx) local x = ctx.to; {to: x}`,
	`function(ctx) {to: ctx.to, n: std.length(ctx.body)}`,
	`function(ctx) {a: ctx.to + 1}`,
	`function(ctx) {a: std.format('%d', [1])}`,
	`function(ctx) {a: std.format('%s %s', [ctx.to])}`,
	`function(ctx) {a: std.strReplace(ctx.to, '', 'x')}`,
	`function(ctx) {a: std.lstripChars(ctx.to, ctx.from)}`,
	`function(ctx) {[ctx.to]: 1}`,
	`function(ctx) {a+: 'x'}`,
	`function(ctx) {a: self.b, b: 1}`,
	`function(ctx) {assert ctx.to != '', a: 1}`,
	`function(ctx) '%s' % ctx.to`,
	`function(ctx, extra=1) {a: ctx.to}`,
	`function(c) {a: c.to}`,
	`{a: 1}`,
	`function(ctx) {a: std.asciiLower(ctx.to, 1)}`,
	`function(ctx) {a: std.native('x')}`,
	`function(ctx) {a: if ctx.to then 1 else 2}`,
	`function(ctx) {a: ctx.to == 1}`,
	`function(ctx) {a: ctx.to < ctx.from}`,
	`function(ctx) {a: !ctx.to}`,
	`function(ctx) {a: std.lstripChars(ctx.to, '+' + ctx.from)}`,
	`function(ctx) {a: if ctx.to == '' then ctx.template_data else 1}`,
}

// allFastSeeds returns the testdata templates and fastTemplates.
func allFastSeeds(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.jsonnet")
	require.NoError(t, err)
	var srcs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		srcs = append(srcs, string(b))
	}
	return append(srcs, fastTemplates...)
}

// reference renders through go-jsonnet, as the slow path does.
func reference(t testing.TB, tpl *template, enc bodyEncoding, fc *jsonnetfast.Ctx) ([]byte, error) {
	ctxJSON, err := marshalContext(&templateContext{
		From: fc[jsonnetfast.From], To: fc[jsonnetfast.To], Body: fc[jsonnetfast.Body], Recipient: fc[jsonnetfast.Recipient],
		MessageType: fc[jsonnetfast.MessageType], Subject: fc[jsonnetfast.Subject], TemplateType: fc[jsonnetfast.TemplateType],
		IdempotencyKey: fc[jsonnetfast.IdempotencyKey], TemplateData: struct{}{}, RequestHeaders: map[string][]string{},
	})
	require.NoError(t, err)
	vm := jsonnet.MakeVM() // the reference's way, independent of ours
	vm.TLACode("ctx", ctxJSON)
	out, err := vm.Evaluate(tpl.node)
	if err != nil {
		return nil, err
	}
	return encodeBody(enc, out)
}

func TestFastPathSubset(t *testing.T) {
	for _, src := range fastTemplates {
		t.Run(src, func(t *testing.T) {
			tpl, err := compileTemplate("t", []byte(src))
			require.NoError(t, err)
			assert.NotNil(t, jsonnetfast.Compile(tpl.node, encodeJSON), "inside the subset")
		})
	}
	for _, src := range slowTemplates {
		t.Run("falls back: "+src, func(t *testing.T) {
			tpl, err := compileTemplate("t", []byte(src))
			require.NoError(t, err)
			for _, enc := range []bodyEncoding{encodeJSON, encodeForm, encodeRaw} {
				assert.Nil(t, jsonnetfast.Compile(tpl.node, enc))
			}
			gw := newGateway(t, nil)
			c, err := New(smsConfig(gw.URL+"/send", b64(src)))
			require.NoError(t, err)
			assert.Nil(t, c.fast)
		})
	}
	t.Run("the testdata templates take the fast path", func(t *testing.T) {
		for _, name := range []string{"sms.jsonnet", "test_body.jsonnet", "twilio.request.jsonnet", "sms-to.jsonnet"} {
			c, err := New(smsConfig("http://127.0.0.1:1/send", "file://./testdata/"+name))
			require.NoError(t, err)
			assert.NotNil(t, c.fast, name)
		}
	})
	t.Run("the encoding decides", func(t *testing.T) {
		for _, tc := range []struct {
			src  string
			enc  bodyEncoding
			fast bool
		}{
			{`function(ctx) {a: {b: 1}}`, encodeForm, false},
			{`function(ctx) {a: [[1]]}`, encodeForm, false},
			{`function(ctx) {a: [1, 'x', null]}`, encodeForm, true},
			{`function(ctx) ctx.to`, encodeForm, false},
			{`function(ctx) ctx.to`, encodeRaw, true},
			{`function(ctx) {a: 1}`, encodeRaw, false},
			{`function(ctx) {a: if ctx.to == '' then 'x' else [1]}`, encodeForm, false}, // conservative: a branch that is not a scalar
			{`function(ctx) {a: if ctx.to == '' then 'x' else {b: 1}}`, encodeForm, false},
			{`function(ctx) {a: [if ctx.to == '' then 'x' else [1]]}`, encodeForm, false},
			{`function(ctx) {a: ctx.to == ''}`, encodeForm, true},
			{`function(ctx) if ctx.to == '' then 'x' else 'y'`, encodeRaw, false},
		} {
			tpl, err := compileTemplate("t", []byte(tc.src))
			require.NoError(t, err)
			assert.Equal(t, tc.fast, jsonnetfast.Compile(tpl.node, tc.enc) != nil, "%s", tc.src)
		}
	})
}

// FuzzFastPathMatchesJsonnet is the differential test: for every template in
// the subset, every encoding it compiles for, and arbitrary ctx strings, the
// fast path yields exactly the bytes go-jsonnet's path yields.
func FuzzFastPathMatchesJsonnet(f *testing.F) {
	seeds := allFastSeeds(f)
	type compiled struct {
		tpl  *template
		fast map[bodyEncoding]*jsonnetfast.Template
	}
	var all []compiled
	for _, src := range seeds {
		tpl, err := compileTemplate("t", []byte(src))
		require.NoError(f, err)
		c := compiled{tpl: tpl, fast: map[bodyEncoding]*jsonnetfast.Template{}}
		for _, enc := range []bodyEncoding{encodeJSON, encodeForm, encodeRaw} {
			if ft := jsonnetfast.Compile(tpl.node, enc); ft != nil {
				c.fast[enc] = ft
			}
		}
		if len(c.fast) > 0 {
			all = append(all, c)
		}
	}
	require.NotEmpty(f, all)
	for i := range all {
		f.Add(uint8(i), "+14134242223", "+13104661805", "Your code is 123456", "")
	}
	f.Add(uint8(0), "", "", "", "")
	f.Add(uint8(1), "+1 \"quoted\" \\ back", "ÄCME ß", "line\nbreak\ttab\x00nul\x7fdel\u0085nel", "verification_code")
	f.Add(uint8(2), "++++123+++", " + ", "emoji 😀 and \u2028 and <&>", "%s %d %%")
	f.Add(uint8(5), "aAäÄzZ", "ß", "aaa", "\u00a0")
	f.Fuzz(func(t *testing.T, which uint8, to, from, body, ttype string) {
		for _, s := range []string{to, from, body, ttype} {
			if !utf8.ValidString(s) || len(s) > 256 {
				return // messages are valid UTF-8; go-jsonnet's string helpers are quadratic
			}
		}
		c := all[int(which)%len(all)]
		fc := jsonnetfast.Ctx{from, to, body, to, "sms", "", ttype, "key-" + strings.Repeat("k", len(ttype)%3)}
		for enc, ft := range c.fast {
			want, werr := reference(t, c.tpl, enc, &fc)
			got := ft.Render(&fc, nil)
			require.NoError(t, werr, "go-jsonnet failed where the fast path cannot")
			require.Equal(t, string(want), string(got), "encoding %d", enc)
		}
	})
}

// TestFastPathBodyLimit checks that WithMaxBodySize applies to the body on
// both paths alike: a form body is shorter than go-jsonnet's JSON output.
func TestFastPathBodyLimit(t *testing.T) {
	for _, limit := range []int{9, 10, 11, 22, 23} {
		var results []string
		for _, src := range []string{`function(ctx) {to: ctx.to}`, `function(ctx) local t = ctx.to; {to: t}`} {
			for _, ct := range []string{"application/x-www-form-urlencoded", "application/json"} {
				cfg := smsConfig("http://127.0.0.1:1/send", b64(src))
				cfg.RequestConfig.Headers = map[string]string{"Content-Type": ct}
				c, err := New(cfg, WithMaxBodySize(limit))
				require.NoError(t, err)
				assert.Equal(t, !strings.Contains(src, "local"), c.fast != nil, "which path")
				req, err := c.Render(context.Background(), Message{To: "+15551", Body: "x"})
				if err != nil {
					results = append(results, ct+": "+err.Error())
					continue
				}
				body, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				results = append(results, ct+": "+string(body))
			}
		}
		assert.Equal(t, results[:2], results[2:], "limit %d: the fast path and go-jsonnet agree", limit)
	}
}

// plusChain returns a template of at most size bytes: head, then the
// parts, cycled, each after a +, then tail.
func plusChain(size int, head string, parts []string, tail string) string {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; b.Len()+1+len(parts[i%len(parts)])+len(tail) <= size; i++ {
		b.WriteByte('+')
		b.WriteString(parts[i%len(parts)])
	}
	b.WriteString(tail)
	return b.String()
}

// TestFastPathCompileChainLinear checks that New, in trusted mode, accepts a
// + chain as long as a template may be and takes the fast path for it
// (other modes look for the fast path only in sources up to
// maxFastPathSource). The compile's
// linear cost is tested in internal/jsonnetfast.
func TestFastPathCompileChainLinear(t *testing.T) {
	t.Run("New takes the fast path for a 256 KiB chain", func(t *testing.T) {
		src := plusChain(maxTemplateSource, `function(ctx) {Body: ctx.body`, []string{`'x'`, `ctx.to`, `''`, `"y"`}, `}`)
		require.Greater(t, len(src), maxTemplateSource-8)
		c, err := New(smsConfig("http://127.0.0.1:1/send", b64(src)), WithTrustedTemplates())
		require.NoError(t, err)
		require.NotNil(t, c.fast)
		req, err := c.Render(context.Background(), Message{To: "+15551", Body: "b"})
		require.NoError(t, err)
		body, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(body), "{\n   \"Body\": \"bx+15551y"), "body starts %.40q", body)
	})
}
