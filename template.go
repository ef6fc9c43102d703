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
		return jsonnetutil.ObjectField(name, &ast.LiteralString{Value: value})
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
		jsonnetutil.ObjectField("template_data", data),
		jsonnetutil.ObjectField("request_headers", headers),
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
	return jsonnetutil.ValueNode(value), nil
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

// Worker processes: the defaults and the worker marker.
const (
	// defaultIsolationTimeout is the wall-clock limit of one evaluation in
	// a worker when IsolationConfig.Timeout is zero.
	defaultIsolationTimeout = 2 * time.Second
	// defaultIsolationMemoryLimit is the memory limit of one evaluation in
	// a worker when IsolationConfig.MemoryLimit is zero.
	defaultIsolationMemoryLimit = 256 << 20

	// TemplateWorkerEnv is the environment variable that marks a process as
	// a template worker: the host starts each worker with
	// TemplateWorkerEnv=1.
	TemplateWorkerEnv = "SMSCOURIER_TEMPLATE_WORKER"
)

// IsolationConfig sets the limits of the worker processes that evaluate
// every template outside the fast path, unless WithTrustedTemplates is
// given. The zero value holds the defaults, which apply without
// WithIsolatedTemplates.
//
// A worker is the host's own program, re-executed with
// TemplateWorkerEnv=1 in its environment: the library's init function
// turns it into a worker before the program's main runs, so no code
// change is needed. Workers live in a pool per process, shared by every
// Courier with the same Command, MemoryLimit, MaxWorkers, MaxJobs and
// IdleTimeout. The pool starts with the first Courier that needs it,
// whose New has a worker parse the template; if no worker can be started
// (the program cannot be re-executed, as on js/wasm, or what runs is not
// a worker), New fails with ErrInvalidConfig and names
// WithTrustedTemplates. A worker runs one evaluation at a time and serves
// many. It is replaced when it dies (a crash, its memory limit, a kill at
// its time limit: only the evaluation it ran fails, with ErrTemplate),
// when it holds more than half MemoryLimit beyond its start after an
// evaluation, after MaxJobs evaluations, and when it has been idle for
// IdleTimeout. Workers have a process group of their own and ignore
// SIGINT, SIGTERM, SIGHUP and SIGQUIT: the host stops them by closing
// their standard input, which also happens when the host exits.
//
// A worker runs the init functions of the packages initialised before
// this library's: its dependencies and, under Go's ordering, packages
// whose import paths sort earlier and that do not import it. Such init
// functions should be cheap and must not use standard input or output. A
// program that cannot accept that names a dedicated worker program in
// Command.
type IsolationConfig struct {
	// Command is the worker program and its arguments. Empty (the default)
	// means the current executable, re-executed. Otherwise Command[0] is a
	// program that serves the workers' protocol, such as the command
	// github.com/smscourier/smscourier/cmd/smscourier-template-worker of
	// the same version; it is resolved through PATH once, in New. Either
	// way the worker gets the host's environment and working directory,
	// with TemplateWorkerEnv=1 added. Templates cannot read either: imports
	// are refused, and Jsonnet has no access to the environment.
	Command []string
	// Timeout is the wall-clock limit of one evaluation, from the job's
	// dispatch to the worker's reply; default 2 s. A worker past it is
	// killed and the evaluation fails with ErrTemplate. A caller's context
	// that ends sooner stops the evaluation too (its worker is killed),
	// and then the error wraps the context's error instead. The parse in
	// New gets at least 2 s.
	Timeout time.Duration
	// MemoryLimit bounds, in bytes, the memory an evaluation may take
	// beyond what its worker holds when the evaluation starts; default
	// 256 MiB. A worker over it dies and the evaluation fails with
	// ErrTemplate ("out of memory"). The worker watches its Go runtime's
	// memory use every 5 ms during an evaluation, sets the runtime's soft
	// limit a little lower so that the collector works hard first, and
	// caps each goroutine stack at a quarter of MemoryLimit (at least 16
	// MiB). The runtime counts memory when it maps it, before it is
	// filled, so a worker that asks for far too much is stopped within
	// about 5 ms of asking. On Linux a kernel limit backs this: the
	// worker's RLIMIT_DATA is set to its mapped data at the start plus
	// 1.75x MemoryLimit plus 64 MiB for the runtime's own mappings, so
	// even a burst faster than the watchdog cannot take more (not in
	// binaries built with -race, whose detector maps far more memory than
	// the program). A worker stopped by the kernel limit may report a
	// runtime fault rather than "out of memory".
	MemoryLimit int64
	// MaxOutput caps, in bytes, the JSON a template renders in a worker;
	// default 4 MiB. A larger output fails with ErrTemplate. The body
	// limit of WithMaxBodySize applies to the encoded body after it.
	MaxOutput int
	// MaxWorkers caps the pool's workers, and so the evaluations that run
	// at once; default 2*GOMAXPROCS, at least 4. Further evaluations wait
	// for a worker within their context.
	MaxWorkers int
	// MaxJobs is how many evaluations a worker serves before it is
	// replaced; default 10000.
	MaxJobs int
	// IdleTimeout is how long a worker may wait for an evaluation before
	// it is stopped; default 30 s.
	IdleTimeout time.Duration
}

// ServeTemplateWorker is optional: the library's init function already
// makes a program started as a template worker (TemplateWorkerEnv=1 in
// its environment) serve as one before its main runs. Calling it is
// harmless: in a worker it serves and never returns, and in any other
// process it returns at once. A dedicated worker program that sets
// TemplateWorkerEnv itself, as cmd/smscourier-template-worker does, calls
// it to become a worker.
func ServeTemplateWorker() { sandbox.Serve() }

// isolatedTemplate evaluates a template in pooled worker processes. It is
// immutable and safe for concurrent use.
type isolatedTemplate struct {
	name    string // diagnostic name: a file name, never the template data
	workers *sandbox.Template
}

// sandboxConfig maps cfg to the sandbox's settings.
func sandboxConfig(cfg IsolationConfig) sandbox.Config {
	return sandbox.Config{
		Command: cfg.Command, Timeout: cfg.Timeout, MemoryLimit: cfg.MemoryLimit, MaxOutput: cfg.MaxOutput,
		MaxWorkers: cfg.MaxWorkers, MaxJobs: cfg.MaxJobs, IdleTimeout: cfg.IdleTimeout,
	}
}

// checkIsolation checks the settings of WithIsolatedTemplates and resolves
// its Command, whether or not a template will need a worker.
func checkIsolation(cfg IsolationConfig) error {
	if err := sandbox.Check(sandboxConfig(cfg)); err != nil {
		return &ConfigError{Problems: []Problem{{Path: "WithIsolatedTemplates", Message: err.Error()}}}
	}
	return nil
}

// newIsolatedTemplate checks the isolation settings and the source size,
// then has a worker parse the template, so that syntax errors and imports
// are reported now.
func newIsolatedTemplate(name string, src []byte, cfg IsolationConfig) (*isolatedTemplate, error) {
	w, err := sandbox.New(name, src, sandboxConfig(cfg))
	if errors.Is(err, sandbox.ErrUnavailable) {
		return nil, fmt.Errorf("%v; WithTrustedTemplates evaluates templates in-process instead, where a hostile template can crash the host", err)
	}
	if err != nil {
		return nil, err
	}
	return &isolatedTemplate{name: name, workers: w}, nil
}

// evaluate renders the template in a worker process, bounded by ctx and
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
