package smscourier

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The keys of the smscourier section. Decoding, unknown-key detection and
// the key paths of problems all read them.
const (
	routingSection  = "smscourier"
	keyGateways     = "gateways" // of the section, and of a route
	keyRoutes       = "routes"
	keyDefaultRoute = "default_route"
	keyBreaker      = "breaker"
	keyPrefixes     = "prefixes"
	keyFailover     = "failover_on_rejected"
	keyResend       = "resend_undelivered"
	keyFailures     = "failures"
	keyCoolDown     = "cool_down"
)

// Key paths of the smscourier section.
const (
	gatewaysPath     = routingSection + "." + keyGateways
	routesPath       = routingSection + "." + keyRoutes
	defaultRoutePath = routingSection + "." + keyDefaultRoute
	breakerPath      = routingSection + "." + keyBreaker
	courierPath      = "courier.sms" // where check reports GatewayCourier's block
)

// Limits of the routing config.
const (
	maxGatewayName = 64      // bytes of a gateway name
	maxPrefixDigit = 15      // digits of an E.164 prefix, as of a number
	maxShareWeight = 1000000 // so that the weights of a share add up safely
)

// sectionKeys are the keys of the smscourier section, with their decoders.
var sectionKeys = map[string]func(v any, path string, c *RoutingConfig, ps *problems){
	keyGateways:     decodeGateways,
	keyRoutes:       decodeRoutes,
	keyDefaultRoute: func(v any, path string, c *RoutingConfig, ps *problems) { decodeRoute(v, path, &c.Default, ps) },
	keyBreaker:      decodeBreaker,
	// The guard section belongs to package guard (module guard), the
	// receipts section to package receipt, which parse and check them: the
	// routing config leaves them alone.
	"guard":    func(any, string, *RoutingConfig, *problems) {},
	"receipts": func(any, string, *RoutingConfig, *problems) {},
}

// routeKeys are the keys of a route (an entry of routes, or
// default_route), with their decoders.
var routeKeys = map[string]func(v any, path string, r *Route, ps *problems){
	keyPrefixes: decodePrefixes,
	keyGateways: decodeSteps,
	keyFailover: func(v any, path string, r *Route, ps *problems) { r.FailoverOnRejected = boolean(v, path, ps) },
	keyResend:   func(v any, path string, r *Route, ps *problems) { r.ResendUndelivered = boolean(v, path, ps) },
}

// breakerKeys are the keys of breaker, with their decoders.
var breakerKeys = map[string]func(v any, path string, b *BreakerConfig, ps *problems){
	keyFailures: func(v any, path string, b *BreakerConfig, ps *problems) { b.Failures = integer(v, path, ps) },
	keyCoolDown: func(v any, path string, b *BreakerConfig, ps *problems) {
		s, ok := v.(string)
		if !ok {
			str(v, path, ps)
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil { // its text quotes the value
			ps.addMalformed(path, "not a valid duration: write it as 30s, 1m or 1m30s")
			return
		}
		b.CoolDown = d
	},
}

// LoadRoutingConfig reads the file at path and parses it with
// ParseRoutingConfig.
func LoadRoutingConfig(path string) (RoutingConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return RoutingConfig{}, fmt.Errorf("smscourier: load config: %w", err)
	}
	return ParseRoutingConfig(data)
}

// LoadRoutingConfigEnv reads the file at path and parses it with
// ParseRoutingConfigEnv, applying the overrides found in environ (pass
// os.Environ()).
func LoadRoutingConfigEnv(path string, environ []string) (RoutingConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return RoutingConfig{}, fmt.Errorf("smscourier: load config: %w", err)
	}
	return ParseRoutingConfigEnv(data, environ)
}

// ParseRoutingConfig parses a whole configuration document, YAML or JSON,
// and returns its routing config, validated. Keys outside `courier` and
// `smscourier` are ignored.
//
// A document without a top-level `smscourier` key is a Kratos config, read
// as ParseConfig reads it, and means one gateway: Gateways holds
// GatewayCourier, the SMS block ParseConfig returns, and Default routes
// every number to it; a disabled block (enabled: false) gives a disabled
// gateway, for which a Router answers ErrDisabled. Its errors are exactly
// ParseConfig's.
//
// The `smscourier` section holds `gateways`, a mapping of names to SMS
// blocks (the keys of courier.sms but `enabled`: each is enabled), `routes`,
// a list of {prefixes, gateways, failover_on_rejected}, `default_route`,
// {gateways, failover_on_rejected}, and `breaker`, {failures, cool_down}. In
// a route's gateways list a string names one gateway and a mapping of names
// to positive whole weights is a Share step; cool_down is a Go duration
// ("30s"). Beside it, the Kratos section is optional: when it holds an SMS
// block (courier.sms, or the courier.channels entry with id sms), that
// block is decoded and checked as ParseConfig does, its problems at their
// courier.* paths, and becomes the gateway GatewayCourier, which routes may
// name; a gateway of that name under smscourier.gateways is a problem.
//
// Every rule of RoutingConfig (see its fields) is checked, each problem at
// its key path ("smscourier.routes[0].gateways[1]: unknown gateway sns").
// Two gateways whose environment variables would be the same (a-b and a_b,
// see ParseRoutingConfigEnv) are a problem too. Unknown keys anywhere in
// the section are problems; a number where a string belongs (a prefix, a
// from) is refused rather than converted. The document must be a single
// YAML document and no mapping in it may give a key twice, as for
// ParseConfig. Every problem found is reported at once in a *ConfigError,
// which wraps ErrInvalidConfig. Problems may name gateways and prefixes,
// never a configured value such as a URL, a header or a credential. The
// templates are not loaded here.
func ParseRoutingConfig(data []byte) (RoutingConfig, error) {
	doc, err := decodeRaw(data)
	if err != nil {
		return RoutingConfig{}, err
	}
	cfg, ps := decodeRouting(doc)
	if err := ps.err(); err != nil {
		return RoutingConfig{}, err
	}
	return cfg, nil
}

// ParseRoutingConfigEnv is ParseRoutingConfig with environment overrides:
// it first sets every key named by a variable in environ, then decodes and
// validates the result exactly as ParseRoutingConfig does. environ holds
// "KEY=value" entries, as os.Environ returns them; nothing else is read.
//
// Every variable ParseConfigEnv knows (COURIER_SMS_*, COURIER_CHANNELS_N_*)
// applies to the Kratos section, with the same rules. In addition, each
// gateway G defined under smscourier.gateways in the document takes
//
//	SMSCOURIER_GATEWAYS_<G>_FROM
//	SMSCOURIER_GATEWAYS_<G>_REQUEST_CONFIG_K
//	K: URL, METHOD, BODY, RESPONSE, AUTH_TYPE,
//	   AUTH_CONFIG_USER, AUTH_CONFIG_PASSWORD,
//	   AUTH_CONFIG_NAME, AUTH_CONFIG_VALUE, AUTH_CONFIG_IN
//
// where <G> is G upper-cased with '-' written '_' (gateway eu-sms takes
// SMSCOURIER_GATEWAYS_EU_SMS_FROM). Names are matched without regard to
// case. Variables cannot create gateways, routes or breaker settings:
// those come from the document only, and variables naming anything else
// are ignored. Values are strings taken as they are; a value that is not
// valid UTF-8 is a problem naming the variable. When several variables
// name the same key, the last one in environ wins.
//
// Errors are those of ParseRoutingConfig: a *ConfigError wrapping
// ErrInvalidConfig, whose problems about a key set from the environment
// name the variable. No error contains a value taken from the environment.
// With no variable that applies, the result is ParseRoutingConfig's.
func ParseRoutingConfigEnv(data []byte, environ []string) (RoutingConfig, error) {
	doc, err := decodeRaw(data)
	if err != nil {
		return RoutingConfig{}, err // as ParseRoutingConfig reports it
	}
	if doc == nil { // an empty document: the environment may supply a Kratos block
		doc = map[string]any{}
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return ParseRoutingConfig(data)
	}
	ov := applyEnv(root, routingEnvKeys(root), environ)
	if len(ov.set) == 0 && len(ov.problems) == 0 {
		return ParseRoutingConfig(data) // nothing to override
	}
	cfg, ps := decodeRouting(root)
	if err := ov.merge(ps.err()); err != nil {
		return RoutingConfig{}, err
	}
	return cfg, nil
}

// routingEnvKeys returns the keys variables may set in doc, by variable
// name: those of the Kratos section, and those of each gateway defined
// under smscourier.gateways with a valid name.
func routingEnvKeys(doc map[string]any) map[string]envKey {
	keys := knownEnvKeys(doc)
	section, _ := doc[routingSection].(map[string]any)
	gateways, _ := section[keyGateways].(map[string]any)
	for _, name := range sortedKeys(gateways) {
		if validGatewayName(name) && name != GatewayCourier {
			addEnvBlock(keys, gatewayBlock, routingSection, keyGateways, name)
		}
	}
	return keys
}

// decodeRouting decodes and checks a decoded document as
// ParseRoutingConfig does.
func decodeRouting(doc any) (RoutingConfig, problems) {
	root, _ := doc.(map[string]any)
	section, ok := root[routingSection]
	if !ok { // a Kratos config
		sms, _, ps := decodeKratos(doc, true)
		if len(ps.list) > 0 {
			return RoutingConfig{}, ps
		}
		return RoutingConfig{
			Gateways: map[string]SMSConfig{GatewayCourier: sms},
			Default:  Route{Gateways: []RouteStep{{Gateway: GatewayCourier}}},
		}, ps
	}

	var c RoutingConfig
	sms, prefix, ps := decodeKratos(doc, false)
	if prefix != "" {
		c.Gateways = map[string]SMSConfig{GatewayCourier: sms}
	}
	m := mapping(section, routingSection, &ps)
	for _, k := range sortedKeys(m) {
		path := keyPath(routingSection, k)
		if decode, ok := sectionKeys[k]; ok {
			decode(m[k], path, &c, &ps)
		} else {
			ps.add(path, "unknown key")
		}
	}

	// The rules, but for the gateways' blocks, which decodeGateways
	// checked with the document's spelling of headers. Problems that a
	// malformed value would cause are left out.
	rules := routingRules{
		refs:   !ps.covers(gatewaysPath),
		unused: !routeMalformed(&ps),
	}
	for _, p := range c.checkRules(rules).list {
		if !ps.covers(p.Path) {
			ps.list = append(ps.list, p)
		}
	}
	if len(ps.list) > 0 {
		return RoutingConfig{}, ps
	}
	return c, ps
}

// decodeGateways decodes smscourier.gateways into c.Gateways and checks
// each gateway's block.
func decodeGateways(v any, path string, c *RoutingConfig, ps *problems) {
	m := mapping(v, path, ps)
	if len(m) > 0 && c.Gateways == nil {
		c.Gateways = make(map[string]SMSConfig, len(m))
	}
	envNames := map[string]string{}
	for _, name := range sortedKeys(m) {
		p := keyPath(path, name)
		if name == GatewayCourier {
			ps.add(p, "reserved for the Kratos courier section's SMS block: choose another name")
			if _, ok := c.Gateways[GatewayCourier]; ok {
				continue
			}
		}
		if validGatewayName(name) {
			if other, ok := envNames[envName(name)]; ok {
				ps.add(p, "has the environment variables of gateway %s (SMSCOURIER_GATEWAYS_%s_*): rename one", other, envName(name))
			}
			envNames[envName(name)] = name
		}
		cfg := SMSConfig{Enabled: true}
		block := mapping(m[name], p, ps)
		decodeKeys(block, p, "", gatewayBlock, &cfg, ps)
		checkDecoded(cfg, p, headerKeyOf(block), ps)
		c.Gateways[name] = cfg
	}
}

// decodeRoutes decodes smscourier.routes into c.Routes, an entry for each
// entry of the list, so that indexes match.
func decodeRoutes(v any, path string, c *RoutingConfig, ps *problems) {
	list := sequence(v, path, ps)
	if len(list) > 0 {
		c.Routes = make([]Route, len(list))
	}
	for i, item := range list {
		decodeRoute(item, fmt.Sprintf("%s[%d]", path, i), &c.Routes[i], ps)
	}
}

// sequence returns the list v, found at path, or reports a value that is
// not one (nil is an absent list).
func sequence(v any, path string, ps *problems) []any {
	list, ok := v.([]any)
	if !ok && v != nil {
		ps.addMalformed(path, "must be a list")
	}
	return list
}

// decodeRoute decodes the route mapping v, found at path, into r.
func decodeRoute(v any, path string, r *Route, ps *problems) {
	m := mapping(v, path, ps)
	for _, k := range sortedKeys(m) {
		p := keyPath(path, k)
		if decode, ok := routeKeys[k]; ok {
			decode(m[k], p, r, ps)
		} else {
			ps.add(p, "unknown key")
		}
	}
}

// decodePrefixes decodes a route's prefixes, a list of strings.
func decodePrefixes(v any, path string, r *Route, ps *problems) {
	list := sequence(v, path, ps)
	if len(list) > 0 {
		r.Prefixes = make([]string, len(list))
	}
	for j, item := range list {
		r.Prefixes[j] = str(item, fmt.Sprintf("%s[%d]", path, j), ps)
	}
}

// decodeSteps decodes a route's gateways: a string is a one-gateway step,
// a mapping of gateway names to weights a Share step.
func decodeSteps(v any, path string, r *Route, ps *problems) {
	list := sequence(v, path, ps)
	if len(list) > 0 {
		r.Gateways = make([]RouteStep, len(list))
	}
	for k, item := range list {
		p := fmt.Sprintf("%s[%d]", path, k)
		switch item := item.(type) {
		case string:
			r.Gateways[k].Gateway = item
		case map[string]any:
			share := make(map[string]int, len(item))
			for _, name := range sortedKeys(item) {
				share[name] = integer(item[name], keyPath(p, name), ps)
			}
			r.Gateways[k].Share = share
		default:
			ps.addMalformed(p, "must be a gateway name or a mapping of gateway names to weights")
		}
	}
}

// decodeBreaker decodes smscourier.breaker into c.Breaker.
func decodeBreaker(v any, path string, c *RoutingConfig, ps *problems) {
	m := mapping(v, path, ps)
	for _, k := range sortedKeys(m) {
		p := keyPath(path, k)
		if decode, ok := breakerKeys[k]; ok {
			decode(m[k], p, &c.Breaker, ps)
		} else {
			ps.add(p, "unknown key")
		}
	}
}

// integer accepts a whole number that fits an int; a string is refused.
func integer(v any, path string, ps *problems) int {
	n, ok := v.(json.Number)
	if !ok {
		ps.addMalformed(path, "must be a whole number")
		return 0
	}
	i, err := strconv.Atoi(string(n))
	if err != nil {
		ps.addMalformed(path, "must be a whole number")
		return 0
	}
	return i
}

// routeMalformed reports whether the section, or a value in its routes or
// default route, was malformed: a gateway named there may be missing from
// the decoded routes.
func routeMalformed(ps *problems) bool {
	for _, m := range ps.malformed {
		if m == routingSection || strings.HasPrefix(m, routesPath) || strings.HasPrefix(m, defaultRoutePath) {
			return true
		}
	}
	return false
}

// routingRules selects rules of checkRules.
type routingRules struct {
	blocks bool // check each gateway's SMS block
	refs   bool // report route steps naming a gateway that is not defined
	unused bool // report gateways that no route names
}

// check validates the typed config, reporting key paths under smscourier
// (a gateway G's block under smscourier.gateways.G, GatewayCourier's under
// courier.sms), in a stable order.
func (c RoutingConfig) check() problems {
	return c.checkRules(routingRules{blocks: true, refs: true, unused: true})
}

// checkRules applies the rules of RoutingConfig that rules selects, and
// every other one.
func (c RoutingConfig) checkRules(rules routingRules) problems {
	var ps problems
	names := slices.Sorted(maps.Keys(c.Gateways))
	if len(names) == 0 {
		ps.add(gatewaysPath, "required: at least one gateway")
	}
	allDisabled := len(names) > 0
	for _, name := range names {
		g := c.Gateways[name]
		allDisabled = allDisabled && !g.Enabled
		if !validGatewayName(name) {
			ps.add(gatewayPath(name), "not a valid gateway name: a lowercase letter, then lowercase letters, digits, '-' or '_', at most %d in all", maxGatewayName)
		}
		if rules.blocks {
			ps.list = append(ps.list, g.check(gatewayPath(name)).list...)
		}
	}

	rc := routeCheck{c: c, rules: rules, ps: &ps, used: map[string]bool{}, prefixes: map[string]string{},
		// A config whose every gateway is disabled, with no route but
		// the default, is a disabled courier: the Router answers
		// ErrDisabled.
		disabledOK: allDisabled && len(c.Routes) == 0,
	}
	for i, r := range c.Routes {
		path := fmt.Sprintf("%s[%d]", routesPath, i)
		if len(r.Prefixes) == 0 {
			ps.add(path+"."+keyPrefixes, "required: at least one E.164 prefix, such as +44")
		}
		for j, prefix := range r.Prefixes {
			rc.prefix(prefix, fmt.Sprintf("%s.%s[%d]", path, keyPrefixes, j))
		}
		rc.steps(path, r.Gateways)
	}

	d := c.Default
	switch {
	case len(d.Gateways) == 0 && len(d.Prefixes) == 0 && !d.FailoverOnRejected && !d.ResendUndelivered:
		ps.add(defaultRoutePath, "required: the route of numbers that no prefix matches")
	default:
		if len(d.Prefixes) > 0 {
			ps.add(defaultRoutePath+"."+keyPrefixes, "must be empty: the default route takes the numbers that no prefix matches")
		}
		rc.steps(defaultRoutePath, d.Gateways)
	}

	if rules.unused {
		for _, name := range names {
			if name != GatewayCourier && !rc.used[name] {
				ps.add(gatewayPath(name), "not used by any route")
			}
		}
	}

	if c.Breaker.Failures < 0 {
		ps.add(breakerPath+"."+keyFailures, "must not be negative (0 means the default, %d)", DefaultBreakerFailures)
	}
	if c.Breaker.CoolDown < 0 {
		ps.add(breakerPath+"."+keyCoolDown, "must not be negative (0 means the default, %s)", DefaultBreakerCoolDown)
	}
	return ps
}

// routeCheck checks the routes of a config.
type routeCheck struct {
	c          RoutingConfig
	rules      routingRules
	ps         *problems
	used       map[string]bool   // gateways named by a route
	prefixes   map[string]string // valid prefixes, by the path of their first occurrence
	disabledOK bool              // disabled gateways are no problem
}

// prefix checks a route's prefix, found at path.
func (rc *routeCheck) prefix(prefix, path string) {
	switch {
	case prefix == "+":
		rc.ps.add(path, "matches every number: use default_route")
	case !IsE164(prefix):
		rc.ps.add(path, "must be + and 1 to %d digits, the first not 0", maxPrefixDigit)
	default:
		if first, dup := rc.prefixes[prefix]; dup {
			rc.ps.add(path, "prefix %s is given twice: first at %s", prefix, first)
			return
		}
		rc.prefixes[prefix] = path
	}
}

// steps checks the steps of the route at path.
func (rc *routeCheck) steps(path string, steps []RouteStep) {
	p := path + "." + keyGateways
	if len(steps) == 0 {
		rc.ps.add(p, "empty route: name at least one gateway")
		return
	}
	seen := map[string]string{} // gateways of the route, by first path
	for k, st := range steps {
		sp := fmt.Sprintf("%s[%d]", p, k)
		switch {
		case st.Gateway != "" && st.Share != nil:
			rc.ps.add(sp, "both a gateway and a share: a step is one or the other")
		case st.Gateway == "" && st.Share == nil:
			rc.ps.add(sp, "empty step: name a gateway, or gateways that share by weight")
		case st.Gateway != "":
			rc.gateway(st.Gateway, sp, seen)
		default:
			if len(st.Share) < 2 {
				rc.ps.add(sp, "a share names at least 2 gateways: write a single gateway as its name")
			}
			for _, name := range slices.Sorted(maps.Keys(st.Share)) {
				np := keyPath(sp, name)
				if w := st.Share[name]; w < 1 || w > maxShareWeight {
					rc.ps.add(np, "weight must be 1 to %d", maxShareWeight)
				}
				rc.gateway(name, np, seen)
			}
		}
	}
}

// gateway checks the gateway name found at path in a route whose gateways
// so far are seen.
func (rc *routeCheck) gateway(name, path string, seen map[string]string) {
	rc.used[name] = true
	if first, dup := seen[name]; dup {
		rc.ps.add(path, "gateway %s is already in this route, at %s", name, first)
		return
	}
	seen[name] = path
	g, ok := rc.c.Gateways[name]
	switch {
	case !ok && !rc.rules.refs:
	case !ok && name == GatewayCourier:
		rc.ps.add(path, "unknown gateway %s: there is no SMS block in the Kratos courier section", name)
	case !ok:
		rc.ps.add(path, "unknown gateway %s", name)
	case !g.Enabled && !rc.disabledOK:
		rc.ps.add(path, "gateway %s is disabled", name)
	}
}

// gatewayPath returns the key path of the gateway name's block.
func gatewayPath(name string) string {
	if name == GatewayCourier {
		return courierPath
	}
	return keyPath(gatewaysPath, name)
}

// validGatewayName reports whether name is a lowercase letter followed by
// lowercase letters, digits, '-' and '_', at most maxGatewayName in all.
func validGatewayName(name string) bool {
	if name == "" || len(name) > maxGatewayName || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
