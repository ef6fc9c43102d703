// Package jsonnetutil holds what every evaluator of the courier's
// templates shares, in the host process or in a worker process: the
// go-jsonnet VM settings, the source size limit, the constructs refused,
// and template errors with their locations. Its errors are its own; the
// courier maps them to its sentinels.
package jsonnetutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/google/go-jsonnet/toolutils"
)

const (
	// MaxSource caps the template source that is parsed: go-jsonnet's
	// parser is recursive and, for some inputs, quadratic.
	MaxSource = 256 << 10
	// MaxStack is the Jsonnet call depth limit of every evaluation.
	MaxStack = 500
	// MaxErrorKept caps the engine message an Error keeps: a template can
	// build a huge string and fail on it, and go-jsonnet reports an
	// internal crash with a whole Go stack trace.
	MaxErrorKept = 64 << 10
	// cancelMessage is the error message with which a template asks that
	// the message not be sent.
	cancelMessage = "cancel"
)

// ErrCancel is returned by EvalError when the template evaluated
// error "cancel".
var ErrCancel = errors.New("template cancelled the message")

// NewVM returns a VM for templates: imports refused, traces discarded,
// the call depth limited to MaxStack.
func NewVM() *jsonnet.VM {
	vm := jsonnet.MakeVM()
	vm.Importer(refusingImporter{})
	vm.SetTraceOut(io.Discard)
	vm.MaxStack = MaxStack
	return vm
}

// refusingImporter is installed on every VM as a second line of defence
// behind RefuseConstructs.
type refusingImporter struct{}

func (refusingImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	return jsonnet.Contents{}, "", errors.New("imports are not allowed in templates")
}

// CheckSize returns an error when src is over MaxSource bytes.
func CheckSize(name string, src []byte) error {
	if len(src) > MaxSource {
		return fmt.Errorf("template %s: source is %d bytes, over the limit of %d", name, len(src), MaxSource)
	}
	return nil
}

// RefuseConstructs reports the first import, importstr, importbin or,
// unless allowTailstrict, tailstrict call in the AST. A template is a body
// format, not a way to read the host's files; unbounded tailstrict
// recursion overflows the Go stack, fatally, in go-jsonnet.
func RefuseConstructs(name string, node ast.Node, allowTailstrict bool) error {
	var kind string
	switch n := node.(type) {
	case *ast.Import:
		kind = "import"
	case *ast.ImportStr:
		kind = "importstr"
	case *ast.ImportBin:
		kind = "importbin"
	case *ast.Apply:
		if n.TailStrict && !allowTailstrict {
			kind = "tailstrict"
		}
	}
	if kind != "" {
		return fmt.Errorf("template %s: %s is not allowed in templates", Loc(name, node.Loc()), kind)
	}
	for _, child := range toolutils.Children(node) {
		if err := RefuseConstructs(name, child, allowTailstrict); err != nil {
			return err
		}
	}
	return nil
}

// StaticError formats a parse or static-analysis error as
// "template NAME:LINE:COL: message".
func StaticError(name string, err error) error {
	msg := strings.TrimSpace(err.Error())
	var located interface{ Loc() ast.LocationRange }
	if errors.As(err, &located) {
		loc := located.Loc()
		msg = strings.TrimSpace(strings.TrimPrefix(msg, loc.String()))
		return fmt.Errorf("template %s: %s", Loc(name, &loc), msg)
	}
	return fmt.Errorf("template %s: %s", name, msg)
}

// Loc returns "NAME:LINE:COL", or name when loc is not set.
func Loc(name string, loc *ast.LocationRange) string {
	if loc == nil || !loc.IsSet() {
		return name
	}
	return fmt.Sprintf("%s:%d:%d", name, loc.Begin.Line, loc.Begin.Column)
}

// Error is a runtime error of a template: where it failed (the template's
// name, with line:column when known; empty when Msg holds it) and the
// engine's message, which may quote values of ctx.
type Error struct {
	Where string
	Msg   string // at most MaxErrorKept bytes of the message
	Size  int    // the length of the whole message
}

// NewError returns the error for the engine's message msg, whose whole
// length is size (len(msg) when size is smaller).
func NewError(where, msg string, size int) *Error {
	return &Error{Where: where, Msg: CutText(msg, MaxErrorKept), Size: max(size, len(msg))}
}

// Error returns "WHERE: MSG", or MSG when Where is empty.
func (e *Error) Error() string {
	if e.Where == "" {
		return e.Msg
	}
	return e.Where + ": " + e.Msg
}

// EvalError returns ErrCancel when err, an evaluation error of the
// template called name, is error "cancel", else an *Error located at the
// innermost frame in the template itself.
func EvalError(name string, err error) error {
	var rte jsonnet.RuntimeError
	if !errors.As(err, &rte) {
		return NewError(name, err.Error(), 0)
	}
	if rte.Msg == cancelMessage {
		return ErrCancel
	}
	// Frames run from the outermost to where the error happened; the
	// innermost one in the template itself (not in go-jsonnet's <std>) is
	// the line to point at, or the call of the std function that failed.
	where := name
	for i := len(rte.StackTrace) - 1; i >= 0; i-- {
		f := rte.StackTrace[i]
		if f.Loc.IsSet() && f.Loc.File != nil && f.Loc.File.DiagnosticFileName != "<std>" {
			where = Loc(name, &f.Loc)
			break
		}
	}
	return NewError(where, rte.Msg, 0)
}

// CutText returns s cut to at most n bytes, on a character boundary.
func CutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ValueNode returns the Jsonnet AST of v, a value encoding/json decodes
// into an any (numbers as json.Number or float64), so that go-jsonnet's
// parser never reads data from outside. It recurses once per level of v:
// callers bound the depth. It panics on other types.
func ValueNode(v any) ast.Node {
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
			elems[i].Expr = ValueNode(e)
		}
		return &ast.Array{Elements: elems}
	case map[string]any:
		fields := make(ast.DesugaredObjectFields, 0, len(x))
		for k, e := range x {
			fields = append(fields, ObjectField(k, ValueNode(e)))
		}
		return &ast.DesugaredObject{Fields: fields}
	default:
		panic(fmt.Sprintf("jsonnetutil: ValueNode of a %T", v))
	}
}

// ObjectField is the field name: body of a Jsonnet object, as in JSON.
func ObjectField(name string, body ast.Node) ast.DesugaredObjectField {
	return ast.DesugaredObjectField{Name: &ast.LiteralString{Value: name}, Body: body, Hide: ast.ObjectFieldInherit}
}
