package jsontext

import (
	"encoding/json"
	"testing"
)

func TestScalar(t *testing.T) {
	for raw, want := range map[string]string{
		`"abc"`:                "abc",
		` "a\"b" `:             `a"b`,
		`12345678901234567890`: "12345678901234567890",
		`1.5e3`:                "1.5e3",
		`null`:                 "",
		`{"a":1}`:              "",
		`[1]`:                  "",
		`true`:                 "",
		``:                     "",
		`   `:                  "",
	} {
		if got := Scalar(json.RawMessage(raw)); got != want {
			t.Errorf("Scalar(%q) = %q, want %q", raw, got, want)
		}
	}
}
