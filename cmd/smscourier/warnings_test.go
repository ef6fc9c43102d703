package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateWarnings(t *testing.T) {
	doc := func(method, from, value string) string {
		return `courier:
  sms:
    enabled: true
    from: "` + from + `"
    request_config:
      url: https://sms.example.com/v1/send
      method: ` + method + `
      auth:
        type: api_key
        config: { name: X-API-Key, value: "` + value + `", in: header }
`
	}
	cases := []struct {
		name, method, from, value string
		warnings                  []string
	}{
		{"clean", "POST", "+12065550110", apiKey, nil},
		{"lower-case method", "post", "+12065550110", apiKey, []string{
			"courier.sms.request_config.method is not upper case"}},
		{"non-standard method", "SEND", "+12065550110", apiKey, []string{
			"courier.sms.request_config.method is not a standard HTTP method"}},
		{"placeholders", "POST", "YOUR_SENDER", "YOUR_API_KEY", []string{
			"courier.sms.from still holds a placeholder (YOUR_...)",
			"courier.sms.request_config.auth.config.value still holds a placeholder (YOUR_...)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"kratos.yml": doc(tc.method, tc.from, tc.value)})
			r := runCLI(t, dir, nil, "validate", "--config", "kratos.yml")
			assert.Equal(t, exitOK, r.code, "warnings do not fail validate")
			assert.True(t, strings.HasPrefix(r.stdout, "valid: "), r.stdout)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if tc.warnings == nil {
				assert.Empty(t, r.stderr)
				return
			}
			require.Len(t, lines, len(tc.warnings), r.stderr)
			for i, w := range tc.warnings {
				assert.True(t, strings.HasPrefix(lines[i], "smscourier validate: warning: "+w), lines[i])
			}
			assert.NotContains(t, r.stderr, "YOUR_API_KEY", "values are not printed")
		})
	}
}
