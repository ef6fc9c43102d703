package smscourier

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
