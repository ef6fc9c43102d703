package receipt_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

const messageBirdKey = "messagebird-signing-key-0123456789"

func TestMessageBirdReferenceVectors(t *testing.T) {
	// MessageBird's reference vectors, verbatim: one case per distinct
	// token of github.com/messagebird/go-rest-api
	// signature_jwt/testdata/reference.json (the file repeats each for
	// several methods; the method is not signed), and the "valid request"
	// of signature_jwt/signature_test.go, whose JWT has iat instead of nbf.
	// MessageBird's verifiers also accept HS384 and HS512; this one
	// accepts HS256 only, so those two vectors are refused here.
	const (
		secret = "36efdd1aace2e26cd490f0d951138253bef2f7c6d34d18981da781555cc4cebb"
		at     = "2021-07-05T12:00:00+02:00"

		noParams    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.6Fp0rVOsRr1fj9S2GidXAfkmPVofKr8_RTffC6G6r2E"
		params      = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiJjOTQ2YWY3Ny1lMTgyLTRlYWEtYjJmZi0xYTU0NWI1ZTk5MWEiLCJ1cmxfaGFzaCI6IjQxZjA1ZjBkZGQwYTIyYWIyMDlhYzQ2ZjQ3YzQ1NzJkOWNlZmEyNTdlZDc0YjI0MDA0YmFlNzUzZWNlNmMyNjAifQ.huo2ou6JDoDc7sV25d75UMWeYhBeavQlLsqIibSZuac"
		paramsBody  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI5M2U1NTAwNi1hMGU4LTQ1MjYtYTE5MC1mYTVmZjAwZWExMTYiLCJ1cmxfaGFzaCI6IjQxZjA1ZjBkZGQwYTIyYWIyMDlhYzQ2ZjQ3YzQ1NzJkOWNlZmEyNTdlZDc0YjI0MDA0YmFlNzUzZWNlNmMyNjAiLCJwYXlsb2FkX2hhc2giOiJkZmZkNjAyMWJiMmJkNWIwYWY2NzYyOTA4MDllYzNhNTMxOTFkZDgxYzdmNzBhNGIyODY4OGEzNjIxODI5ODZmIn0._H--TOuYFLpeEH39-rg5E3IHVkjHozBcaKVWPRC5m9I"
		early       = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ4MjgwMCwiZXhwIjoxNjI1NDgyODYwLCJqdGkiOiJmOWY4YzM4Mi0yNDQ5LTQzMTEtYjcyYi0xZGY3MTY4NzkzMWUiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.ZELgDFNGhjZH9CffQKcq3sytBe2I0KciLxpBhcfstHQ"
		expired     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3NTYwMCwiZXhwIjoxNjI1NDc1NjYwLCJqdGkiOiI1ZjAyZjUyMi02MDMwLTQ2YzgtYjVhMy0wMTI0NjQ3OGQ4YmMiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.45MSST3B_2PsjNUeiuW54_vUQgVw4rBXrdWrOUEz3lM"
		otherURL    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiJhNzVjOTA5Ni1lODIzLTQ0MmItODVmMi03ZDNjOWQ5YjcyNmIiLCJ1cmxfaGFzaCI6IjZhMDIyZDgzNGMxODMzMGJhYWQ4YTJiZDYxMzUxNzNlZDIxNjEwYTQ1NDUxNmJlMGRmM2YxY2MwMTUxNjEwZWEifQ.z6Sw1XQIM0wuEQGBhXBdawDIIrtMg2XnmA_bpDq53pE"
		otherBody   = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiIxNDUwMTUzMi05NmYyLTQ2ODQtOTgzMi02OGYwOTUxYWUzNDIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDciLCJwYXlsb2FkX2hhc2giOiJmYjYyZjAyYWNkYTdkNzQxNzdhNzAxYTFjZTAwNmU2YmFjZDkwYzdkNGQ3YWI0ODE2OTJjMWRhNDdjODEwNzZiIn0.m79RCwO6dGa9pvzsQypkVuXQ6eM0CkRl6_U7MfWg6TM"
		otherKey    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiIyNDNjMjdhZS0yZjAyLTQ2YTAtODg1Mi1jNjZmMzdlYTlmNDYiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.JgSeYyOtlEKAXk8bz30iJI4tXgf4lxknoiezawuVhb4"
		removed     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiIxNDUwMTUzMi05NmYyLTQ2ODQtOTgzMi02OGYwOTUxYWUzNDIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDciLCJwYXlsb2FkX2hhc2giOiJkZmZkNjAyMWJiMmJkNWIwYWY2NzYyOTA4MDllYzNhNTMxOTFkZDgxYzdmNzBhNGIyODY4OGEzNjIxODI5ODZmIn0.bHfsjj3tljfzTufoG3EU3p_yFrQh9CufyzRSaRMd4ss"
		special     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjhhZmYzNzQ4ZDc4OWM0MzMzNTczZTFjMzFmZTViMDA0OTQwY2I1ZmM0NzQ2MGVkM2QwZTY1NGY3ZmM0ZTVmYWUifQ.mJBCMfEjKmN3IMuzqPXPHktWETrcu0iNdF3agE8PDyI"
		specialBody = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDciLCJwYXlsb2FkX2hhc2giOiIyNDMxYmQ5Y2NiNDhlZDAxNmZhZDU2N2IwNzcxMjAzOGI1Y2RkOTQ5YWM5ZDQxZmU0NjkzZDVhMzg0NWNmN2U4In0.IQiKzeEPaO3A48lhKmBDSmxZyCESPCGxdSKFdi0dEJs"
		hs384       = "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.KNMW-29X77lZeuPmThmHWc_RUAvTkaDkpxIZK6mqE08v8mWKiU9Edh4QXwAJO2nv"
		hs512       = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.rd6r0iMyNGnVPCwurETphE3Y8rpAyvvnUK0S8WvGUkt2E1QSRAZ7NZJZBHw1Y_Wb5W-sK9HJr_PRL2vz4jRT3Q"
		none        = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJNZXNzYWdlQmlyZCIsImlhdCI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ."
		iatOnly     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsImlhdCI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.SrhlKJ-ES4Dg8BBXKtop3u92Z_k4L4VjHKsyHWpweGE"
	)
	now, err := time.Parse(time.RFC3339, at)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, secret, url, payload, token string
		valid                             bool
	}{
		{name: "valid JWT with no URL parameters or payload", url: "https://example.com/", token: noParams, valid: true},
		{name: "valid JWT with URL parameters and no payload", url: "https://example.com/path?bar=1&foo=2", token: params, valid: true},
		{name: "valid JWT with URL parameters and payload", url: "https://example.com/path?bar=1&foo=2", payload: "Hello, World!", token: paramsBody, valid: true},
		{name: "token received before it was issued", url: "https://example.com/", token: early},
		{name: "token received after it was expired", url: "https://example.com/", token: expired},
		{name: "token received on different URL (parameters were sorted out of order)", url: "https://example.com/path?foo=1&bar=2", token: otherURL},
		{name: "payload does not match", url: "https://example.com/", payload: "Hello, World!", token: otherBody},
		{name: "different secret", url: "https://example.com/", token: otherKey},
		{name: "payload was removed in transit", url: "https://example.com/", token: removed},
		{name: "payload was added in transit", url: "https://example.com/", payload: "Hello, World!", token: noParams},
		{name: "special characters in URL", url: "https://example.com/?obj%5Bfield1%5D=val1&obj%5Bfield2%5D=val2&param=value+with+spaces", token: special, valid: true},
		{name: "special characters in the payload", url: "https://example.com/", payload: `Some text containg & < >, & and \u0026`, token: specialBody, valid: true},
		{name: "HS384 alg (refused: HS256 only)", url: "https://example.com/", token: hs384},
		{name: "HS512 alg (refused: HS256 only)", url: "https://example.com/", token: hs512},
		{name: "none alg", url: "https://example.com/", token: none},
		{name: "valid request with iat (signature_test.go)", secret: "hunter2", url: "https://example.com/", token: iatOnly, valid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.secret
			if key == "" {
				key = secret
			}
			u, err := url.Parse(tc.url)
			require.NoError(t, err)
			v, err := receipt.MessageBird(smscourier.Secret(key), receipt.MessageBirdOptions{PublicURL: u.Scheme + "://" + u.Host + u.Path})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodPost, tc.url, strings.NewReader(tc.payload))
			r.Header.Set("MessageBird-Signature-JWT", tc.token)
			got, err := v.Verify(r, []byte(tc.payload), now)
			if !tc.valid {
				assert.ErrorIs(t, err, receipt.ErrUnauthenticated)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, got, "the vectors carry no status report")
		})
	}
}

func TestMessageBirdRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		dlr  smstest.DLR
		want receipt.Receipt
	}{
		{
			name: "delivered",
			dlr:  smstest.DLR{MessageID: "e8077d803532c0b5937c639b60216938", Status: smstest.DLRDelivered, Time: dlrTime, To: "+31612345678"},
			want: receipt.Receipt{Provider: "messagebird", MessageID: "e8077d803532c0b5937c639b60216938", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: dlrTime},
		},
		{
			name: "undelivered with an error code",
			dlr:  smstest.DLR{MessageID: "e8077d803532c0b5937c639b60216939", Status: smstest.DLRUndelivered, ErrorCode: "27", Time: dlrTime, To: "+31612345678"},
			want: receipt.Receipt{Provider: "messagebird", MessageID: "e8077d803532c0b5937c639b60216939", Status: receipt.StatusUndelivered, ProviderStatus: "delivery_failed", ErrorCode: "27", Time: dlrTime},
		},
		{
			// MessageBird has no status for a message it could not send:
			// delivery_failed stands for both.
			name: "failed with an error code",
			dlr:  smstest.DLR{MessageID: "e8077d803532c0b5937c639b6021693a", Status: smstest.DLRFailed, ErrorCode: "103", Time: dlrTime},
			want: receipt.Receipt{Provider: "messagebird", MessageID: "e8077d803532c0b5937c639b6021693a", Status: receipt.StatusUndelivered, ProviderStatus: "delivery_failed", ErrorCode: "103", Time: dlrTime},
		},
		{
			name: "scheduled",
			dlr:  smstest.DLR{MessageID: "e8077d803532c0b5937c639b6021693b", Status: smstest.DLRAccepted, Time: dlrTime},
			want: receipt.Receipt{Provider: "messagebird", MessageID: "e8077d803532c0b5937c639b6021693b", Status: receipt.StatusAccepted, ProviderStatus: "scheduled", Time: dlrTime},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serveMessageBird(t)
			status, err := srv.poster(t, "messagebird", smstest.ReceiptCredentials{Secret: messageBirdKey}, postNow).Post(context.Background(), tc.dlr)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
			got := srv.log.all()
			require.Len(t, got, 1)
			assert.Contains(t, string(got[0].Raw), "id="+tc.dlr.MessageID, "a GET's Raw is its query")
			got[0].Raw = nil
			got[0].Time = got[0].Time.UTC()
			assert.Equal(t, tc.want, got[0])
		})
	}
}

// serveMessageBird serves a MessageBird Verifier whose PublicURL is the
// server's receipt URL.
func serveMessageBird(t *testing.T) (receiptServer, receipt.Verifier) {
	t.Helper()
	var srv receiptServer
	v := &lateVerifier{}
	srv = serveVerifier(t, v, postNow)
	mb, err := receipt.MessageBird(messageBirdKey, receipt.MessageBirdOptions{PublicURL: srv.url})
	require.NoError(t, err)
	v.Verifier = mb
	return srv, mb
}

// lateVerifier is a Verifier set after its server starts (MessageBird's
// needs the server's URL).
type lateVerifier struct{ receipt.Verifier }

func (v *lateVerifier) Provider() string { return "messagebird" }

// messageBirdToken signs claims as MessageBird does, with alg.
func messageBirdToken(t *testing.T, alg jwt.SigningMethod, key string, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(alg, claims).SignedString([]byte(key))
	require.NoError(t, err)
	return tok
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// messageBirdClaims are valid claims for called and body at now.
func messageBirdClaims(called, body string, now time.Time) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": "MessageBird", "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": "59a244dc-e9ad-4e23-9778-371faa238f72", "url_hash": hexSHA256(called),
	}
	if body != "" {
		c["payload_hash"] = hexSHA256(body)
	}
	return c
}

func TestMessageBirdRefusesTamperedCallbacks(t *testing.T) {
	dlr := smstest.DLR{MessageID: "e8077d803532c0b5937c639b60216938", Status: smstest.DLRDelivered, Time: dlrTime, To: "+31612345678"}
	for _, tc := range []struct {
		name   string
		key    string
		postAt time.Time
		tamper func(r *http.Request)
	}{
		{name: "one byte of the query (a GET's payload)", key: messageBirdKey, postAt: postNow, tamper: func(r *http.Request) {
			r.URL.RawQuery = string(flipByte([]byte(r.URL.RawQuery), 5))
		}},
		{name: "a parameter added", key: messageBirdKey, postAt: postNow, tamper: func(r *http.Request) {
			r.URL.RawQuery += "&statusErrorCode=1"
		}},
		{name: "one byte of the signature", key: messageBirdKey, postAt: postNow, tamper: func(r *http.Request) {
			tok := r.Header.Get("MessageBird-Signature-JWT")
			i := strings.LastIndex(tok, ".") + 1
			r.Header.Set("MessageBird-Signature-JWT", tok[:i]+rtFlip(tok[i:], 0))
		}},
		{name: "one byte of the claims", key: messageBirdKey, postAt: postNow, tamper: func(r *http.Request) {
			tok := r.Header.Get("MessageBird-Signature-JWT")
			i := strings.Index(tok, ".") + 1
			r.Header.Set("MessageBird-Signature-JWT", tok[:i]+rtFlip(tok[i:], 0))
		}},
		{name: "no signature", key: messageBirdKey, postAt: postNow, tamper: func(r *http.Request) {
			r.Header.Del("MessageBird-Signature-JWT")
		}},
		{name: "a wrong key", key: messageBirdKey + "x", postAt: postNow},
		{name: "a stale token", key: messageBirdKey, postAt: postNow.Add(-2 * time.Minute)},
		{name: "a token from the future", key: messageBirdKey, postAt: postNow.Add(2 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serveMessageBird(t)
			req, err := srv.poster(t, "messagebird", smstest.ReceiptCredentials{Secret: tc.key}, tc.postAt).Request(context.Background(), dlr)
			require.NoError(t, err)
			if tc.tamper != nil {
				tc.tamper(req)
			}
			assert.Equal(t, http.StatusUnauthorized, rtDo(t, req))
			assert.Empty(t, srv.log.all())
		})
	}
}

func TestMessageBirdPostedReports(t *testing.T) {
	const publicURL = "https://example.com/receipts/messagebird"
	v, err := receipt.MessageBird(messageBirdKey, receipt.MessageBirdOptions{PublicURL: publicURL})
	require.NoError(t, err)
	jsonBody := `{"id":"e8077d803532c0b5937c639b60216938","reference":"r1","recipient":31612345678,"status":"delivered","statusDatetime":"2016-05-03T08:58:10+00:00","statusErrorCode":null}`
	formBody := "id=e8077d803532c0b5937c639b60216938&recipient=31612345678&reference=r1&status=delivery_failed&statusDatetime=2016-05-03T08%3A58%3A10%2B00%3A00&statusErrorCode=27"
	at := time.Date(2016, 5, 3, 8, 58, 10, 0, time.UTC)
	for _, tc := range []struct {
		name, target, body, contentType string
		claims                          jwt.MapClaims
		alg                             jwt.SigningMethod
		want                            []receipt.Receipt
		wantUnauth                      bool
	}{
		{
			name: "JSON", target: publicURL, body: jsonBody, contentType: "application/json",
			want: []receipt.Receipt{{Provider: "messagebird", MessageID: "e8077d803532c0b5937c639b60216938", Status: receipt.StatusDelivered, ProviderStatus: "delivered", Time: at}},
		},
		{
			name: "form", target: publicURL, body: formBody, contentType: "application/x-www-form-urlencoded",
			want: []receipt.Receipt{{Provider: "messagebird", MessageID: "e8077d803532c0b5937c639b60216938", Status: receipt.StatusUndelivered, ProviderStatus: "delivery_failed", ErrorCode: "27", Time: at}},
		},
		{
			name: "inbound message", target: publicURL + "?id=1&originator=31612345678&body=hi", contentType: "",
		},
		{name: "one byte of the body", target: publicURL, body: jsonBody, contentType: "application/json", wantUnauth: true,
			claims: messageBirdClaims(publicURL, string(flipByte([]byte(jsonBody), 3)), postNow)},
		{name: "signed for another URL", target: publicURL, body: jsonBody, contentType: "application/json", wantUnauth: true,
			claims: messageBirdClaims("https://example.com/receipts/other", jsonBody, postNow)},
		{name: "HS512", target: publicURL, body: jsonBody, contentType: "application/json", alg: jwt.SigningMethodHS512, wantUnauth: true},
		{name: "no jti", target: publicURL, body: jsonBody, contentType: "application/json", wantUnauth: true,
			claims: func() jwt.MapClaims { c := messageBirdClaims(publicURL, jsonBody, postNow); delete(c, "jti"); return c }()},
		{name: "another issuer", target: publicURL, body: jsonBody, contentType: "application/json", wantUnauth: true,
			claims: func() jwt.MapClaims {
				c := messageBirdClaims(publicURL, jsonBody, postNow)
				c["iss"] = "Mallory"
				return c
			}()},
		{name: "no exp", target: publicURL, body: jsonBody, contentType: "application/json", wantUnauth: true,
			claims: func() jwt.MapClaims { c := messageBirdClaims(publicURL, jsonBody, postNow); delete(c, "exp"); return c }()},
		{name: "a long-lived token signed outside the replay window", target: publicURL, body: jsonBody, contentType: "application/json", wantUnauth: true,
			claims: func() jwt.MapClaims {
				c := messageBirdClaims(publicURL, jsonBody, postNow.Add(-receipt.DefaultReplayWindow-time.Minute))
				c["exp"] = postNow.Add(time.Hour).Unix()
				return c
			}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := tc.claims
			if claims == nil {
				called := tc.target
				claims = messageBirdClaims(called, tc.body, postNow)
			}
			alg := tc.alg
			if alg == nil {
				alg = jwt.SigningMethodHS256
			}
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "/receipts/messagebird", strings.NewReader(tc.body))
			if i := strings.Index(tc.target, "?"); i >= 0 {
				r.URL.RawQuery = tc.target[i+1:]
			}
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			r.Header.Set("MessageBird-Signature-JWT", messageBirdToken(t, alg, messageBirdKey, claims))
			var wantErr error
			if tc.wantUnauth {
				wantErr = receipt.ErrUnauthenticated
			}
			checkVerify(t, v, r, tc.body, tc.want, wantErr)
		})
	}
}

func TestMessageBirdStatuses(t *testing.T) {
	const publicURL = "https://example.com/receipts/messagebird"
	v, err := receipt.MessageBird(messageBirdKey, receipt.MessageBirdOptions{PublicURL: publicURL})
	require.NoError(t, err)
	for word, want := range map[string]receipt.Status{
		"scheduled":       receipt.StatusAccepted,
		"sent":            receipt.StatusSent,
		"buffered":        receipt.StatusSent,
		"delivered":       receipt.StatusDelivered,
		"expired":         receipt.StatusUndelivered,
		"delivery_failed": receipt.StatusUndelivered,
		"teleported":      receipt.StatusUnknown,
	} {
		t.Run(word, func(t *testing.T) {
			query := "id=m1&status=" + word
			r := httptest.NewRequest(http.MethodGet, "/receipts/messagebird?"+query, nil)
			r.Header.Set("MessageBird-Signature-JWT", messageBirdToken(t, jwt.SigningMethodHS256, messageBirdKey, messageBirdClaims(publicURL+"?"+query, "", postNow)))
			got, err := v.Verify(r, nil, postNow)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Status)
			assert.Equal(t, word, got[0].ProviderStatus)
			assert.Equal(t, postNow, got[0].Time, "no statusDatetime: now")
		})
	}
}

func TestMessageBirdOptionsValidated(t *testing.T) {
	for _, tc := range []struct {
		name, key, url string
	}{
		{name: "no key", url: "https://example.com/r"},
		{name: "no URL", key: messageBirdKey},
		{name: "a relative URL", key: messageBirdKey, url: "/receipts/messagebird"},
		{name: "another scheme", key: messageBirdKey, url: "ftp://example.com/r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receipt.MessageBird(smscourier.Secret(tc.key), receipt.MessageBirdOptions{PublicURL: tc.url})
			assert.Error(t, err)
		})
	}
}

func TestMessageBirdPresetReply(t *testing.T) {
	assert.Equal(t, "e8077d803532c0b5937c639b60216938", rtPresetID(t, "messagebird", "e8077d803532c0b5937c639b60216938"))
}
