package guard

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/smscourier/smscourier"
	"github.com/stretchr/testify/require"
)

// request is one "send me a code" of the simulation.
type simRequest struct {
	at        time.Duration
	to        string
	requester string
	attack    bool
}

// Attacked ranges of the simulation: sequential mobile numbers of
// Uzbekistan and Kazakhstan, countries with high termination rates.
var simAttackRanges = []struct {
	first  int64 // the first number, without the plus sign
	prefix string
}{
	{first: 998901000000, prefix: "+998901"},
	{first: 77011000000, prefix: "+7701"},
}

// simLegitimate returns the legitimate traffic: users distinct numbers
// (valid mobile numbers of several countries, none in an attacked range),
// each asking for 1 to 3 codes over 3 hours, a minute or more apart, as a
// sign-in form's "resend" timer allows.
func simLegitimate(t *testing.T, rng *rand.Rand, users int) []simRequest {
	t.Helper()
	regions := []string{"US", "GB", "FR", "DE", "IN", "BR", "NG", "UZ", "KZ"}
	seen := map[string]bool{}
	var out []simRequest
	for i := range users {
		to := simMobile(t, rng, regions[i%len(regions)], seen)
		requester := fmt.Sprintf("ip-%d", i)
		if rng.IntN(20) == 0 { // some share an address with another user
			requester = fmt.Sprintf("ip-%d", rng.IntN(users))
		}
		at := time.Duration(rng.Int64N(int64(3 * time.Hour)))
		out = append(out, simRequest{at: at, to: to, requester: requester})
		codes := 1
		if rng.IntN(10) < 3 {
			codes++
			if rng.IntN(10) < 3 {
				codes++
			}
		}
		for range codes - 1 {
			at += time.Minute + time.Duration(rng.Int64N(int64(9*time.Minute)))
			out = append(out, simRequest{at: at, to: to, requester: requester})
		}
	}
	return out
}

// simMobile returns a new valid mobile number of region: the national
// number of libphonenumber's example with its digits after the first
// (after the second, but in North America) drawn at random.
func simMobile(t *testing.T, rng *rand.Rand, region string, seen map[string]bool) string {
	t.Helper()
	example := phonenumbers.GetNationalSignificantNumber(phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE))
	keep := 2
	if region == "US" {
		keep = 1
	}
	cc := phonenumbers.GetCountryCodeForRegion(region)
	for range 10_000 {
		var b strings.Builder
		b.WriteString(example[:keep])
		for range len(example) - keep {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		e164 := fmt.Sprintf("+%d%s", cc, b.String())
		n, err := phonenumbers.Parse(e164, "")
		if err != nil || seen[e164] || phonenumbers.GetRegionCodeForNumber(n) != region {
			continue
		}
		if typ := phonenumbers.GetNumberType(n); typ != phonenumbers.MOBILE && typ != phonenumbers.FIXED_LINE_OR_MOBILE {
			continue
		}
		attacked := false
		for _, r := range simAttackRanges {
			attacked = attacked || strings.HasPrefix(e164, r.prefix)
		}
		if !attacked {
			seen[e164] = true
			return e164
		}
	}
	t.Fatalf("no valid mobile number drawn for %s", region)
	return ""
}

// simAttack returns the attack: n requests, from as many addresses, to
// sequential numbers of the attacked ranges in turn, at random times of
// the window [start, start+length).
func simAttack(rng *rand.Rand, n int, start, length time.Duration) []simRequest {
	out := make([]simRequest, n)
	for i := range out {
		r := simAttackRanges[i%len(simAttackRanges)]
		out[i] = simRequest{
			at:        start + time.Duration(rng.Int64N(int64(length))),
			to:        fmt.Sprintf("+%d", r.first+int64(i/len(simAttackRanges))),
			requester: fmt.Sprintf("proxy-%d", i),
			attack:    true,
		}
	}
	return out
}

// TestPumpingSimulation runs legitimate sign-in traffic and an SMS
// pumping attack through a Guard with RecommendedConfig in front of a
// Courier and a loopback gateway, on a simulated clock: 400 users of 9
// countries over 3 hours, and 10,000 requests to sequential numbers of
// two mobile ranges over 15 minutes, an hour in. At least 99% of the
// attack must be blocked, and no legitimate code.
func TestPumpingSimulation(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2026))
	legit := simLegitimate(t, rng, 400)
	attack := simAttack(rng, 10_000, time.Hour, 15*time.Minute)
	all := append(append([]simRequest(nil), legit...), attack...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].at < all[j].at })

	c, gw := newCourier(t)
	clk := newClock()
	start := clk.Now()
	rules := map[string]int{}
	g, err := New(c, RecommendedConfig(), WithClock(clk.Now), WithObserver(func(ev smscourier.Event) { rules[ev.Rule]++ }))
	require.NoError(t, err)

	var attackBlocked, legitBlocked int
	var legitBlockedRules []string
	for _, r := range all {
		clk.Set(r.at, start)
		_, err := g.SendMessage(context.Background(), smscourier.Message{To: r.to, Body: "Your code is 123456", Requester: r.requester})
		switch {
		case errors.Is(err, smscourier.ErrBlocked) && r.attack:
			attackBlocked++
		case errors.Is(err, smscourier.ErrBlocked):
			legitBlocked++
			legitBlockedRules = append(legitBlockedRules, err.Error())
		case err != nil:
			t.Fatal(err)
		}
	}

	// What the gateway received.
	attackNumbers := map[string]bool{}
	for _, r := range attack {
		attackNumbers[r.to] = true
	}
	attackDelivered, legitDelivered := 0, 0
	for _, req := range gw.Requests() {
		if attackNumbers[req.FormValue("To")] {
			attackDelivered++
		} else {
			legitDelivered++
		}
	}

	t.Logf("attack blocked %s of %s (%.2f%%); delivered %d", thousands(attackBlocked), thousands(len(attack)),
		100*float64(attackBlocked)/float64(len(attack)), attackDelivered)
	t.Logf("legitimate blocked %d of %d (%d users); delivered %d", legitBlocked, len(legit), 400, legitDelivered)
	t.Logf("blocks by rule: %v", rules)
	if legitBlocked > 0 {
		t.Errorf("legitimate sends blocked: %v", legitBlockedRules)
	}
	if 100*attackBlocked < 99*len(attack) {
		t.Errorf("only %d of %d attack sends blocked, under 99%%", attackBlocked, len(attack))
	}
	if attackDelivered != len(attack)-attackBlocked || legitDelivered != len(legit) {
		t.Errorf("the gateway received %d attack and %d legitimate messages, want %d and %d",
			attackDelivered, legitDelivered, len(attack)-attackBlocked, len(legit))
	}
}

// thousands writes n with a comma between thousands.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
