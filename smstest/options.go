package smstest

import "net"

// Option configures a Gateway in New or NewServer.
type Option interface {
	apply(*options)
}

type options struct {
	tls      bool
	listener net.Listener
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithTLS makes the gateway serve HTTPS, with a self-signed certificate for
// 127.0.0.1 and example.com, over HTTP/1.1. Clients must trust it: send
// through Gateway.Client (with smscourier, WithHTTPClient(gw.Client())).
// Without it the gateway serves plain HTTP.
func WithTLS() Option {
	return optionFunc(func(o *options) { o.tls = true })
}

// WithListener makes the gateway serve on l instead of a new listener on a
// random loopback port: a command-line fake gateway uses it to serve on the
// address its user asked for. The gateway closes l in Close.
func WithListener(l net.Listener) Option {
	return optionFunc(func(o *options) { o.listener = l })
}
