// Package presets holds ready-made smscourier configurations for common SMS
// gateways (Twilio, Vonage, Plivo, Sinch, Infobip, Telnyx, MessageBird,
// Brevo, Textmagic) and for a generic JSON webhook.
//
// A preset is a directory of three files, embedded in this package:
// config.yml (a Kratos config snippet in the seeds' layout, courier.sms,
// with placeholders such as YOUR_AUTH_TOKEN where credentials go),
// request.jsonnet (the body template) and response.jsonnet (the response
// template, which finds the message id and the gateway's error code and
// message in its reply and says which failures are worth retrying). The
// README in this directory lists them, with each gateway's URL, auth, body
// encoding and phone number format.
//
// Config returns a preset as an smscourier.SMSConfig whose templates are
// embedded as base64:// URIs, so it works from any working directory. Fill
// in the placeholders, then build a courier:
//
//	cfg, err := presets.Config("twilio")
//	if err != nil { ... }
//	cfg.From = "+12065550110"
//	cfg.RequestConfig.URL = strings.Replace(cfg.RequestConfig.URL, "YOUR_ACCOUNT_SID", sid, 1)
//	cfg.RequestConfig.Auth.Config.User = sid
//	cfg.RequestConfig.Auth.Config.Password = smscourier.Secret(token)
//	courier, err := smscourier.New(cfg)
//
// A Kratos config file can use the snippets as they are, with the file://
// paths relative to a working directory where presets/ is.
//
// Every function returns fresh values and is safe for concurrent use.
package presets

import (
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/smscourier/smscourier"
)

// The files of every preset, for Template.
const (
	ConfigFile   = "config.yml"       // the Kratos config snippet
	RequestFile  = "request.jsonnet"  // the request body template
	ResponseFile = "response.jsonnet" // the response template
)

// ErrNotFound is wrapped by the error that Config and Template return for a
// name that is not a preset, or a file that the preset does not have.
var ErrNotFound = errors.New("smscourier: preset not found")

//go:embed */*.jsonnet */*.yml
var files embed.FS

// names lists the preset directories, sorted.
var names = func() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("smscourier: presets: " + err.Error()) // embedded: cannot fail
	}
	var list []string
	for _, e := range entries {
		if e.IsDir() {
			list = append(list, e.Name())
		}
	}
	return list // fs.ReadDir sorts by name
}()

// Names returns the names of all presets, sorted: "twilio",
// "vonage-sms", "webhook" and so on. The slice is the caller's to modify.
func Names() []string {
	return slices.Clone(names)
}

// Template returns the content of one file of a preset: ConfigFile,
// RequestFile or ResponseFile. It fails with an error wrapping ErrNotFound
// when name is not a preset or the preset has no such file. The slice is
// the caller's to modify.
func Template(name, file string) ([]byte, error) {
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if strings.ContainsAny(file, `/\`) {
		return nil, fmt.Errorf("%w: %s has no file %q", ErrNotFound, name, file)
	}
	data, err := files.ReadFile(name + "/" + file)
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no file %q", ErrNotFound, name, file)
	}
	return data, nil
}

// Config returns the preset's config.yml parsed by smscourier.ParseConfig,
// with its body and response templates as base64:// URIs of the embedded
// files instead of the file:// paths the snippet names. Credentials, the
// sender and parts of some URLs are placeholders (YOUR_...) to replace
// before sending; the README names them. It fails with an error wrapping
// ErrNotFound when name is not a preset.
func Config(name string) (smscourier.SMSConfig, error) {
	doc, err := Template(name, ConfigFile)
	if err != nil {
		return smscourier.SMSConfig{}, err
	}
	cfg, err := smscourier.ParseConfig(doc)
	if err != nil { // the tests parse every preset
		return smscourier.SMSConfig{}, fmt.Errorf("smscourier: preset %s: %w", name, err)
	}
	rc := &cfg.RequestConfig
	for _, t := range []struct {
		uri  *string
		file string
	}{{&rc.Body, RequestFile}, {&rc.Response, ResponseFile}} {
		src, err := Template(name, t.file)
		if err != nil {
			return smscourier.SMSConfig{}, err
		}
		*t.uri = "base64://" + base64.StdEncoding.EncodeToString(src)
	}
	return cfg, nil
}
