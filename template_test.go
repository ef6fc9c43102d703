package smscourier

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzFormEncode checks that form encoding never panics, fails only with
// ErrTemplate, and round-trips every string field it encodes.
func FuzzFormEncode(f *testing.F) {
	for _, seed := range []string{
		`{"to":"+14134242223","from":"+13104661805","body":"test-sms-body"}`,
		`{"n":1.5e3,"t":true,"f":false,"z":null,"a":["x",2,null]}`,
		`{"nested":{"a":1}}`,
		`{"a":[[1]]}`,
		`"not an object"`,
		`{"k&=?":"v +%20\u0000é"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return // the template engine only ever hands over valid JSON
		}
		out, err := formEncode(in)
		if err != nil {
			require.ErrorIs(t, err, ErrTemplate)
			return
		}
		values, err := url.ParseQuery(string(out))
		require.NoError(t, err)
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(in), &obj))
		for k, v := range obj {
			if s, ok := v.(string); ok {
				require.Equal(t, []string{s}, values[k], "field %q", k)
			}
		}
	})
}
