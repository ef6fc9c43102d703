package smscourier

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"

	"github.com/google/go-jsonnet/ast"
)

// decodeJSON decodes b, one JSON value with optional surrounding JSON
// white space,
// when its objects and arrays nest at most maxDepth levels: objects as
// map[string]any (the last of duplicate keys wins), arrays as []any,
// numbers as json.Number. ok is false for anything else, deeper nesting
// included; the depth is checked first, without recursion, so a deep input
// costs one pass over its bytes.
func decodeJSON(b []byte, maxDepth int) (v any, ok bool) {
	if nestsDeeper(b, maxDepth) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more than one value
	}
	return v, true
}

// valueNode returns the Jsonnet AST of v, a value decoded by decodeJSON,
// so that go-jsonnet's parser never reads data from outside. It recurses
// once per level of v, which decodeJSON bounded.
func valueNode(v any) ast.Node {
	switch x := v.(type) {
	case nil:
		return &ast.LiteralNull{}
	case bool:
		return &ast.LiteralBoolean{Value: x}
	case json.Number:
		// go-jsonnet reads the text with strconv.ParseFloat, as it would
		// read a number literal; a number too large for a float64 is an
		// "overflow" error when evaluated.
		return &ast.LiteralNumber{OriginalString: x.String()}
	case float64:
		return &ast.LiteralNumber{OriginalString: strconv.FormatFloat(x, 'g', -1, 64)}
	case string:
		return &ast.LiteralString{Value: x}
	case []any:
		elems := make([]ast.CommaSeparatedExpr, len(x))
		for i, e := range x {
			elems[i].Expr = valueNode(e)
		}
		return &ast.Array{Elements: elems}
	case map[string]any:
		fields := make(ast.DesugaredObjectFields, 0, len(x))
		for k, e := range x {
			fields = append(fields, objectField(k, valueNode(e)))
		}
		return &ast.DesugaredObject{Fields: fields}
	default:
		panic("smscourier: valueNode of a value decodeJSON does not make")
	}
}

// objectField is the field name: body of a Jsonnet object, as in JSON.
func objectField(name string, body ast.Node) ast.DesugaredObjectField {
	return ast.DesugaredObjectField{Name: &ast.LiteralString{Value: name}, Body: body, Hide: ast.ObjectFieldInherit}
}
