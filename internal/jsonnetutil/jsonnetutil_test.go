package jsonnetutil

import (
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// evaluate runs src with ctx bound to {} on a NewVM.
func evaluate(t *testing.T, src string) error {
	t.Helper()
	node, err := jsonnet.SnippetToAST("t.jsonnet", src)
	require.NoError(t, err)
	vm := NewVM()
	vm.TLACode("ctx", "{}")
	_, err = vm.Evaluate(node)
	require.Error(t, err)
	return err
}

func TestEvalError(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      *Error // nil: ErrCancel
	}{
		{"cancel", "function(ctx) error 'cancel'", nil},
		{"error value", "function(ctx)\n  error 'no route'", &Error{Where: "t.jsonnet:2:3", Msg: "no route", Size: 8}},
		{"std function fails", "function(ctx) {\n  n: std.parseInt('x'),\n}", &Error{Where: "t.jsonnet:2:6"}},
		{"stack limit", "function(ctx) local f(n) = 1 + f(n + 1); f(0)", &Error{Where: "t.jsonnet:1:32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := EvalError("t.jsonnet", evaluate(t, tc.src))
			if tc.want == nil {
				require.ErrorIs(t, err, ErrCancel)
				return
			}
			var got *Error
			require.ErrorAs(t, err, &got)
			assert.Equal(t, tc.want.Where, got.Where)
			if tc.want.Msg != "" {
				assert.Equal(t, *tc.want, *got)
			}
		})
	}
}

func TestNewErrorKeepsAPrefix(t *testing.T) {
	msg := strings.Repeat("é", MaxErrorKept) // 2 bytes each
	e := NewError("t", msg, 0)
	assert.Len(t, e.Msg, MaxErrorKept)
	assert.Equal(t, len(msg), e.Size)
	e = NewError("t", strings.Repeat("x", MaxErrorKept-1)+"é", 0)
	assert.Len(t, e.Msg, MaxErrorKept-1, "cut on a character boundary")
	assert.Equal(t, 1000, NewError("", "short", 1000).Size)
	assert.Equal(t, "t: m", NewError("t", "m", 0).Error())
}

func TestRefuseConstructs(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		allowTailstrict bool
	}{
		{"import", "local x = import 'x';\nx", "template t:1:11: import is not allowed in templates", false},
		{"importstr", "{\n  p: importstr '/etc/passwd',\n}", "template t:2:6: importstr is not allowed in templates", false},
		{"importbin", "importbin 'x'", "template t:1:1: importbin is not allowed in templates", false},
		{"tailstrict", "local f(x) = x; f(1) tailstrict", "template t:1:17: tailstrict is not allowed in templates", false},
		{"tailstrict allowed", "local f(x) = x; f(1) tailstrict", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node, err := jsonnet.SnippetToAST("t", tc.src)
			require.NoError(t, err)
			err = RefuseConstructs("t", node, tc.allowTailstrict)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}

func TestStaticError(t *testing.T) {
	_, err := jsonnet.SnippetToAST("t", "{\n  a: ,\n}")
	require.Error(t, err)
	assert.Regexp(t, `^template t:2:6: \S`, StaticError("t", err).Error())
	assert.NoError(t, CheckSize("t", make([]byte, MaxSource)))
	assert.EqualError(t, CheckSize("t", make([]byte, MaxSource+1)), "template t: source is 262145 bytes, over the limit of 262144")
}
