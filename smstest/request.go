package smstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request is one request as the gateway received it, with its body decoded
// by its Content-Type.
type Request struct {
	// Index is the request's position in Requests: 0 for the first one
	// recorded since the gateway started or since Reset.
	Index int
	// Time is when the gateway finished reading the request.
	Time time.Time
	// Method is the HTTP method, as sent.
	Method string
	// Path is the URL path, unescaped.
	Path string
	// RawQuery is the URL query without the "?"; "" when there is none.
	RawQuery string
	// Host is the Host the request was sent with.
	Host string
	// Header holds the request headers, with canonical keys.
	Header http.Header
	// Body is the raw request body; "" when there was none.
	Body string
	// Form is the decoded body when the Content-Type's media type is
	// application/x-www-form-urlencoded (any parameters, such as a charset,
	// are allowed); nil otherwise or when the body is empty. A malformed
	// form keeps the pairs that parse, and DecodeErr is set.
	Form url.Values
	// JSON is the decoded body when the media type is application/json or
	// ends in +json: map[string]any, []any, string, json.Number (numbers
	// are decoded with UseNumber, so none loses precision), bool or nil.
	// Nil otherwise, when the body is empty, or when it is not valid JSON.
	JSON any
	// DecodeErr says why the body could not be decoded as Form or JSON:
	// invalid JSON, data after the JSON value, or a malformed form. Nil when
	// it was decoded or when its media type is neither.
	DecodeErr error
}

// newRequest records r, whose body has been read.
func newRequest(r *http.Request, body []byte) Request {
	req := Request{
		Time:     time.Now(),
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Host:     r.Host,
		Header:   r.Header.Clone(),
		Body:     string(body),
	}
	req.decode()
	return req
}

// decode fills in Form or JSON, and DecodeErr, from Body and Content-Type.
func (r *Request) decode() {
	r.Form, r.JSON, r.DecodeErr = nil, nil, nil
	if r.Body == "" {
		return
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return // no or unparsable Content-Type: the raw body only
	}
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		r.Form, err = url.ParseQuery(r.Body)
		if err != nil {
			r.DecodeErr = fmt.Errorf("smstest: decode form body: %w", err)
		}
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		dec := json.NewDecoder(strings.NewReader(r.Body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			r.DecodeErr = fmt.Errorf("smstest: decode JSON body: %w", err)
			return
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			r.DecodeErr = errors.New("smstest: decode JSON body: data after the JSON value")
			return
		}
		r.JSON = v
	}
}

// clone returns a copy of r that shares nothing mutable with it.
func (r Request) clone() Request {
	c := r
	c.Header = r.Header.Clone()
	if r.Form != nil {
		c.Form = make(url.Values, len(r.Form))
		for k, vs := range r.Form {
			c.Form[k] = append([]string(nil), vs...)
		}
	}
	if r.JSON != nil {
		c.decode() // a fresh decoding: nothing shared
	}
	return c
}

// FormValue returns the first value of key in the decoded form body, or ""
// when there is no such key or no form body.
func (r Request) FormValue(key string) string {
	return r.Form.Get(key)
}

// JSONField returns the value at path in the decoded JSON body: each element
// is an object key, or a decimal index into an array. With no path it
// returns the whole value. It returns nil when the body is not JSON, the
// path does not exist, or the value there is null. Numbers are json.Number.
func (r Request) JSONField(path ...string) any {
	v := r.JSON
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// BasicAuth returns the user name and password of the request's
// Authorization header, as http.Request.BasicAuth does; ok is false when it
// has none or it is not valid basic authentication.
func (r Request) BasicAuth() (user, password string, ok bool) {
	return (&http.Request{Header: r.Header}).BasicAuth()
}
