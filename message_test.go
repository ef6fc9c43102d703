package smscourier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier/internal/jsonnetutil"
	"github.com/smscourier/smscourier/smstest"
)

// secretData marks template data that must never appear in an error.
const secretData = "SECRET-7391"

// nestedArrays returns leaf inside n levels of []any.
func nestedArrays(n int, leaf any) any {
	v := leaf
	for range n {
		v = []any{v}
	}
	return v
}

// nestedObjects returns leaf inside n levels of map[string]any.
func nestedObjects(n int, leaf any) any {
	v := leaf
	for range n {
		v = map[string]any{"a": v}
	}
	return v
}

// tdNode is template data of a user's own type: encoding/json follows Next
// and leaves out Skip and hidden.
type tdNode struct {
	Next   *tdNode `json:"next,omitempty"`
	Skip   *tdNode `json:"-"`
	hidden *tdNode
}

// nodeChain returns n tdNodes, each the Next of the one before: n levels.
func nodeChain(n int) *tdNode {
	var head *tdNode
	for range n {
		head = &tdNode{Next: head}
	}
	return head
}

// deepMarshaler encodes itself as arrays nested int levels deep.
type deepMarshaler int

func (d deepMarshaler) MarshalJSON() ([]byte, error) {
	return []byte(strings.Repeat("[", int(d)) + strings.Repeat("]", int(d))), nil
}

// templateDataCases are template data at and over the limits. wantMsg is
// "" for data that is accepted.
func templateDataCases() []struct {
	name    string
	data    any
	wantMsg string
} {
	tooDeep := "template_data nests deeper than 64 levels"
	tooLarge := "template_data encodes to more than 65536 bytes"
	cyclic := new(any)
	*cyclic = cyclic
	return []struct {
		name    string
		data    any
		wantMsg string
	}{
		{"arrays 64 deep", nestedArrays(64, secretData), ""},
		{"objects 64 deep", nestedObjects(64, secretData), ""},
		{"own type 64 deep", nodeChain(64), ""},
		{"fields encoding/json leaves out are not counted", &tdNode{Skip: nodeChain(1000), hidden: nodeChain(1000)}, ""},
		{"encoding of exactly 65536 bytes", strings.Repeat("x", maxTemplateDataSize-2), ""},
		{"arrays 65 deep", nestedArrays(65, secretData), tooDeep},
		{"objects 65 deep", nestedObjects(65, secretData), tooDeep},
		{"own type 65 deep", nodeChain(65), tooDeep},
		{"arrays 100000 deep", nestedArrays(100000, secretData), tooDeep},
		{"objects 100000 deep", nestedObjects(100000, secretData), tooDeep},
		{"own type 100000 deep", nodeChain(100000), tooDeep},
		{"raw JSON 65 deep", json.RawMessage(strings.Repeat("[", 65) + `"` + secretData + `"` + strings.Repeat("]", 65)), tooDeep},
		{"a marshaler's output 65 deep", map[string]any{"m": deepMarshaler(64)}, tooDeep},
		{"encoding of 65537 bytes", secretData + strings.Repeat("x", maxTemplateDataSize-1-len(secretData)), tooLarge},
		{"a million elements", make([]int, 1e6), tooLarge},
		{"a large byte slice", make([]byte, 1e6), tooLarge},
		{"a cycle", cyclic, "template_data"},
		{"a value JSON cannot encode", map[string]any{"f": func() {}}, "template_data"},
	}
}

// TestTemplateDataLimits shows that template data over the limits is
// refused before rendering in every evaluation mode, without quoting it,
// and that data nested 100000 levels deep no longer crashes the process.
func TestTemplateDataLimits(t *testing.T) {
	g := newGateway(t, nil)
	modes := []struct {
		name string
		body string
		opts []Option
		fast bool
	}{
		{"fast path", "file://./testdata/sms.jsonnet", nil, true},
		{"in-process Jsonnet", "file://./testdata/context.jsonnet", nil, false},
		{"isolated", "file://./testdata/context.jsonnet", []Option{WithIsolatedTemplates(IsolationConfig{Timeout: 30 * time.Second})}, false},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			c, err := New(smsConfig(g.URL+"/send", mode.body), mode.opts...)
			require.NoError(t, err)
			require.Equal(t, mode.fast, c.fast != nil)
			for _, tc := range templateDataCases() {
				t.Run(tc.name, func(t *testing.T) {
					before := len(g.got())
					m := Message{To: "+1555", Body: "x", TemplateData: tc.data}
					_, err := c.SendMessage(context.Background(), m)
					if tc.wantMsg == "" {
						require.NoError(t, err)
						got := g.got()
						require.Len(t, got, before+1)
						if !mode.fast {
							var sent struct {
								TemplateData json.RawMessage `json:"template_data"`
							}
							require.NoError(t, json.Unmarshal([]byte(got[before].Body), &sent))
							want, err := json.Marshal(tc.data)
							require.NoError(t, err)
							assert.JSONEq(t, string(want), string(sent.TemplateData))
						}
						return
					}
					require.ErrorIs(t, err, ErrInvalidMessage)
					assert.Contains(t, err.Error(), tc.wantMsg)
					assert.NotContains(t, err.Error(), secretData)
					assert.Len(t, g.got(), before, "nothing is sent")
					_, rerr := c.Render(context.Background(), m)
					require.ErrorIs(t, rerr, ErrInvalidMessage)
					assert.Equal(t, err.Error(), rerr.Error())
				})
			}
		})
	}
}

// TestCheckTemplateDataEncodesOnce shows that the encoding checked is the
// one the template gets: encoding/json's, without HTML escaping.
func TestCheckTemplateDataEncodesOnce(t *testing.T) {
	type embedded struct {
		E string `json:"e"`
	}
	type withEmbedded struct {
		embedded
		T time.Time `json:"t"`
		N int       `json:"n,string"`
		Z []int     `json:"z,omitzero"`
	}
	for _, tc := range []struct {
		name string
		data any
		want string
	}{
		{"nil stays nil", nil, ""},
		{"map", map[string]any{"code": "<123>", "n": 3}, `{"code":"<123>","n":3}`},
		{"struct with an embedded struct", withEmbedded{embedded: embedded{"x"}, T: time.Unix(0, 0).UTC(), N: 7},
			`{"e":"x","t":"1970-01-01T00:00:00Z","n":"7"}`},
		{"raw JSON is compacted", json.RawMessage(`{ "a" : [ 1 ] }`), `{"a":[1]}`},
		{"typed nil", (*tdNode)(nil), `null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkTemplateData(tc.data)
			require.NoError(t, err)
			if tc.want == "" {
				assert.Nil(t, got)
				return
			}
			assert.Equal(t, json.RawMessage(tc.want), got)
		})
	}
}

// TestReplyDepthLimit shows what a response template gets as ctx.body, in
// process and in a worker: a reply that is one JSON value nested at most
// 64 levels deep as that value, anything else as its text.
func TestReplyDepthLimit(t *testing.T) {
	// message_id shows the type of ctx.body and its JSON.
	const template = `function(ctx) {message_id: std.type(ctx.body) + ' ' + (if std.isString(ctx.body) then ctx.body else std.manifestJsonMinified(ctx.body))}`
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		name, reply, want string
	}{
		{"an object", `{"id": 12345678901, "s": "\u00e9\n\"x", "a": [true, null, -1.5e3]}`,
			`object {"a":[true,null,-1500],"id":12345678901,"s":"é\n\"x"}`},
		{"arrays 64 deep", deep(64), "array " + deep(64)},
		{"objects 64 deep", strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64),
			"object " + strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64)},
		{"arrays 65 deep are text", deep(65), "string " + deep(65)},
		{"objects 65 deep are text", strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65),
			"string " + strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65)},
		{"brackets in strings do not count", `["` + strings.Repeat("[", 100) + `"]`, `array ["` + strings.Repeat("[", 100) + `"]`},
		{"text", "OK 42", "string OK 42"},
		{"invalid JSON is text", `{"a":`, `string {"a":`},
		{"two values are text", `{}{}`, `string {}{}`},
		{"duplicate keys: the last wins", `{"a":1,"a":2}`, `object {"a":2}`},
		{"a JSON string", ` "hi" `, `string hi`},
	}
	for _, mode := range []struct {
		name string
		opts []Option
	}{
		{"in-process", nil},
		{"isolated", []Option{WithIsolatedTemplates(IsolationConfig{Timeout: 30 * time.Second})}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
						_, _ = w.Write([]byte(tc.reply))
					})
					cfg := smsConfig(gw.URL+"/send", "file://./testdata/sms.jsonnet")
					cfg.RequestConfig.Response = b64(template)
					c, err := New(cfg, mode.opts...)
					require.NoError(t, err)
					res, err := c.SendMessage(context.Background(), Message{To: "+1555", Body: "x"})
					require.NoError(t, err)
					assert.Equal(t, tc.want, res.MessageID)
				})
			}
		})
	}
}

// TestReplyMemoryBounded shows that one send's extra memory stays small
// whatever a 16 KiB reply holds: go-jsonnet's parser never reads it.
// Not parallel, so that other tests do not allocate meanwhile.
func TestReplyMemoryBounded(t *testing.T) {
	const limit = 8 << 20
	n := maxReplyPrefix / 2
	for _, tc := range []struct{ name, reply string }{
		{"nested arrays", strings.Repeat("[", n) + strings.Repeat("]", n)},
		{"nested objects", strings.Repeat(`{"a":`, (maxReplyPrefix-1)/6) + "1" + strings.Repeat("}", (maxReplyPrefix-1)/6)},
		{"many 64-deep arrays", "[" + strings.Repeat(strings.Repeat("[", 63)+strings.Repeat("]", 63)+",", (maxReplyPrefix-2)/127-1) + "[]]"},
		{"many empty arrays", "[" + strings.Repeat("[],", (maxReplyPrefix-4)/3) + "[]]"},
		{"many numbers", "[" + strings.Repeat("1,", (maxReplyPrefix-3)/2) + "1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, len(tc.reply), maxReplyPrefix)
			// The first reply, {}, warms up the connection and the VM pool.
			gw := smstest.New(t)
			gw.Script(okReply(`{}`), okReply(tc.reply))
			cfg := smsConfig(gw.URL()+"/send", "file://./testdata/sms.jsonnet")
			cfg.RequestConfig.Response = b64(`function(ctx) {ok: ctx.status == 200, message_id: std.type(ctx.body)}`)
			c, err := New(cfg)
			require.NoError(t, err)
			send := func() {
				res, err := c.SendMessage(context.Background(), Message{To: "+1555", Body: "x"})
				require.NoError(t, err)
				assert.NotEmpty(t, res.MessageID)
			}
			send()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			send()
			runtime.ReadMemStats(&after)
			heap := after.TotalAlloc - before.TotalAlloc
			stack := max(int64(after.StackInuse)-int64(before.StackInuse), 0)
			t.Logf("%s: %d KiB allocated, stacks grew %d KiB", tc.name, heap>>10, stack>>10)
			assert.Less(t, heap+uint64(stack), uint64(limit), fmt.Sprintf("one send took %d MiB", (heap+uint64(stack))>>20))
		})
	}
}

// okReply answers 200 with body, as JSON.
func okReply(body string) smstest.Reply {
	return smstest.Reply{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
}

// TestBlankRecipient shows that a recipient that is empty or only spaces is
// refused before anything is sent, while spaces around a number are kept.
func TestBlankRecipient(t *testing.T) {
	g := newGateway(t, nil)
	form := smsConfig(g.URL+"/send", "file://./testdata/test_body.jsonnet")
	form.RequestConfig.Headers = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for _, tc := range []struct {
		name    string
		to      string
		refused bool
	}{
		{"empty", "", true},
		{"spaces", "   ", true},
		{"a no-break space", "\u00a0", true},
		{"an ideographic space", "\u3000", true},
		{"spaces around a number are kept", " +1555 ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(form)
			require.NoError(t, err)
			before := len(g.got())
			err = c.Send(context.Background(), tc.to, "x")
			_, rerr := c.Render(context.Background(), Message{To: tc.to, Body: "x"})
			if !tc.refused {
				require.NoError(t, err)
				require.NoError(t, rerr)
				got := g.got()
				require.Len(t, got, before+1)
				assert.Contains(t, got[before].Body, "To=+%2B1555+")
				return
			}
			require.ErrorIs(t, err, ErrInvalidMessage)
			require.ErrorIs(t, rerr, ErrInvalidMessage)
			assert.Len(t, g.got(), before, "nothing is sent")
		})
	}
}

// FuzzReplyValue checks decodeJSON and valueNode against encoding/json:
// a reply is decoded exactly when it is one JSON value nested at most
// maxReplyDepth levels deep, and the template then sees the same value.
func FuzzReplyValue(f *testing.F) {
	for _, seed := range []string{
		`{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[[[]]]`, `"x"`, `1e3`, `-0`, `{"a":1,"a":2}`,
		`{"a":`, `{}{}`, ` [ ] `, `"\ud800"`, "\"\xff\"", strings.Repeat("[", 65) + strings.Repeat("]", 65),
		`["]]]]"]`, `"\\"`, `1e400`,
	} {
		f.Add([]byte(seed))
	}
	echo, err := compileTemplate("echo", []byte("function(ctx) ctx"))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decodeJSON(b, maxReplyDepth)
		if !json.Valid(b) || nestsDeeper(b, maxReplyDepth) {
			require.False(t, ok)
			return
		}
		require.True(t, ok)
		out, err := echo.evaluateNow(jsonnetutil.ValueNode(v))
		var want any
		if json.Unmarshal(b, &want) != nil { // a number beyond float64
			require.ErrorContains(t, err, "overflow")
			return
		}
		require.NoError(t, err)
		var got any
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Equal(t, want, got)
	})
}

// TestCheckTemplateDataErrorsAreSentinels shows that every refusal wraps
// ErrInvalidMessage.
func TestCheckTemplateDataErrorsAreSentinels(t *testing.T) {
	for _, err := range []error{errTemplateDataDepth, errTemplateDataSize, errTemplateDataChain} {
		assert.True(t, errors.Is(err, ErrInvalidMessage), err.Error())
	}
}

// TestRequesterValidated checks Message.Requester's limits.
func TestRequesterValidated(t *testing.T) {
	for name, tc := range map[string]struct {
		requester string
		ok        bool
	}{
		"empty":             {"", true},
		"account id":        {"acct-42", true},
		"ip":                {"2001:db8::1", true},
		"255 bytes":         {strings.Repeat("a", 255), true},
		"256 bytes":         {strings.Repeat("a", 256), false},
		"control character": {"a\nb", false},
		"invalid UTF-8":     {"a\xffb", false},
	} {
		t.Run(name, func(t *testing.T) {
			err := Message{To: "+14134242223", Body: "x", Requester: tc.requester}.Validate()
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidMessage)
			assert.NotContains(t, err.Error(), tc.requester)
		})
	}
}

// TestBlockedError checks what a guard's refusal says and wraps.
func TestBlockedError(t *testing.T) {
	err := error(&BlockedError{Rule: "prefix_per_10m", Country: "GB", RetryAfter: 90 * time.Second})
	assert.Equal(t, "smscourier: blocked by prefix_per_10m (country GB); allowed again in 1m30s", err.Error())
	assert.ErrorIs(t, err, ErrBlocked)
	assert.Equal(t, ClassBlocked, ClassOf(fmt.Errorf("smscourier: x: %w", err)))
	assert.Equal(t, "smscourier: blocked by number_type", (&BlockedError{Rule: "number_type"}).Error())
}
