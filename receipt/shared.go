package receipt

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/smscourier/smscourier"
)

// SharedAuth authenticates the callbacks of a provider that signs none.
// The callback URL configured at the provider carries a secret: HTTP
// basic credentials (https://User:Password@host/receipts/infobip, or the
// provider's own basic-auth setting), or a token as the path's last
// segment (https://host/receipts/infobip/Token, served by NewMux). Set
// one or both; with both, either passes. Serve callbacks over HTTPS only:
// the secret travels with every callback.
type SharedAuth struct {
	User     string
	Password smscourier.Secret
	// Token is compared with the {token} path segment of NewMux's pattern
	// prefix/{provider}/{token}.
	Token smscourier.Secret
}

// MinTokenLen is the length of the shortest SharedAuth.Token and
// Password, in bytes.
const MinTokenLen = 16

// Validate reports a SharedAuth that sets nothing, a Password without a
// User, or a Token or Password shorter than MinTokenLen.
func (a SharedAuth) Validate() error {
	switch {
	case a.Token == "" && a.Password == "":
		return errors.New("smscourier: receipt: SharedAuth sets neither a Token nor a User and Password")
	case a.Password != "" && a.User == "":
		return errors.New("smscourier: receipt: SharedAuth sets a Password without a User")
	case a.Token != "" && len(a.Token) < MinTokenLen, a.Password != "" && len(a.Password) < MinTokenLen:
		return fmt.Errorf("smscourier: receipt: SharedAuth's Token and Password must be at least %d bytes", MinTokenLen)
	}
	return nil
}

// Check authenticates r: nil when its basic credentials or its {token}
// path value match, else an error wrapping ErrUnauthenticated. The
// comparisons are constant-time.
func (a SharedAuth) Check(r *http.Request) error {
	if a.Password != "" {
		if user, pass, ok := r.BasicAuth(); ok && Equal(user, a.User)&Equal(pass, string(a.Password)) == 1 {
			return nil
		}
	}
	if a.Token != "" {
		if tok := r.PathValue("token"); tok != "" && Equal(tok, string(a.Token)) == 1 {
			return nil
		}
	}
	return fmt.Errorf("%w: wrong or missing credentials or token", ErrUnauthenticated)
}

// Equal returns 1 when a and b are equal and 0 otherwise, in time that
// depends on neither's content nor length (it compares their SHA-256).
func Equal(a, b string) int {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:])
}

// CheckWindow returns nil when t is within window of now, in either
// direction, else an error wrapping ErrUnauthenticated: a signed
// timestamp outside it is a replay or a clock far off. A window <= 0 is
// DefaultReplayWindow.
func CheckWindow(t, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	if d := now.Sub(t); d > window || d < -window {
		return fmt.Errorf("%w: signed timestamp outside the %v replay window", ErrUnauthenticated, window)
	}
	return nil
}
