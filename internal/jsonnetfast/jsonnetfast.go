// Package jsonnetfast renders body templates of a fixed shape without
// go-jsonnet: object and array literals with literal keys, ctx string
// fields, string, number, boolean and null literals, string concatenation
// with +, std.lstripChars, std.rstripChars, std.stripChars,
// std.strReplace, std.asciiLower, std.asciiUpper and std.format with %s,
// and string comparisons with == and != (negated with !), as values or as
// the condition of if-then-else. Compile recognises the shape on the
// parsed AST; the caller evaluates everything else with go-jsonnet. The
// output is byte-identical to go-jsonnet's, encoded the way the courier
// encodes go-jsonnet's output (a differential fuzz test in the courier
// holds it to that).
package jsonnetfast

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/go-jsonnet/ast"
)

// Encoding is how a template's output becomes the request body.
type Encoding int

// The encodings, chosen from the Content-Type.
const (
	JSON Encoding = iota // the manifested JSON as it is
	Form                 // an object, form-encoded
	Raw                  // a string, sent verbatim
)

// Field indexes the ctx string fields a template can read.
type Field int

// The ctx string fields, named after their keys in ctx.
const (
	From Field = iota
	To
	Body
	Recipient
	MessageType
	Subject
	TemplateType
	IdempotencyKey
	NumFields
)

var ctxFields = map[string]Field{
	"from":            From,
	"to":              To,
	"body":            Body,
	"recipient":       Recipient,
	"message_type":    MessageType,
	"subject":         Subject,
	"template_type":   TemplateType,
	"idempotency_key": IdempotencyKey,
}

// Ctx holds the ctx string fields of one message, indexed by Field.
type Ctx [NumFields]string

// fexpr is a compiled expression.
type fexpr interface{ isFexpr() }

// fstr is an expression whose value is a string.
type fstr interface {
	fexpr
	eval(c *Ctx) string
}

// fbool is an expression whose value is a boolean.
type fbool interface {
	fexpr
	test(c *Ctx) bool
}

type (
	flitString string
	fctxField  Field
	fconcat    []fstr // all parts concatenated
	fstrip     struct {
		arg         fstr
		chars       string
		left, right bool
	}
	freplace struct {
		arg      fstr
		from, to string
	}
	fcase struct {
		arg   fstr
		upper bool
	}
	fformat struct {
		lits []string // len(args)+1 literal pieces around the args
		args []fstr
	}
	flitNumber float64
	flitBool   bool
	flitNull   struct{}
	fobject    struct {
		keys []string // sorted, visible fields only
		vals []fexpr
	}
	farray []fexpr
	// fequal compares two strings, as == (or != when negate) does. go-jsonnet
	// compares code points; messages and configs are valid UTF-8, so
	// comparing bytes is the same.
	fequal struct {
		a, b   fstr
		negate bool
	}
	fnot  struct{ b fbool }
	fcond struct { // if cond then yes else no
		cond    fbool
		yes, no fexpr
	}
)

func (flitString) isFexpr() {}
func (fctxField) isFexpr()  {}
func (fconcat) isFexpr()    {}
func (fstrip) isFexpr()     {}
func (freplace) isFexpr()   {}
func (fcase) isFexpr()      {}
func (fformat) isFexpr()    {}
func (flitNumber) isFexpr() {}
func (flitBool) isFexpr()   {}
func (flitNull) isFexpr()   {}
func (fobject) isFexpr()    {}
func (farray) isFexpr()     {}
func (fequal) isFexpr()     {}
func (fnot) isFexpr()       {}
func (fcond) isFexpr()      {}

func (b flitBool) test(*Ctx) bool { return bool(b) }
func (e fequal) test(c *Ctx) bool { return (e.a.eval(c) == e.b.eval(c)) != e.negate }
func (n fnot) test(c *Ctx) bool   { return !n.b.test(c) }

// pick returns the branch the condition selects, through nested
// conditionals.
func (f fcond) pick(c *Ctx) fexpr {
	v := f.yes
	if !f.cond.test(c) {
		v = f.no
	}
	if inner, ok := v.(fcond); ok {
		return inner.pick(c)
	}
	return v
}

func (s flitString) eval(*Ctx) string  { return string(s) }
func (f fctxField) eval(c *Ctx) string { return c[f] }

func (parts fconcat) eval(c *Ctx) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.eval(c))
	}
	return b.String()
}

// eval strips leading and/or trailing code points found in chars, as
// std.lstripChars and friends do.
func (s fstrip) eval(c *Ctx) string {
	v := s.arg.eval(c)
	if s.left {
		for v != "" {
			r, n := utf8.DecodeRuneInString(v)
			if !strings.ContainsRune(s.chars, r) {
				break
			}
			v = v[n:]
		}
	}
	if s.right {
		for v != "" {
			r, n := utf8.DecodeLastRuneInString(v)
			if !strings.ContainsRune(s.chars, r) {
				break
			}
			v = v[:len(v)-n]
		}
	}
	return v
}

func (r freplace) eval(c *Ctx) string { return strings.ReplaceAll(r.arg.eval(c), r.from, r.to) }

// eval maps ASCII letters only, as std.asciiLower and std.asciiUpper do.
func (f fcase) eval(c *Ctx) string {
	v := f.arg.eval(c)
	if f.upper {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r - 32
			}
			return r
		}, v)
	}
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 32
		}
		return r
	}, v)
}

func (f fformat) eval(c *Ctx) string {
	var b strings.Builder
	for i, a := range f.args {
		b.WriteString(f.lits[i])
		b.WriteString(a.eval(c))
	}
	b.WriteString(f.lits[len(f.args)])
	return b.String()
}

// Template is a template compiled for one encoding. It is immutable and
// safe for concurrent use.
type Template struct {
	root fexpr
	enc  Encoding
}

// Compile returns the compiled form of node, a parsed template, for the
// given body encoding, or nil when the template is outside the subset (or
// its output could not be encoded the way go-jsonnet's path would fail or
// succeed): then go-jsonnet must evaluate it. It takes time linear in the
// size of node.
func Compile(node ast.Node, enc Encoding) *Template {
	fn, ok := node.(*ast.Function)
	if !ok || len(fn.Parameters) != 1 || fn.Parameters[0].Name != "ctx" || fn.Parameters[0].DefaultArg != nil {
		return nil
	}
	root, ok := compileExpr(fn.Body)
	if !ok {
		return nil
	}
	switch enc {
	case Form:
		obj, ok := root.(fobject)
		if !ok {
			return nil
		}
		for _, v := range obj.vals {
			if !formEncodable(v) {
				return nil
			}
		}
	case Raw:
		if _, ok := root.(fstr); !ok {
			return nil
		}
	}
	return &Template{root: root, enc: enc}
}

// formEncodable reports whether v is a scalar or an array of scalars.
func formEncodable(v fexpr) bool {
	if arr, ok := v.(farray); ok {
		for _, e := range arr {
			if !fastFormScalar(e) {
				return false
			}
		}
		return true
	}
	return fastFormScalar(v)
}

// fastFormScalar reports whether v is a scalar whatever the message: a
// conditional must be one in both branches.
func fastFormScalar(v fexpr) bool {
	switch x := v.(type) {
	case fobject, farray:
		return false
	case fcond:
		return fastFormScalar(x.yes) && fastFormScalar(x.no)
	}
	return true
}

func compileExpr(n ast.Node) (fexpr, bool) {
	switch x := n.(type) {
	case *ast.LiteralString:
		return flitString(x.Value), true
	case *ast.LiteralNumber:
		f, err := strconv.ParseFloat(x.OriginalString, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, false
		}
		return flitNumber(f), true
	case *ast.Conditional:
		cond, ok := compileBool(x.Cond)
		if !ok {
			return nil, false
		}
		yes, ok := compileExpr(x.BranchTrue)
		if !ok {
			return nil, false
		}
		no, ok := compileExpr(x.BranchFalse) // the desugarer made a missing else null
		if !ok {
			return nil, false
		}
		return fcond{cond: cond, yes: yes, no: no}, true
	case *ast.Binary:
		if x.Op == ast.BopManifestEqual || x.Op == ast.BopManifestUnequal {
			return compileBool(x)
		}
		return compileString(x)
	case *ast.Unary:
		if x.Op == ast.UopNot {
			return compileBool(x)
		}
		if num, ok := x.Expr.(*ast.LiteralNumber); ok && x.Op == ast.UopMinus {
			f, ok := compileExpr(num)
			if !ok {
				return nil, false
			}
			return -f.(flitNumber), true
		}
		return nil, false
	case *ast.LiteralBoolean:
		return flitBool(x.Value), true
	case *ast.LiteralNull:
		return flitNull{}, true
	case *ast.Array:
		arr := make(farray, 0, len(x.Elements))
		for _, e := range x.Elements {
			v, ok := compileExpr(e.Expr)
			if !ok {
				return nil, false
			}
			arr = append(arr, v)
		}
		return arr, true
	case *ast.DesugaredObject:
		return compileObject(x)
	default:
		return compileString(n)
	}
}

func compileObject(x *ast.DesugaredObject) (fexpr, bool) {
	if len(x.Asserts) > 0 {
		return nil, false
	}
	for _, l := range x.Locals { // only the implicit `local $ = self`
		if _, ok := l.Body.(*ast.Self); !ok || l.Variable != "$" {
			return nil, false
		}
	}
	obj := fobject{}
	seen := make(map[string]bool, len(x.Fields))
	type field struct {
		key string
		val fexpr
	}
	var fields []field
	for _, f := range x.Fields {
		name, ok := f.Name.(*ast.LiteralString)
		if !ok || f.PlusSuper || seen[name.Value] {
			return nil, false
		}
		seen[name.Value] = true
		v, ok := compileExpr(f.Body)
		if !ok {
			return nil, false
		}
		if f.Hide != ast.ObjectFieldHidden {
			fields = append(fields, field{name.Value, v})
		}
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].key < fields[j].key })
	for _, f := range fields {
		obj.keys = append(obj.keys, f.key)
		obj.vals = append(obj.vals, f.val)
	}
	return obj, true
}

// compileBool compiles an expression that must yield a boolean: a boolean
// literal, a comparison of two string expressions with == or !=, or the
// negation of one of those with !.
func compileBool(n ast.Node) (fbool, bool) {
	switch x := n.(type) {
	case *ast.LiteralBoolean:
		return flitBool(x.Value), true
	case *ast.Binary:
		if x.Op != ast.BopManifestEqual && x.Op != ast.BopManifestUnequal {
			return nil, false
		}
		a, b, ok := compileOperands(x)
		if !ok {
			return nil, false
		}
		return fequal{a: a, b: b, negate: x.Op == ast.BopManifestUnequal}, true
	case *ast.Unary:
		if x.Op != ast.UopNot {
			return nil, false
		}
		b, ok := compileBool(x.Expr)
		if !ok {
			return nil, false
		}
		return fnot{b: b}, true
	}
	return nil, false
}

// compileOperands compiles both sides of a binary operator as strings.
func compileOperands(x *ast.Binary) (fstr, fstr, bool) {
	left, ok := compileString(x.Left)
	if !ok {
		return nil, nil, false
	}
	right, ok := compileString(x.Right)
	return left, right, ok
}

// constString returns the value of a string literal, or of literals joined
// with +.
func constString(n ast.Node) (string, bool) {
	var b strings.Builder
	ok := walkPlus(n, func(leaf ast.Node) bool {
		lit, ok := leaf.(*ast.LiteralString)
		if ok {
			b.WriteString(lit.Value)
		}
		return ok
	})
	return b.String(), ok
}

// walkPlus calls leaf, left to right, on the operands of the tree of +
// operators rooted at n (on n itself when n is no +), and stops at the
// first that returns false. It reports whether every call returned true.
// It takes time linear in the size of the tree and does not recurse,
// however deep the tree: a chain a + b + c + ... parses as a tree as deep
// as the chain is long.
func walkPlus(n ast.Node, leaf func(ast.Node) bool) bool {
	stack := []ast.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x, ok := n.(*ast.Binary); ok && x.Op == ast.BopPlus {
			stack = append(stack, x.Right, x.Left)
			continue
		}
		if !leaf(n) {
			return false
		}
	}
	return true
}

// compileString compiles an expression that must yield a string.
func compileString(n ast.Node) (fstr, bool) {
	switch x := n.(type) {
	case *ast.LiteralString:
		return flitString(x.Value), true
	case *ast.Index:
		if v, ok := x.Target.(*ast.Var); ok && v.Id == "ctx" && x.Id == nil {
			if name, ok := x.Index.(*ast.LiteralString); ok {
				if f, ok := ctxFields[name.Value]; ok {
					return fctxField(f), true
				}
			}
		}
	case *ast.Binary:
		if x.Op != ast.BopPlus {
			return nil, false
		}
		var parts fconcat
		ok := walkPlus(x, func(leaf ast.Node) bool {
			p, ok := compileString(leaf) // never an fconcat: leaf is no +
			parts = append(parts, p)
			return ok
		})
		if !ok {
			return nil, false
		}
		return parts, true
	case *ast.Apply:
		return compileStdCall(x)
	}
	return nil, false
}

// compileStdCall compiles a call of one of the supported std functions with
// literal arguments where the function needs them.
func compileStdCall(x *ast.Apply) (fstr, bool) {
	target, ok := x.Target.(*ast.Index)
	if !ok || x.TailStrict || len(x.Arguments.Named) > 0 {
		return nil, false
	}
	if v, ok := target.Target.(*ast.Var); !ok || v.Id != "std" || target.Id != nil {
		return nil, false
	}
	fnName, ok := target.Index.(*ast.LiteralString)
	if !ok {
		return nil, false
	}
	args := x.Arguments.Positional
	lit := func(i int) (string, bool) { return constString(args[i].Expr) }
	want := map[string]int{
		"lstripChars": 2, "rstripChars": 2, "stripChars": 2, "strReplace": 3,
		"asciiLower": 1, "asciiUpper": 1, "format": 2,
	}[fnName.Value]
	if want == 0 || len(args) != want {
		return nil, false
	}
	if fnName.Value == "format" {
		return compileFormat(args)
	}
	arg, ok := compileString(args[0].Expr)
	if !ok {
		return nil, false
	}
	switch fnName.Value {
	case "lstripChars", "rstripChars", "stripChars":
		chars, ok := lit(1)
		if !ok {
			return nil, false
		}
		return fstrip{arg: arg, chars: chars, left: fnName.Value != "rstripChars", right: fnName.Value != "lstripChars"}, true
	case "strReplace":
		from, ok1 := lit(1)
		to, ok2 := lit(2)
		if !ok1 || !ok2 || from == "" { // go-jsonnet fails on an empty from
			return nil, false
		}
		return freplace{arg: arg, from: from, to: to}, true
	default:
		return fcase{arg: arg, upper: fnName.Value == "asciiUpper"}, true
	}
}

// compileFormat compiles std.format(literal, args), the literal possibly
// literals joined by +, where the format has only %s and %% codes and args
// is a string expression or an array literal of exactly as many string
// expressions as there are %s codes.
func compileFormat(args []ast.CommaSeparatedExpr) (fstr, bool) {
	format, ok := constString(args[0].Expr)
	if !ok {
		return nil, false
	}
	var vals []fstr
	if arr, ok := args[1].Expr.(*ast.Array); ok {
		for _, e := range arr.Elements {
			v, ok := compileString(e.Expr)
			if !ok {
				return nil, false
			}
			vals = append(vals, v)
		}
	} else {
		v, ok := compileString(args[1].Expr)
		if !ok {
			return nil, false
		}
		vals = []fstr{v}
	}
	var lits []string
	var cur strings.Builder
	s := format
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			cur.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, false
		}
		switch s[i+1] {
		case '%':
			cur.WriteByte('%')
		case 's':
			lits = append(lits, cur.String())
			cur.Reset()
		default:
			return nil, false
		}
		i++
	}
	lits = append(lits, cur.String())
	if len(lits)-1 != len(vals) {
		return nil, false
	}
	return fformat{lits: lits, args: vals}, true
}

// Render appends the body for c to dst and returns the extended slice. It
// allocates only to grow dst and for the strings the template builds.
func (t *Template) Render(c *Ctx, dst []byte) []byte {
	switch t.enc {
	case Form:
		return appendForm(dst, t.root.(fobject), c)
	case Raw:
		return append(dst, t.root.(fstr).eval(c)...)
	default:
		dst = appendJSON(dst, t.root, c, "")
		return append(dst, '\n')
	}
}

// appendJSON writes v as go-jsonnet manifests it: three-space indents,
// "[ ]" and "{ }" when empty, keys sorted.
func appendJSON(dst []byte, v fexpr, c *Ctx, indent string) []byte {
	switch x := v.(type) {
	case fstr:
		return appendJSONString(dst, x.eval(c))
	case flitNumber:
		return append(dst, unparseNumber(float64(x))...)
	case fbool:
		return strconv.AppendBool(dst, x.test(c))
	case fcond:
		return appendJSON(dst, x.pick(c), c, indent)
	case flitNull:
		return append(dst, "null"...)
	case farray:
		if len(x) == 0 {
			return append(dst, "[ ]"...)
		}
		inner := indent + "   "
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '\n')
			dst = append(dst, inner...)
			dst = appendJSON(dst, e, c, inner)
		}
		dst = append(dst, '\n')
		dst = append(dst, indent...)
		return append(dst, ']')
	case fobject:
		if len(x.keys) == 0 {
			return append(dst, "{ }"...)
		}
		inner := indent + "   "
		dst = append(dst, '{')
		for i, k := range x.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '\n')
			dst = append(dst, inner...)
			dst = appendJSONString(dst, k)
			dst = append(dst, ": "...)
			dst = appendJSON(dst, x.vals[i], c, inner)
		}
		dst = append(dst, '\n')
		dst = append(dst, indent...)
		return append(dst, '}')
	}
	panic(fmt.Sprintf("smscourier: unexpected fast-path node %T", v))
}

// appendJSONString quotes s as go-jsonnet does: the short escapes, \u00XX
// for other C0 and C1 controls and DEL, everything else as it is.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i, r := range s {
		var esc string
		switch {
		case r == '"':
			esc = `\"`
		case r == '\\':
			esc = `\\`
		case r == '\b':
			esc = `\b`
		case r == '\f':
			esc = `\f`
		case r == '\n':
			esc = `\n`
		case r == '\r':
			esc = `\r`
		case r == '\t':
			esc = `\t`
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&0xf])
			start = i + utf8.RuneLen(r)
			continue
		case r == utf8.RuneError:
			// Invalid UTF-8 becomes U+FFFD, as in go-jsonnet's strings.
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			_, n := utf8.DecodeRuneInString(s[i:])
			start = i + n
			continue
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// unparseNumber formats a number as go-jsonnet does.
func unparseNumber(v float64) string {
	if v == math.Floor(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 17, 64)
}

// appendForm writes the object as application/x-www-form-urlencoded, as
// the courier encodes go-jsonnet's output: keys sorted (they already are),
// strings as they are, numbers and booleans as their JSON text, nulls
// omitted, arrays as repeated keys.
func appendForm(dst []byte, obj fobject, c *Ctx) []byte {
	first := true
	add := func(k, v string) {
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, url.QueryEscape(k)...)
		dst = append(dst, '=')
		dst = append(dst, url.QueryEscape(v)...)
	}
	var scalar func(v fexpr) (string, bool)
	scalar = func(v fexpr) (string, bool) {
		switch x := v.(type) {
		case fstr:
			return x.eval(c), true
		case flitNumber:
			return unparseNumber(float64(x)), true
		case fbool:
			return strconv.FormatBool(x.test(c)), true
		case fcond:
			return scalar(x.pick(c))
		}
		return "", false // null
	}
	for i, k := range obj.keys {
		if arr, ok := obj.vals[i].(farray); ok {
			for _, e := range arr {
				if s, ok := scalar(e); ok {
					add(k, s)
				}
			}
			continue
		}
		if s, ok := scalar(obj.vals[i]); ok {
			add(k, s)
		}
	}
	return dst
}
