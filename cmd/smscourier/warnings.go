package main

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/smscourier/smscourier"
)

// standardMethods are the methods net/http names.
var standardMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// placeholder marks a value a preset leaves for the user to fill in.
const placeholder = "YOUR_"

// warnings returns what validate reports about a valid config without
// failing, for its SMS block, or for each gateway of a routing config (in
// the order of their names): see blockWarnings.
func warnings(l loaded) []string {
	if l.routing == nil {
		return blockWarnings(l.cfg, l.layout)
	}
	var out []string
	for _, name := range gatewayNames(l.routing) {
		out = append(out, blockWarnings(l.routing.Gateways[name], gatewayKeyPath(name, l.layout))...)
	}
	return out
}

// blockWarnings returns what validate reports, without failing, about the
// SMS block cfg found at the key path block: a method that is not upper
// case or not standard (the library sends any valid token as it is, and
// gateways compare methods case-sensitively), and placeholders still in
// place. Each names the key path, never the value.
func blockWarnings(cfg smscourier.SMSConfig, block string) []string {
	rc := cfg.RequestConfig
	path := func(key string) string { return block + "." + key }
	var out []string
	if m := rc.Method; m != "" {
		switch {
		case m != strings.ToUpper(m):
			out = append(out, path("request_config.method")+" is not upper case; gateways compare methods case-sensitively, so "+
				"it is sent as written")
		case !slices.Contains(standardMethods, m):
			out = append(out, path("request_config.method")+" is not a standard HTTP method")
		}
	}
	values := map[string]string{
		"from":                                cfg.From,
		"request_config.url":                  rc.URL,
		"request_config.body":                 rc.Body,
		"request_config.response":             rc.Response,
		"request_config.auth.config.user":     rc.Auth.Config.User,
		"request_config.auth.config.password": string(rc.Auth.Config.Password),
		"request_config.auth.config.name":     rc.Auth.Config.Name,
		"request_config.auth.config.value":    string(rc.Auth.Config.Value),
	}
	for name, value := range rc.Headers {
		values["request_config.headers."+name] = value
	}
	var held []string
	for key, value := range values {
		if strings.Contains(value, placeholder) {
			held = append(held, path(key))
		}
	}
	sort.Strings(held)
	for _, key := range held {
		out = append(out, key+" still holds a placeholder ("+placeholder+"...); replace it with the real value")
	}
	return out
}
