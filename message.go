package smscourier

import (
	"bytes"
	"crypto/rand"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one SMS to send. Its JSON form (the keys below) lets a queue
// store it.
type Message struct {
	// To is the recipient, passed to the template as ctx.to and
	// ctx.recipient, as it is. Required: not empty or only spaces; must not
	// contain control characters.
	To string `json:"to"`
	// Body is the message text, passed as ctx.body. It must be valid UTF-8.
	Body string `json:"body"`
	// From overrides the config's from when not empty.
	From string `json:"from,omitempty"`
	// IdempotencyKey identifies the message across retries and resubmissions:
	// passed as ctx.idempotency_key and, with WithIdempotencyKeyHeader, sent
	// in that header on every attempt. Empty means a random 128-bit key
	// (UUID form) made for this call. At most 255 visible ASCII characters.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// TemplateType is passed as ctx.template_type (Kratos' name for the kind
	// of message, such as "verification_code"). Default "".
	TemplateType string `json:"template_type,omitempty"`
	// TemplateData is passed as ctx.template_data after JSON encoding.
	// Default (nil) is an empty object. Its objects and arrays may nest at
	// most 64 levels deep, and its encoding may be at most 64 KiB (65536
	// bytes); SendMessage and Render refuse more with ErrInvalidMessage, in
	// every evaluation mode.
	TemplateData any `json:"template_data,omitempty"`
	// RequestHeaders is passed as ctx.request_headers. Default (nil) is an
	// empty object.
	RequestHeaders http.Header `json:"request_headers,omitempty"`
	// NotAfter, when set, is the time after which the message must not be
	// sent (a one-time code that expired must not arrive late): SendMessage
	// refuses it with ErrExpired before rendering, and no retry starts after
	// it. Zero means no limit.
	NotAfter time.Time `json:"not_after,omitzero"`
	// Requester identifies who asked for the message, for a guard's
	// per-requester limits (see package guard): an account id, a client
	// IP. Never passed to templates or logged. At most 255 bytes of
	// visible UTF-8. Default "": none.
	Requester string `json:"requester,omitempty"`
}

// Result describes what SendMessage did. On success it holds the gateway's
// reply; on failure Attempts and IdempotencyKey are still set.
type Result struct {
	// StatusCode is the HTTP status of the successful reply (2xx); 0 on
	// failure.
	StatusCode int
	// Attempts is the number of HTTP requests tried, one that could not even
	// connect included: 0 when none was (an invalid message, a template
	// error, a disabled courier).
	Attempts int
	// IdempotencyKey is the message's key, given or generated.
	IdempotencyKey string
	// Header is the successful reply's header.
	Header http.Header
	// Body is a prefix of the successful reply's body, at most 16 KiB.
	Body []byte
	// MessageID is the gateway's id for the message, as the response
	// template extracted it; "" without a response template.
	MessageID string
	// Segments is the SMS segment count of the message text; set on
	// failure too, except for ErrDisabled.
	Segments SegmentInfo
	// Gateway names the gateway the attempts went to: for a Courier, its
	// host (host:port when the URL has a port), as logs and events name it;
	// for a Router, the name of the gateway that answered, or else of the
	// last one tried; "" when no attempt was made.
	Gateway string
	// Tried lists, for a Router, each gateway of the route in the order it
	// was tried or passed over in this send, one entry per attempt or
	// skip; nil for a Courier.
	Tried []Try
}

// Try is one step of a Router's send: an attempt at a gateway, or the
// reason it was passed over without a request.
type Try struct {
	// Gateway is the gateway's name.
	Gateway string `json:"gateway"`
	// Class is the attempt's outcome; "" for a gateway passed over.
	Class Class `json:"class,omitempty"`
	// Skipped says why the gateway was passed over without a request:
	// SkipCircuitOpen or SkipRetryAfter; "" for an attempt.
	Skipped string `json:"skipped,omitempty"`
}

// Reasons a Router passes a gateway over, in Try.Skipped.
const (
	// SkipCircuitOpen: the gateway's circuit breaker is open after
	// consecutive failures, or its one probe is in flight.
	SkipCircuitOpen = "circuit_open"
	// SkipRetryAfter: the gateway refused with Retry-After, and the wait
	// it asked for has not passed.
	SkipRetryAfter = "retry_after"
)

// Validate reports whether any Courier would accept m: the checks
// SendMessage and Render make before rendering, less those a Courier's
// options add (WithStrictE164). An empty IdempotencyKey is valid: the
// courier makes one. The error wraps ErrInvalidMessage and names the rule
// broken, never the data. A queue calls it before storing a message, so
// that a message that can never be sent is refused at once.
func (m Message) Validate() error { return m.validate() }

// validate checks m before anything is rendered or sent, and replaces
// m.TemplateData by its JSON encoding (a json.RawMessage), checked against
// the template data limits, so that it is encoded once.
func (m *Message) validate() error {
	switch {
	case strings.TrimSpace(m.To) == "":
		return fmt.Errorf("%w: to is empty or only spaces", ErrInvalidMessage)
	case hasControl(m.To) || !utf8.ValidString(m.To):
		return fmt.Errorf("%w: to contains control characters or invalid UTF-8", ErrInvalidMessage)
	case hasControl(m.From) || !utf8.ValidString(m.From):
		return fmt.Errorf("%w: from contains control characters or invalid UTF-8", ErrInvalidMessage)
	case !utf8.ValidString(m.Body):
		return fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidMessage)
	case !utf8.ValidString(m.TemplateType):
		return fmt.Errorf("%w: template_type is not valid UTF-8", ErrInvalidMessage)
	case len(m.IdempotencyKey) > maxIdempotencyKey || !isVisibleASCII(m.IdempotencyKey):
		return fmt.Errorf("%w: idempotency key must be at most %d visible ASCII characters", ErrInvalidMessage, maxIdempotencyKey)
	case len(m.Requester) > maxRequester || hasControl(m.Requester) || !utf8.ValidString(m.Requester):
		return fmt.Errorf("%w: requester must be at most %d bytes of UTF-8 without control characters", ErrInvalidMessage, maxRequester)
	}
	data, err := checkTemplateData(m.TemplateData)
	if err != nil {
		return err
	}
	m.TemplateData = data
	return nil
}

func isVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// NewIdempotencyKey returns a random 128-bit key in UUID version 4 form,
// the key SendMessage makes for a Message without one.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}

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

// Limits on data from outside the courier's config: a message's template
// data and a gateway's reply. Depth counts each object or array level: a
// scalar is 0 levels deep, [] and {} 1, [[]] and {"a":{}} 2.
const (
	// maxTemplateDataDepth is how deep the objects and arrays of
	// Message.TemplateData may nest; a deeper value is refused with
	// ErrInvalidMessage before rendering, in every evaluation mode.
	maxTemplateDataDepth = 64
	// maxTemplateDataSize is the longest JSON encoding of
	// Message.TemplateData, in bytes, without HTML escaping; a longer one is
	// refused with ErrInvalidMessage before rendering, in every evaluation
	// mode.
	maxTemplateDataSize = 64 << 10
	// maxReplyDepth is how deep the objects and arrays of a reply (its first
	// maxReplyPrefix bytes) may nest for a response template to get it as
	// JSON; a deeper reply is given to the template as text, like a reply
	// that is not JSON.
	maxReplyDepth = 64
	// maxPointerRun is how many pointers and interfaces in a row, with no
	// object or array between them, checkTemplateData follows.
	maxPointerRun = 16
)

// Errors of template data over the limits. They hold no data.
var (
	errTemplateDataDepth = fmt.Errorf("%w: template_data nests deeper than %d levels", ErrInvalidMessage, maxTemplateDataDepth)
	errTemplateDataSize  = fmt.Errorf("%w: template_data encodes to more than %d bytes", ErrInvalidMessage, maxTemplateDataSize)
	errTemplateDataChain = fmt.Errorf("%w: template_data has more than %d pointers or interfaces in a row", ErrInvalidMessage, maxPointerRun)
)

// checkTemplateData encodes v, a Message.TemplateData, once, and returns
// the encoding as a json.RawMessage, or nil for nil. It fails with an error
// wrapping ErrInvalidMessage when v cannot be encoded as JSON, nests deeper
// than maxTemplateDataDepth or encodes to more than maxTemplateDataSize
// bytes. Before encoding it walks v the way encoding/json will, so that
// encoding/json, which recurses once per level, is never handed a value
// nested deep enough to overflow the stack, and a value that is too large
// is refused without encoding it.
func checkTemplateData(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var w dataWalk
	if err := w.walk(v, 0); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: template_data: %v", ErrInvalidMessage, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	// A json.Marshaler's output was not walked: check the encoding itself.
	switch {
	case len(b) > maxTemplateDataSize:
		return nil, errTemplateDataSize
	case nestsDeeper(b, maxTemplateDataDepth):
		return nil, errTemplateDataDepth
	}
	return json.RawMessage(b), nil
}

// nestsDeeper reports whether the objects and arrays of b, JSON text, nest
// deeper than limit. It reads b once, without recursion, and does not
// otherwise check that b is JSON.
func nestsDeeper(b []byte, limit int) bool {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// dataWalk follows a value as encoding/json encodes it, without entering
// the values it hands to a json.Marshaler or encoding.TextMarshaler. It
// stops at the first object or array nested deeper than
// maxTemplateDataDepth, and once size, a lower bound of the length of the
// encoding, exceeds maxTemplateDataSize. Recursion is bounded by both
// limits and by maxPointerRun, so a cyclic value stops it too. Struct
// fields that encoding/json leaves out for a name conflict are walked and
// counted.
type dataWalk struct {
	// size is a lower bound of the length of the encoding so far: every
	// value counts at least one byte, commas are not counted.
	size int
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// add counts n more bytes of the encoding.
func (w *dataWalk) add(n int) error {
	w.size += n
	if w.size > maxTemplateDataSize {
		return errTemplateDataSize
	}
	return nil
}

// open enters an object or array at depth, the number of objects and
// arrays around it.
func (w *dataWalk) open(depth int) error {
	if depth+1 > maxTemplateDataDepth {
		return errTemplateDataDepth
	}
	return w.add(2) // the brackets
}

// walk handles the types that decoded JSON and most callers use without
// reflection, and hands the rest to value.
func (w *dataWalk) walk(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		return w.add(len("null"))
	case string:
		return w.add(len(x) + 2)
	case bool, float64, int, int64, json.Number, json.RawMessage:
		return w.add(1)
	case []any:
		if x == nil {
			return w.add(len("null"))
		}
		if err := w.open(depth); err != nil {
			return err
		}
		for _, e := range x {
			if err := w.walk(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if x == nil {
			return w.add(len("null"))
		}
		if err := w.open(depth); err != nil {
			return err
		}
		for k, e := range x {
			if err := w.add(len(k) + 3); err != nil { // "k":
				return err
			}
			if err := w.walk(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return w.value(reflect.ValueOf(v), depth, 0)
	}
}

// value walks rv at depth, after run pointers and interfaces in a row.
func (w *dataWalk) value(rv reflect.Value, depth, run int) error {
	if !rv.IsValid() {
		return w.add(len("null"))
	}
	t := rv.Type()
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		rv.CanAddr() && (reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)) {
		return w.add(1) // its output is checked after encoding
	}
	switch rv.Kind() {
	case reflect.Interface, reflect.Pointer:
		if rv.IsNil() {
			return w.add(len("null"))
		}
		if run >= maxPointerRun {
			return errTemplateDataChain
		}
		return w.value(rv.Elem(), depth, run+1)
	case reflect.String:
		return w.add(rv.Len() + 2)
	case reflect.Map:
		if rv.IsNil() {
			return w.add(len("null"))
		}
		if err := w.open(depth); err != nil {
			return err
		}
		for it := rv.MapRange(); it.Next(); {
			n := 3 // quotes, colon
			if k := it.Key(); k.Kind() == reflect.String {
				n += k.Len()
			}
			if err := w.add(n); err != nil {
				return err
			}
			if err := w.value(it.Value(), depth+1, 0); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if rv.IsNil() {
			return w.add(len("null"))
		}
		if t.Elem().Kind() == reflect.Uint8 {
			p := reflect.PointerTo(t.Elem())
			if !p.Implements(marshalerType) && !p.Implements(textMarshalerType) {
				return w.add((rv.Len()+2)/3*4 + 2) // base64
			}
		}
		return w.elements(rv, depth)
	case reflect.Array:
		return w.elements(rv, depth)
	case reflect.Struct:
		if err := w.open(depth); err != nil {
			return err
		}
		return w.fields(rv, depth+1, nil)
	default:
		// Numbers and booleans; encoding/json refuses the rest.
		return w.add(1)
	}
}

// elements walks the elements of an array or slice at depth.
func (w *dataWalk) elements(rv reflect.Value, depth int) error {
	if err := w.open(depth); err != nil {
		return err
	}
	for i := range rv.Len() {
		if err := w.value(rv.Index(i), depth+1, 0); err != nil {
			return err
		}
	}
	return nil
}

// fields walks the fields of struct rv, which are at depth, the way
// encoding/json selects them: exported, not tagged "-", not left out by
// omitempty or omitzero, with the fields of untagged embedded structs
// inlined. outer lists the embedded struct types being inlined, so that a
// struct embedding a pointer to itself is inlined once.
func (w *dataWalk) fields(rv reflect.Value, depth int, outer []reflect.Type) error {
	t := rv.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := rv.Field(i)
		if sf.Anonymous {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if !sf.IsExported() && ft.Kind() != reflect.Struct {
				continue
			}
			if name == "" && ft.Kind() == reflect.Struct {
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						continue
					}
					fv = fv.Elem()
				}
				if ft == t || containsType(outer, ft) {
					continue
				}
				if err := w.fields(fv, depth, append(outer, t)); err != nil {
					return err
				}
				continue
			}
		} else if !sf.IsExported() {
			continue
		}
		if omitted(fv, opts) {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if err := w.add(len(name) + 3); err != nil { // "name":
			return err
		}
		if err := w.value(fv, depth, 0); err != nil {
			return err
		}
	}
	return nil
}

func containsType(ts []reflect.Type, t reflect.Type) bool {
	for _, u := range ts {
		if u == t {
			return true
		}
	}
	return false
}

// omitted reports whether encoding/json leaves out a field with the tag
// options opts and value fv. A field whose type has an IsZero method is
// walked even if omitzero would leave it out.
func omitted(fv reflect.Value, opts string) bool {
	var omitEmpty, omitZero bool
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		omitEmpty = omitEmpty || o == "omitempty"
		omitZero = omitZero || o == "omitzero"
	}
	if omitEmpty {
		switch fv.Kind() {
		case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
			if fv.Len() == 0 {
				return true
			}
		case reflect.Bool,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64,
			reflect.Interface, reflect.Pointer:
			if fv.IsZero() {
				return true
			}
		}
	}
	if omitZero {
		type isZeroer interface{ IsZero() bool }
		zt := reflect.TypeFor[isZeroer]()
		if !fv.Type().Implements(zt) && !reflect.PointerTo(fv.Type()).Implements(zt) && fv.IsZero() {
			return true
		}
	}
	return false
}
