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
	"sync/atomic"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/smscourier/smscourier/internal/jsonnetfast"
	"github.com/smscourier/smscourier/internal/jsonnetutil"
	"github.com/smscourier/smscourier/internal/sandbox"
)

// Limits on loading templates.
const (
	// maxTemplateSize caps an http(s):// template fetch.
	maxTemplateSize      = 1 << 20
	templateFetchTimeout = 10 * time.Second
	// maxTemplateSource caps the source that is parsed, in-process or in
	// a worker.
	maxTemplateSource = jsonnetutil.MaxSource
	// maxTemplateDepth caps bracket nesting plus runs of prefix operators
	// in the source: go-jsonnet overflows the Go stack, fatally, on about
	// 20k nested brackets.
	maxTemplateDepth = 200
	// defaultMaxBodySize is the largest rendered body sent unless
	// WithMaxBodySize says otherwise.
	defaultMaxBodySize = 256 << 10
)

// maxAbandonedEvaluations bounds how many in-process evaluations may go on
// running after their caller's context ended. A variable for tests.
var maxAbandonedEvaluations int32 = 16

// evaluator renders a template for one message: in-process (*template) or
// in a worker process (*isolatedTemplate). It returns the manifested JSON,
// ErrCancel for error "cancel", an error wrapping ErrTemplate for other
// template failures, or an error wrapping ctx.Err() when ctx ends first.
type evaluator interface {
	evaluate(ctx context.Context, arg templateArg) (string, error)
}

// templateArg is the value bound to a template's ctx: as an AST for
// in-process evaluation, as JSON code for a worker process.
type templateArg interface {
	astNode() (ast.Node, error)
	jsonCode() (string, error)
}

func (tc *templateContext) astNode() (ast.Node, error) { return ctxNode(tc) }
func (tc *templateContext) jsonCode() (string, error)  { return marshalContext(tc) }

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
	IdempotencyKey string      `json:"idempotency_key"`
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

// compileTemplate checks src against the in-process limits, parses it once,
// and refuses imports and tailstrict.
func compileTemplate(name string, src []byte) (*template, error) {
	if err := checkSource(name, src); err != nil {
		return nil, err
	}
	node, err := jsonnet.SnippetToAST(name, string(src))
	if err != nil {
		return nil, jsonnetutil.StaticError(name, err)
	}
	if err := jsonnetutil.RefuseConstructs(name, node, false); err != nil {
		return nil, err
	}
	t := &template{name: name, node: node}
	t.vms.New = func() any { return jsonnetutil.NewVM() }
	return t, nil
}

// checkSource rejects, before parsing, source that go-jsonnet's recursive
// parser cannot take safely: over maxTemplateSource bytes, or nested deeper
// than maxTemplateDepth. Depth counts open brackets plus the current run of
// prefix operators (- + ! ~), outside strings and comments.
func checkSource(name string, src []byte) error {
	if err := jsonnetutil.CheckSize(name, src); err != nil {
		return err
	}
	depth, run, line := 0, 0, 1
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\n':
			line++
			continue
		case c == ' ' || c == '\t' || c == '\r':
			continue
		case c == '"' || c == '\'':
			i = skipQuoted(src, i, c, &line)
		case c == '@' && i+1 < len(src) && (src[i+1] == '"' || src[i+1] == '\''):
			i = skipVerbatim(src, i+1, src[i+1], &line)
		case c == '|' && bytes.HasPrefix(src[i:], []byte("|||")):
			i = skipUntil(src, i+3, "|||", &line) + 2
		case c == '#' || (c == '/' && i+1 < len(src) && src[i+1] == '/'):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i-- // let the loop count the newline
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			i = skipUntil(src, i+2, "*/", &line) + 1
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		}
		if c == '-' || c == '+' || c == '!' || c == '~' {
			run++
		} else {
			run = 0
		}
		if depth+run > maxTemplateDepth {
			return fmt.Errorf("template %s:%d: nested deeper than %d levels", name, line, maxTemplateDepth)
		}
	}
	return nil
}

// skipQuoted returns the index of the quote closing the string at src[i].
func skipQuoted(src []byte, i int, quote byte, line *int) int {
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '\n':
			*line++
		case quote:
			return i
		}
	}
	return len(src)
}

// skipVerbatim returns the index of the quote closing the verbatim string
// at src[i], where a doubled quote stands for itself.
func skipVerbatim(src []byte, i int, quote byte, line *int) int {
	for i++; i < len(src); i++ {
		switch {
		case src[i] == '\n':
			*line++
		case src[i] == quote && i+1 < len(src) && src[i+1] == quote:
			i++
		case src[i] == quote:
			return i
		}
	}
	return len(src)
}

// skipUntil returns the index where end starts, searching from i.
func skipUntil(src []byte, i int, end string, line *int) int {
	if i > len(src) {
		return len(src)
	}
	j := bytes.Index(src[i:], []byte(end))
	if j < 0 {
		j = len(src) - i
	}
	*line += bytes.Count(src[i:i+j], []byte("\n"))
	return i + j
}

// abandonedEvaluations counts in-process evaluations still running after
// their caller's context ended, across all couriers.
var abandonedEvaluations atomic.Int32

// States of an evaluation run on its own goroutine.
const (
	evalRunning int32 = iota
	evalFinished
	evalAbandoned
)

// evaluate runs the template with ctx bound to the top-level argument `ctx`
// and returns the manifested JSON. When ctx can end, the evaluation runs on
// its own goroutine and evaluate returns when ctx ends; go-jsonnet cannot be
// interrupted, so the goroutine is abandoned and finishes on its own. At most
// maxAbandonedEvaluations may be abandoned at once; past that, evaluations
// with a context are refused until some finish.
func (t *template) evaluate(ctx context.Context, arg templateArg) (string, error) {
	ctxArg, err := arg.astNode()
	if err != nil {
		return "", err
	}
	if ctx.Done() == nil {
		return t.evaluateNow(ctxArg)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("smscourier: template %s not evaluated: %w", t.name, err)
	}
	if abandonedEvaluations.Load() >= maxAbandonedEvaluations {
		return "", fmt.Errorf("%w: %s: %d evaluations are still running past their deadline", ErrTemplate, t.name, maxAbandonedEvaluations)
	}
	var (
		state atomic.Int32
		out   string
		done  = make(chan struct{})
	)
	go func() {
		out, err = t.evaluateNow(ctxArg)
		close(done)
		if !state.CompareAndSwap(evalRunning, evalFinished) {
			abandonedEvaluations.Add(-1)
		}
	}()
	select {
	case <-done:
		return out, err
	case <-ctx.Done():
		if state.CompareAndSwap(evalRunning, evalAbandoned) {
			abandonedEvaluations.Add(1)
			return "", fmt.Errorf("smscourier: template %s abandoned: %w", t.name, ctx.Err())
		}
		<-done
		return out, err
	}
}

// evaluateNow evaluates on the calling goroutine with ctxArg bound to the
// top-level argument ctx.
func (t *template) evaluateNow(ctxArg ast.Node) (string, error) {
	vm := t.vms.Get().(*jsonnet.VM)
	vm.TLANode("ctx", ctxArg)
	out, err := vm.Evaluate(t.node)
	vm.TLAReset()
	t.vms.Put(vm)
	if err != nil {
		return "", t.evalError(err)
	}
	return out, nil
}

// evalError maps an evaluation error of the template to the courier's:
// ErrCancel, or a *templateError.
func (t *template) evalError(err error) error {
	return engineError(jsonnetutil.EvalError(t.name, err))
}

// engineError maps an error of jsonnetutil's to the courier's: ErrCancel
// for jsonnetutil.ErrCancel, a *templateError for a *jsonnetutil.Error.
// Other errors are returned as they are.
func engineError(err error) error {
	var je *jsonnetutil.Error
	switch {
	case errors.Is(err, jsonnetutil.ErrCancel):
		return ErrCancel
	case errors.As(err, &je):
		return newTemplateError(je.Where, je.Msg, je.Size)
	}
	return err
}

// bodyEncoding is how the template's output becomes the request body, on
// go-jsonnet's path and on the fast path alike.
type bodyEncoding = jsonnetfast.Encoding

const (
	encodeJSON = jsonnetfast.JSON
	encodeForm = jsonnetfast.Form
	encodeRaw  = jsonnetfast.Raw
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

// ctxNode builds the value bound to ctx directly as a Jsonnet AST: an
// object of string literals, which go-jsonnet need not parse. Only
// template_data and request_headers, when set, go through JSON.
func ctxNode(tc *templateContext) (ast.Node, error) {
	data, err := jsonNode(tc.TemplateData, "template_data")
	if err != nil {
		return nil, err
	}
	headers, err := jsonNode(tc.RequestHeaders, "request_headers")
	if err != nil {
		return nil, err
	}
	str := func(name, value string) ast.DesugaredObjectField {
		return objectField(name, &ast.LiteralString{Value: value})
	}
	return &ast.DesugaredObject{Fields: ast.DesugaredObjectFields{
		str("from", tc.From),
		str("to", tc.To),
		str("body", tc.Body),
		str("recipient", tc.Recipient),
		str("message_type", tc.MessageType),
		str("subject", tc.Subject),
		str("template_type", tc.TemplateType),
		str("idempotency_key", tc.IdempotencyKey),
		objectField("template_data", data),
		objectField("request_headers", headers),
	}}, nil
}

// jsonNode returns the Jsonnet AST of v, or an empty object for nil and
// empty values. v is JSON-encoded unless it is a json.RawMessage (as
// Message.validate leaves TemplateData), then decoded with the depth limit
// of template data; go-jsonnet's parser never reads it.
func jsonNode(v any, name string) (ast.Node, error) {
	switch x := v.(type) {
	case nil, struct{}:
		return &ast.DesugaredObject{}, nil
	case http.Header:
		if len(x) == 0 {
			return &ast.DesugaredObject{}, nil
		}
	}
	b, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidMessage, name, err)
		}
	}
	value, ok := decodeJSON(b, maxTemplateDataDepth)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not JSON nested at most %d levels deep", ErrInvalidMessage, name, maxTemplateDataDepth)
	}
	return valueNode(value), nil
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

// Isolated template evaluation: the defaults and the worker marker.
const (
	// defaultIsolationTimeout is the wall-clock limit of one worker when
	// IsolationConfig.Timeout is zero.
	defaultIsolationTimeout = 2 * time.Second
	// defaultIsolationMemoryLimit is the memory limit of one worker when
	// IsolationConfig.MemoryLimit is zero.
	defaultIsolationMemoryLimit = 256 << 20

	// TemplateWorkerEnv is the environment variable that marks a process as
	// a template worker: the host starts each worker with
	// TemplateWorkerEnv=1, and ServeTemplateWorker serves a job only then.
	TemplateWorkerEnv = "SMSCOURIER_TEMPLATE_WORKER"
)

// IsolationConfig configures isolated template evaluation (see
// WithIsolatedTemplates): each evaluation runs in a worker process that is
// killed when it exceeds its wall-clock limit and dies when it exceeds its
// memory limit, so no template, however hostile, can crash, stall or
// exhaust the host. The zero value is ready to use.
type IsolationConfig struct {
	// Command is the worker program and its arguments. Empty (the default)
	// means the current executable, re-executed: its main function (or, in
	// a test binary, an init function) must call ServeTemplateWorker
	// before anything else, or New fails. Otherwise Command[0] is a program
	// that serves the protocol of ServeTemplateWorker, such as the
	// command github.com/smscourier/smscourier/cmd/smscourier-template-worker;
	// it is resolved through PATH once, in New. Either way the worker gets
	// the host's environment and working directory, with TemplateWorkerEnv=1
	// added. Templates cannot read either: imports are refused, and
	// Jsonnet has no access to the environment.
	Command []string
	// Timeout is the wall-clock limit of one worker, from start to reply;
	// default 2 s. A worker past it is killed and
	// the evaluation fails with ErrTemplate. A caller's context deadline
	// that comes sooner applies too, and then the error wraps the
	// context's error instead. The worker that New starts to parse the
	// template gets at least 2 s.
	Timeout time.Duration
	// MemoryLimit bounds, in bytes, the memory a worker may use beyond what
	// its program uses when it starts the job; default 256 MiB. A worker
	// over it dies and the
	// evaluation fails with ErrTemplate ("out of memory"). The worker
	// watches its Go runtime's memory use every 5 ms, sets the runtime's
	// soft limit a little lower so that the collector works hard first,
	// and caps each goroutine stack at a quarter of MemoryLimit (at least
	// 16 MiB). The runtime counts memory when it maps it, before it is
	// filled, so a worker that asks for far too much is stopped within
	// about 5 ms of asking. On Linux a kernel limit backs this: the
	// worker's RLIMIT_DATA is set to its mapped data plus 1.25x
	// MemoryLimit plus 64 MiB for the runtime's own mappings, so even a
	// burst faster than the watchdog cannot take more (not in binaries built with -race, whose detector maps far
	// more memory than the program). A worker stopped by the kernel limit
	// may report a runtime fault rather than "out of memory".
	MemoryLimit int64
}

// ServeTemplateWorker is the hook that lets the current program serve as its
// own template worker (IsolationConfig.Command empty). Call it first thing
// in main, before flags are parsed or anything is started:
//
//	func main() {
//		smscourier.ServeTemplateWorker()
//		// ... the program as usual
//	}
//
// In a process started as a worker (TemplateWorkerEnv=1 in its
// environment) it reads one job from standard input, parses the template
// and, for an evaluation job, evaluates it, writes the reply to standard
// output and exits the process; it never returns. In any other process it
// only records that the hook is in place and returns at once. A worker
// applies its memory limit before it parses, so a hostile template can only
// crash the worker; the host turns the crash into an error. Package init
// functions of the program run in every worker, so they should be cheap
// and must not depend on the worker's standard input or output.
//
// In tests of a package that uses isolated templates with an empty Command,
// the test binary is the program re-executed. Call the hook from an init
// function of a _test.go file, which runs before TestMain and flag parsing:
//
//	func init() { smscourier.ServeTemplateWorker() }
func ServeTemplateWorker() { sandbox.Serve() }

// isolatedTemplate evaluates a template in worker processes, one per
// evaluation. It is immutable and safe for concurrent use.
type isolatedTemplate struct {
	name    string // diagnostic name: a file name, never the template data
	workers *sandbox.Template
}

// newIsolatedTemplate checks the isolation settings and the source size,
// then has one worker parse the template, so that syntax errors and imports
// are reported now.
func newIsolatedTemplate(name string, src []byte, cfg IsolationConfig) (*isolatedTemplate, error) {
	w, err := sandbox.New(name, src, sandbox.Config{Command: cfg.Command, Timeout: cfg.Timeout, MemoryLimit: cfg.MemoryLimit})
	if err != nil {
		return nil, err
	}
	return &isolatedTemplate{name: name, workers: w}, nil
}

// evaluate renders the template in a new worker process, bounded by ctx and
// the configured Timeout, and maps the worker's reply or fate to the
// evaluator contract.
func (t *isolatedTemplate) evaluate(ctx context.Context, arg templateArg) (string, error) {
	ctxJSON, err := arg.jsonCode()
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("smscourier: template %s not evaluated: %w", t.name, err)
	}
	out, err := t.workers.Evaluate(ctx, ctxJSON)
	var we *sandbox.WorkerError
	var je *jsonnetutil.Error
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, jsonnetutil.ErrCancel), errors.As(err, &je):
		return "", engineError(err)
	case errors.As(err, &we):
		return "", fmt.Errorf("%w: %s: %s", ErrTemplate, t.name, we.Msg)
	default: // ctx ended
		return "", fmt.Errorf("smscourier: template %s: %w", t.name, err)
	}
}
