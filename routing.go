package smscourier

import "time"

// RoutingConfig configures a Router: named gateways, and routes that map
// recipients to an ordered list of them. ParseRoutingConfig reads it from a
// config document's smscourier section, beside a Kratos courier section
// that stays valid for Kratos. A config built in Go is checked by the same
// rules, stated on the fields, and its problems are reported with the key
// paths the document would have (smscourier.routes[0].prefixes[1]).
type RoutingConfig struct {
	// Gateways are the gateways by name; at least one is required. Each
	// is a whole SMS block, as courier.sms is: its own from,
	// request_config, auth and templates. A gateway that a route names
	// must be enabled, except when every gateway is disabled and no route
	// but Default names them: the Router then answers ErrDisabled. Names
	// are at most 64 lowercase letters, digits, '-' and '_', starting with
	// a letter; GatewayCourier names the one that ParseRoutingConfig takes
	// from the Kratos courier section. Every gateway but GatewayCourier
	// must be named by a route.
	Gateways map[string]SMSConfig
	// Routes map E.164 prefixes to gateways: the route with the longest
	// prefix of the recipient's number is taken. Optional.
	Routes []Route
	// Default is the route of recipients that no prefix matches, numbers
	// not in E.164 form included. Required; its Prefixes must be empty.
	Default Route
	// Breaker configures each gateway's circuit breaker.
	Breaker BreakerConfig
}

// GatewayCourier is the name of the gateway that ParseRoutingConfig reads
// from the Kratos courier section (courier.sms or the sms channel).
const GatewayCourier = "courier"

// Route is an ordered list of gateways for the recipients whose numbers
// start with one of its prefixes.
type Route struct {
	// Prefixes are E.164 prefixes: '+' and 1 to 15 digits ("+1", "+44",
	// "+4470"). A route has at least one, and each prefix belongs to one
	// route.
	Prefixes []string
	// Gateways are tried in order; at least one step is required. A step
	// names one gateway, or shares the messages among several by weight.
	// Every gateway named must be defined in RoutingConfig.Gateways, and
	// appear at most once in the route, across steps and shares.
	Gateways []RouteStep
	// FailoverOnRejected moves on to the next gateway after ErrRejected
	// too (a 4xx other than 408 and 429): for gateways known to reject
	// numbers that others accept. By default a rejection ends the send,
	// since the number or the text is at fault.
	FailoverOnRejected bool
	// ResendUndelivered, key resend_undelivered, asks that a message a
	// delivery receipt reports undelivered or failed be sent once more, at
	// the gateway that follows in the route the one that took it (see
	// Router.ResendGateway): that gateway's receipt said the message did
	// not reach the phone, so a second send cannot deliver it twice. The
	// queue does it (queue.Resender), under the same idempotency key.
	ResendUndelivered bool
}

// RouteStep is one step of a route: one gateway, or several that share
// the messages by weight. Exactly one of Gateway and Share is set.
type RouteStep struct {
	// Gateway names one gateway.
	Gateway string
	// Share names at least two gateways with weights from 1 to 1000000:
	// each message goes first to one of them, chosen at random in
	// proportion to the weights, and fails over to the others of the step
	// in order of weight (then name) before the next step.
	Share map[string]int
}

// BreakerConfig configures the circuit breaker each gateway of a Router
// has. The zero value takes the defaults.
type BreakerConfig struct {
	// Failures is how many consecutive failed attempts at a gateway
	// (not sent, refused, or outcome unknown) open its breaker; 0 means
	// DefaultBreakerFailures. It must not be negative.
	Failures int
	// CoolDown is how long an open breaker skips its gateway before it
	// lets one probe through; 0 means DefaultBreakerCoolDown. It must not
	// be negative.
	CoolDown time.Duration
}

// Defaults of BreakerConfig.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCoolDown = 30 * time.Second
)
