package smscourier

// TEMPORARY stub until the routing config branch lands.
func (c RoutingConfig) check() problems {
	var ps problems
	for name, g := range c.Gateways {
		if g.Enabled {
			ps.list = append(ps.list, g.check("smscourier.gateways."+name).list...)
		}
	}
	return ps
}
