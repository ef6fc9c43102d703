package smscourier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// decodeRaw decodes a YAML or JSON document into maps, slices, strings,
// json.Numbers, booleans and nils, as sigs.k8s.io/yaml converts YAML to JSON
// (YAML 1.1 scalars: yes and on are true). It refuses, with a *ConfigError,
// what that conversion would let pass silently: a key given twice in a
// mapping (the last value would win) and a document after the first (it
// would be ignored). A syntax error is reported with the line of the fault.
// No error holds a value from the document; the key path of a duplicate
// names keys only.
func decodeRaw(data []byte) (any, error) {
	if ps := checkStream(data); len(ps.list) > 0 {
		return nil, ps.err()
	}
	jsonDoc, err := yaml.YAMLToJSON(data)
	if err == nil {
		var doc any
		dec := json.NewDecoder(bytes.NewReader(jsonDoc))
		dec.UseNumber()
		if err = dec.Decode(&doc); err == nil {
			return doc, nil
		}
	}
	return nil, &ConfigError{Problems: []Problem{{Path: "document", Message: "not valid YAML or JSON" + parseErrorDetail(err)}}}
}

// moreDocuments is the problem of a stream with a document after the first.
const moreDocuments = "more than one YAML document (separated by ---): keep one"

// checkStream reports a syntax error anywhere in the YAML stream data, or
// else the duplicate keys of its first document and any later document that
// holds something other than null. Empty documents around the first (a
// leading ---, a trailing --- or ...) are accepted.
func checkStream(data []byte) problems {
	var ps problems
	first, more, err := scanStream(data)
	if err != nil {
		ps.add("document", "not valid YAML or JSON%s", streamErrorDetail(data, err))
		return ps
	}
	findDuplicates(first, "", map[string]bool{}, &ps)
	if more {
		ps.add("document", moreDocuments)
	}
	return ps
}

// scanStream decodes every document of data with go.yaml.in/yaml/v2, the
// decoder behind sigs.k8s.io/yaml. It returns the first document with its
// mappings as goyaml.MapSlice, which keeps duplicate keys, and whether a
// later document holds anything but null. err is a parse error; type errors
// (a value that does not fit its tag) are left for YAMLToJSON to report.
func scanStream(data []byte) (first any, more bool, err error) {
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	var doc orderedDoc
	if err := dec.Decode(&doc); err != nil && !isTypeError(err) {
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		return nil, false, err
	}
	for {
		var next any
		err := dec.Decode(&next)
		switch {
		case errors.Is(err, io.EOF):
			return doc.v, more, nil
		case isTypeError(err):
			more = true // a value with a tag: not null
		case err != nil:
			return nil, false, err
		case next != nil:
			more = true
		}
	}
}

func isTypeError(err error) bool {
	var te *goyaml.TypeError
	return errors.As(err, &te)
}

// orderedDoc decodes a document as sigs.k8s.io/yaml does, except that a
// mapping at its root (and every mapping below it) becomes a MapSlice.
type orderedDoc struct{ v any }

// UnmarshalYAML implements goyaml.Unmarshaler.
func (d *orderedDoc) UnmarshalYAML(unmarshal func(any) error) error {
	if err := unmarshal(&d.v); err != nil {
		return err
	}
	if _, ok := d.v.(map[any]any); !ok {
		return nil // not a mapping: ParseConfig refuses the document
	}
	var m goyaml.MapSlice
	err := unmarshal(&m)
	d.v = m
	return err
}

// findDuplicates reports, once per key path, each key that a mapping in v
// holds twice. Keys are compared as sigs.k8s.io/yaml turns them into JSON
// object keys, so yes and true, or 1 and "1", are the same key. A mapping
// merged in with << holds none of the keys it merged, so a key that
// overrides a merged one is no duplicate.
func findDuplicates(v any, path string, reported map[string]bool, ps *problems) {
	switch v := v.(type) {
	case goyaml.MapSlice:
		seen := make(map[string]bool, len(v))
		for _, item := range v {
			k, ok := jsonKey(item.Key)
			if !ok {
				continue // YAMLToJSON refuses the key
			}
			p := keyPath(path, k)
			if seen[k] && !reported[p] {
				reported[p] = true
				ps.add(p, "duplicate key")
			}
			seen[k] = true
			findDuplicates(item.Value, p, reported, ps)
		}
	case []any:
		for i, item := range v {
			findDuplicates(item, fmt.Sprintf("%s[%d]", path, i), reported, ps)
		}
	}
}

// keyPath returns the path of key k in the mapping at path ("" for the
// root). An empty key is written "".
func keyPath(path, k string) string {
	if k == "" {
		k = `""`
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonKey returns the JSON object key that sigs.k8s.io/yaml makes of a
// mapping key decoded by go.yaml.in/yaml/v2, and false for a key of a type
// it refuses.
func jsonKey(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, true
	case int:
		return strconv.Itoa(k), true
	case int64:
		return strconv.FormatInt(k, 10), true
	case float64:
		switch s := strconv.FormatFloat(k, 'g', -1, 32); s {
		case "+Inf":
			return ".inf", true
		case "-Inf":
			return "-.inf", true
		case "NaN":
			return ".nan", true
		default:
			return s, true
		}
	case bool:
		return strconv.FormatBool(k), true
	}
	return "", false
}

// yamlSyntax matches the text of a go.yaml.in/yaml/v2 parse error that gives
// a line: the parser's problem is then one of its fixed descriptions, which
// quote nothing from the document.
var yamlSyntax = regexp.MustCompile(`^yaml: line ([0-9]+): (.+)$`)

// yamlParserProblems are the problems found by go.yaml.in/yaml/v2's parser,
// as opposed to its scanner. For these the error text gives the 0-based
// line of the fault, one less than its line; for scanner problems it gives
// the line.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
	"found undefined tag handle":             true,
}

// yamlProblem returns the text of a YAML error without its line.
func yamlProblem(err error) string {
	if m := yamlSyntax.FindStringSubmatch(err.Error()); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// streamErrorDetail returns the detail of a scanStream error: the line of a
// syntax error and the parser's description of it, or what parseErrorDetail
// keeps of any other error.
func streamErrorDetail(data []byte, err error) string {
	if detail, ok := syntaxDetail(data, err); ok {
		return detail
	}
	// The error text gives no line when the fault is on line 1, and for
	// errors other than syntax errors (an unknown anchor, say). With a blank
	// line in front, a syntax error on line 1 is one on line 2, which the
	// text gives.
	if _, _, err2 := scanStream(append([]byte("\n"), data...)); err2 != nil && yamlProblem(err2) == yamlProblem(err) {
		if detail, ok := syntaxDetail(nil, err2); ok && strings.HasPrefix(detail, ": line 2: ") {
			return ": line 1: " + strings.TrimPrefix(detail, ": line 2: ")
		}
	}
	return parseErrorDetail(err)
}

// syntaxDetail returns ": line N: problem" for a parse error of data that
// gives a line, N being the line of the fault (the last line of data when
// the fault is its end), and false for any other error.
func syntaxDetail(data []byte, err error) (string, bool) {
	m := yamlSyntax.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	line, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return "", false
	}
	if yamlParserProblems[m[2]] {
		line++
	}
	if data != nil {
		line = min(line, lastLine(data))
	}
	return fmt.Sprintf(": line %d: %s", line, m[2]), true
}

// lastLine returns the number of the last line of data, counting line
// breaks as YAML does (CR LF, CR, LF, NEL, LS, PS); the empty line after a
// final line break does not count.
func lastLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		if r == '\r' && i < len(data) && data[i] == '\n' {
			i++
		}
		switch r {
		case '\r', '\n', '\u0085', '\u2028', '\u2029':
			if i < len(data) {
				line++
			}
		}
	}
	return line
}

// parseErrorDetail keeps the part of a decoding error that cannot hold a
// value from the document (which may be a secret): its line number, or the
// whole text when it quotes nothing.
func parseErrorDetail(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if !strings.ContainsAny(msg, "`'\"{[") && !strings.Contains(msg, "interface") {
		return ": " + msg
	}
	if m := yamlLine.FindString(msg); m != "" {
		return " (" + m + ")"
	}
	return ""
}

var yamlLine = regexp.MustCompile(`line \d+`)
