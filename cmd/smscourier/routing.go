package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/smscourier/smscourier"
	"sigs.k8s.io/yaml"
)

// routingSection is the top-level key of a routing config: a document
// that has it configures a smscourier.Router (see
// smscourier.ParseRoutingConfig).
const routingSection = "smscourier"

// hasRoutingSection reports whether data, a YAML or JSON document, is a
// mapping with a top-level smscourier key that holds more than the guard's
// settings: a section with only a guard key leaves a Kratos config a
// Kratos config. A document that does not decode has none: ParseConfig
// then reports what is wrong with it.
func hasRoutingSection(data []byte) bool {
	doc, ok := decodeDocument(data)
	if !ok {
		return false
	}
	section, ok := doc[routingSection]
	if !ok {
		return false
	}
	m, isMap := section.(map[string]any)
	if !isMap || len(m) == 0 {
		return true // ParseRoutingConfig reports what is wrong with it
	}
	for k := range m {
		if k != guardKey && k != receiptsKey {
			return true
		}
	}
	return false
}

// decodeDocument decodes data, a YAML or JSON document, when it is a
// mapping.
func decodeDocument(data []byte) (map[string]any, bool) {
	var doc map[string]any
	if js, err := yaml.YAMLToJSON(data); err != nil || json.Unmarshal(js, &doc) != nil {
		return nil, false
	}
	return doc, true
}

// gatewayNames returns the names of rc's gateways, sorted.
func gatewayNames(rc *smscourier.RoutingConfig) []string {
	return slices.Sorted(maps.Keys(rc.Gateways))
}

// gatewayKeyPath returns the key path of the block of the gateway name:
// smscourier.gateways.NAME, or layout for smscourier.GatewayCourier, the
// block of the Kratos courier section.
func gatewayKeyPath(name, layout string) string {
	if name == smscourier.GatewayCourier {
		return layout
	}
	return routingSection + ".gateways." + name
}

// routingSummary describes a valid routing config, without credentials, a
// line each: the first "valid: layout=smscourier gateways=N routes=N" (the
// routes with prefixes), then each gateway, each route in the order of the
// document, the default route and the breaker settings.
func routingSummary(l loaded) string {
	rc := l.routing
	var b strings.Builder
	fmt.Fprintf(&b, "valid: layout=%s gateways=%d routes=%d\n", routingSection, len(rc.Gateways), len(rc.Routes))
	used := map[string]bool{}
	for _, r := range append(slices.Clip(rc.Routes), rc.Default) {
		for _, st := range r.Gateways {
			used[st.Gateway] = true
			for name := range st.Share {
				used[name] = true
			}
		}
	}
	for _, name := range gatewayNames(rc) {
		g := rc.Gateways[name]
		var fields []string
		if name == smscourier.GatewayCourier {
			fields = append(fields, "layout="+l.layout)
		}
		if !g.Enabled {
			fields = append(fields, "enabled=false")
		}
		if !used[name] {
			fields = append(fields, "used=false")
		}
		fields = append(fields, requestFields(g.RequestConfig)...)
		fmt.Fprintf(&b, "gateway %s: %s\n", name, strings.Join(fields, " "))
	}
	for _, r := range rc.Routes {
		fmt.Fprintf(&b, "route %s: %s\n", strings.Join(r.Prefixes, " "), routeText(r))
	}
	fmt.Fprintf(&b, "route default: %s\n", routeText(rc.Default))
	failures, coolDown := rc.Breaker.Failures, rc.Breaker.CoolDown
	if failures == 0 {
		failures = smscourier.DefaultBreakerFailures
	}
	if coolDown == 0 {
		coolDown = smscourier.DefaultBreakerCoolDown
	}
	fmt.Fprintf(&b, "breaker: failures=%d cool_down=%s\n", failures, coolDown)
	return b.String()
}

// routeText describes the steps of r, "vonage, {twilio: 70, sns: 30}",
// a share's gateways by weight, heaviest first, then by name, as the Router
// orders them; " (failover_on_rejected)" follows when r has it.
func routeText(r smscourier.Route) string {
	steps := make([]string, len(r.Gateways))
	for i, st := range r.Gateways {
		if st.Share == nil {
			steps[i] = st.Gateway
			continue
		}
		names := slices.SortedFunc(maps.Keys(st.Share), func(a, b string) int {
			return cmp.Or(cmp.Compare(st.Share[b], st.Share[a]), cmp.Compare(a, b))
		})
		shares := make([]string, len(names))
		for j, name := range names {
			shares[j] = name + ": " + strconv.Itoa(st.Share[name])
		}
		steps[i] = "{" + strings.Join(shares, ", ") + "}"
	}
	text := strings.Join(steps, ", ")
	if r.FailoverOnRejected {
		text += " (failover_on_rejected)"
	}
	return text
}

// gatewayRender is the request rendered for one gateway of a route, or
// why none was: its template failed or cancelled the message.
type gatewayRender struct {
	name string
	req  *http.Request
	err  error
}

// renderGateways renders m for each gateway of its route, in the order a
// send tries them. A gateway whose template fails or cancels m is listed
// with its error, as a send moves on from it. It fails when m is refused
// before any template runs (an invalid message, a disabled config), and
// when no gateway renders m, with the first gateway's error.
func renderGateways(ctx context.Context, r *smscourier.Router, m smscourier.Message) ([]gatewayRender, error) {
	names := r.Route(m.To)
	if len(names) == 0 { // disabled
		_, err := r.Render(ctx, m)
		return nil, err
	}
	out := make([]gatewayRender, len(names))
	var firstErr error
	rendered := false
	for i, name := range names {
		req, err := r.Gateway(name).Render(ctx, m)
		switch class := smscourier.ClassOf(err); {
		case err == nil:
			rendered = true
		case class == smscourier.ClassTemplate || class == smscourier.ClassCancelled:
			firstErr = cmp.Or(firstErr, err)
		default:
			return nil, err
		}
		out[i] = gatewayRender{name: name, req: req, err: err}
	}
	if !rendered {
		return nil, firstErr
	}
	return out, nil
}

// checkRenders reports why s could make no request for m: for a Router,
// why no gateway of m's route renders it (see renderGateways).
func checkRenders(ctx context.Context, s smscourier.Sender, m smscourier.Message) error {
	if r, ok := s.(*smscourier.Router); ok {
		_, err := renderGateways(ctx, r, m)
		return err
	}
	_, err := s.Render(ctx, m)
	return err
}

// routedRequest is the request for one gateway of a route, as render
// --json prints it: the request, or why it could not be rendered.
type routedRequest struct {
	Gateway string `json:"gateway"`
	*shownRequest
	// Error says why no request was rendered for the gateway: its
	// template failed or cancelled the message, and a send would move on
	// to the next gateway.
	Error string `json:"error,omitempty"`
}

// renderRoute prints the request of each gateway of the route of the
// message, as renderGateways renders them, all with one idempotency key.
func (in *invocation) renderRoute(ctx context.Context, r *smscourier.Router, l loaded) int {
	m := in.message()
	if m.IdempotencyKey == "" {
		m.IdempotencyKey = smscourier.NewIdempotencyKey()
	}
	rendered, err := renderGateways(ctx, r, m)
	if err != nil {
		return in.fail(explain(err, "would be"))
	}
	shown := make([]routedRequest, len(rendered))
	for i, g := range rendered {
		shown[i].Gateway = g.name
		if g.err != nil {
			shown[i].Error = g.err.Error()
			continue
		}
		s, err := showRequest(g.req, l.routing.Gateways[g.name].RequestConfig.Auth)
		if err != nil {
			return in.fail(err)
		}
		shown[i].shownRequest = &s
	}
	if in.json {
		return in.printJSON(shown)
	}
	for i, s := range shown {
		if i > 0 {
			fmt.Fprintln(in.stdout)
		}
		fmt.Fprintf(in.stdout, "gateway %s (%d of %d)\n", s.Gateway, i+1, len(shown))
		if s.shownRequest == nil {
			fmt.Fprintf(in.stdout, "not rendered: %s\n", s.Error)
			continue
		}
		fmt.Fprint(in.stdout, s.text())
	}
	return exitOK
}

// tried describes the steps of a Router's send as send prints them:
// "primary not_sent, secondary ok", a gateway passed over as
// "primary skipped (circuit_open)"; "none" when there were none.
func tried(steps []smscourier.Try) string {
	if len(steps) == 0 {
		return "none"
	}
	out := make([]string, len(steps))
	for i, t := range steps {
		if t.Skipped != "" {
			out[i] = t.Gateway + " skipped (" + t.Skipped + ")"
		} else {
			out[i] = t.Gateway + " " + string(t.Class)
		}
	}
	return strings.Join(out, ", ")
}
