package smscourier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/google/go-jsonnet/toolutils"
)

// Limits on fetching a template from an http(s):// URI.
const (
	maxTemplateSize      = 1 << 20
	templateFetchTimeout = 10 * time.Second
)

// cancelMessage is the error message with which a template asks that the
// message not be sent.
const cancelMessage = "cancel"

// templateContext is the value bound to the template's top-level argument
// `ctx`. Its keys are those of Kratos.
type templateContext struct {
	From           string      `json:"from"`
	To             string      `json:"to"`
	Body           string      `json:"body"`
	Recipient      string      `json:"recipient"`
	MessageType    string      `json:"message_type"`
	Subject        string      `json:"subject"`
	TemplateType   string      `json:"template_type"`
	TemplateData   any         `json:"template_data"`
	RequestHeaders http.Header `json:"request_headers"`
}

// template is a parsed Jsonnet body template. It is safe for concurrent use:
// the AST is only read during evaluation, and each evaluation takes its own
// VM from the pool.
type template struct {
	name string // diagnostic name: a file name, never the template data
	node ast.Node
	vms  sync.Pool
}

// loadTemplate reads the template source named by uri, once.
func loadTemplate(ctx context.Context, u templateURI, client *http.Client) (src []byte, name string, err error) {
	switch u.scheme {
	case "base64":
		return u.data, "base64 template", nil
	case "file":
		src, err := os.ReadFile(u.path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, "", fmt.Errorf("read template %s: %w", u.path, err)
		}
		return src, filepath.Base(u.path), nil
	default:
		name = path.Base(u.url.Path)
		if name == "/" || name == "." {
			name = u.url.Host
		}
		src, err := fetchTemplate(ctx, u.url, client)
		return src, name, err
	}
}

// fetchTemplate GETs a template: 200 only, at most maxTemplateSize bytes,
// within templateFetchTimeout. Errors show the URL without userinfo or query.
func fetchTemplate(ctx context.Context, u *url.URL, client *http.Client) ([]byte, error) {
	shown := safeURL(u)
	ctx, cancel := context.WithTimeout(ctx, templateFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch template %s: invalid request", shown)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch template %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch template %s: status %d, want 200", shown, resp.StatusCode)
	}
	src, err := io.ReadAll(io.LimitReader(resp.Body, maxTemplateSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch template %s: %w", shown, err)
	}
	if len(src) > maxTemplateSize {
		return nil, fmt.Errorf("fetch template %s: larger than %d bytes", shown, maxTemplateSize)
	}
	return src, nil
}

// compileTemplate parses src once and refuses imports.
func compileTemplate(name string, src []byte) (*template, error) {
	node, err := jsonnet.SnippetToAST(name, string(src))
	if err != nil {
		return nil, staticError(name, err)
	}
	if err := refuseImports(name, node); err != nil {
		return nil, err
	}
	t := &template{name: name, node: node}
	t.vms.New = func() any {
		vm := jsonnet.MakeVM()
		vm.Importer(refusingImporter{})
		vm.SetTraceOut(io.Discard)
		return vm
	}
	return t, nil
}

// refuseImports reports the first import, importstr or importbin in the AST:
// a template is a body format, not a way to read the host's files.
func refuseImports(name string, node ast.Node) error {
	var kind string
	switch node.(type) {
	case *ast.Import:
		kind = "import"
	case *ast.ImportStr:
		kind = "importstr"
	case *ast.ImportBin:
		kind = "importbin"
	}
	if kind != "" {
		return fmt.Errorf("template %s: %s is not allowed in templates", locString(name, node.Loc()), kind)
	}
	for _, child := range toolutils.Children(node) {
		if err := refuseImports(name, child); err != nil {
			return err
		}
	}
	return nil
}

// staticError formats a parse or static-analysis error as
// "template NAME:LINE:COL: message".
func staticError(name string, err error) error {
	msg := strings.TrimSpace(err.Error())
	var located interface{ Loc() ast.LocationRange }
	if errors.As(err, &located) {
		loc := located.Loc()
		msg = strings.TrimSpace(strings.TrimPrefix(msg, loc.String()))
		return fmt.Errorf("template %s: %s", locString(name, &loc), msg)
	}
	return fmt.Errorf("template %s: %s", name, msg)
}

func locString(name string, loc *ast.LocationRange) string {
	if loc == nil || !loc.IsSet() {
		return name
	}
	return fmt.Sprintf("%s:%d:%d", name, loc.Begin.Line, loc.Begin.Column)
}

// refusingImporter is installed on every VM as a second line of defence
// behind refuseImports.
type refusingImporter struct{}

func (refusingImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	return jsonnet.Contents{}, "", errors.New("imports are not allowed in templates")
}

// evaluate runs the template with ctx bound to the top-level argument `ctx`
// and returns the manifested JSON. error "cancel" yields ErrCancel.
func (t *template) evaluate(ctxJSON string) (string, error) {
	vm := t.vms.Get().(*jsonnet.VM)
	vm.TLACode("ctx", ctxJSON)
	out, err := vm.Evaluate(t.node)
	vm.TLAReset()
	t.vms.Put(vm)
	if err != nil {
		return "", t.evalError(err)
	}
	return out, nil
}

func (t *template) evalError(err error) error {
	var rte jsonnet.RuntimeError
	if !errors.As(err, &rte) {
		return fmt.Errorf("%w: %s: %v", ErrTemplate, t.name, err)
	}
	if rte.Msg == cancelMessage {
		return ErrCancel
	}
	where := t.name
	for _, f := range rte.StackTrace {
		if f.Loc.IsSet() {
			where = locString(t.name, &f.Loc)
			break
		}
	}
	return fmt.Errorf("%w: %s: %s", ErrTemplate, where, rte.Msg)
}

// bodyEncoding is how the template's output becomes the request body.
type bodyEncoding int

const (
	encodeJSON bodyEncoding = iota // the manifested JSON as it is
	encodeForm                     // an object, form-encoded
	encodeRaw                      // a string, sent verbatim
)

// encodingFor chooses the body encoding from a Content-Type value.
func encodingFor(contentType string) bodyEncoding {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return encodeJSON // validated earlier; unreachable for a checked config
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return encodeJSON
	case mt == "application/x-www-form-urlencoded":
		return encodeForm
	default:
		return encodeRaw
	}
}

// encodeBody turns the template's manifested JSON into the request body.
func encodeBody(enc bodyEncoding, out string) ([]byte, error) {
	switch enc {
	case encodeForm:
		return formEncode(out)
	case encodeRaw:
		var s string
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			return nil, fmt.Errorf("%w: the Content-Type is neither JSON nor form, so the template must yield a string", ErrTemplate)
		}
		return []byte(s), nil
	default:
		return []byte(out), nil
	}
}

// formEncode encodes a JSON object as application/x-www-form-urlencoded:
// strings as they are, numbers and booleans as their JSON text, null fields
// omitted, arrays of scalars as repeated keys, keys sorted. Nested objects
// have no standard form encoding and are an error naming the field.
func formEncode(out string) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the form Content-Type needs the template to yield an object", ErrTemplate)
	}
	values := make(url.Values, len(obj))
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch x := obj[k].(type) {
		case []any:
			for i, item := range x {
				s, ok, err := formScalar(item)
				if err != nil {
					return nil, fmt.Errorf("%w: form field %s[%d]: %v", ErrTemplate, k, i, err)
				}
				if ok {
					values[k] = append(values[k], s)
				}
			}
		default:
			s, ok, err := formScalar(x)
			if err != nil {
				return nil, fmt.Errorf("%w: form field %s: %v", ErrTemplate, k, err)
			}
			if ok {
				values[k] = []string{s}
			}
		}
	}
	return []byte(values.Encode()), nil
}

// formScalar renders one JSON scalar as a form value; ok is false for null.
func formScalar(v any) (s string, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case json.Number:
		return x.String(), true, nil
	case bool:
		if x {
			return "true", true, nil
		}
		return "false", true, nil
	default:
		return "", false, errors.New("nested objects and arrays cannot be form-encoded")
	}
}

// marshalContext encodes ctx as the JSON code bound to the template.
func marshalContext(tc *templateContext) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tc); err != nil {
		return "", fmt.Errorf("%w: template_data: %v", ErrInvalidMessage, err)
	}
	return buf.String(), nil
}
