package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyRecorder is a Store and Peeker kept in a MemoryStore that records
// the keys Take is given: a Store shared beyond the process, to New.
type keyRecorder struct {
	mem  *MemoryStore
	mu   sync.Mutex
	keys []string
}

func (s *keyRecorder) Take(ctx context.Context, now time.Time, req Request) (Decision, error) {
	s.mu.Lock()
	s.keys = append(s.keys, req.Message)
	for _, tk := range req.Takes {
		s.keys = append(s.keys, tk.Key)
	}
	s.mu.Unlock()
	return s.mem.Take(ctx, now, req)
}

func (s *keyRecorder) Peek(ctx context.Context, now time.Time, req Request) (Decision, error) {
	return s.mem.Peek(ctx, now, req)
}

func (s *keyRecorder) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// TestKeySecret checks that the Store keys are keyed with the secret:
// Guards with one secret share their limits, Guards with different
// secrets make different keys, and a shared Store needs a secret.
func TestKeySecret(t *testing.T) {
	cooldown := Limits{Recipient: RecipientLimits{Cooldown: time.Minute}}
	m := smscourier.Message{To: gbMobile, Body: "Your code is 123456"}
	ctx := context.Background()

	t.Run("a shared store needs a secret", func(t *testing.T) {
		c, _ := newCourier(t)
		_, err := New(c, Config{Limits: cooldown}, WithStore(&keyRecorder{mem: NewMemoryStore()}))
		var ce *smscourier.ConfigError
		require.ErrorAs(t, err, &ce)
		require.Len(t, ce.Problems, 1)
		assert.Equal(t, "smscourier.guard.key_secret", ce.Problems[0].Path)
		// A policy counts nothing, so needs no secret.
		_, err = New(c, Config{Policy: Policy{DenyCountries: []string{"FR"}}}, WithStore(&keyRecorder{mem: NewMemoryStore()}))
		require.NoError(t, err)
	})

	t.Run("a short secret", func(t *testing.T) {
		c, _ := newCourier(t)
		_, err := New(c, Config{Limits: cooldown, KeySecret: "short-secret"})
		var ce *smscourier.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "smscourier.guard.key_secret", ce.Problems[0].Path)
		assert.NotContains(t, err.Error(), "short-secret")
	})

	t.Run("one secret, one set of keys", func(t *testing.T) {
		c, gw := newCourier(t)
		store := &keyRecorder{mem: NewMemoryStore()}
		a, err := New(c, Config{Limits: cooldown, KeySecret: testSecret}, WithStore(store))
		require.NoError(t, err)
		b, err := New(c, Config{Limits: cooldown, KeySecret: testSecret}, WithStore(store))
		require.NoError(t, err)
		_, err = a.SendMessage(ctx, m)
		require.NoError(t, err)
		_, err = b.SendMessage(ctx, m)
		require.ErrorIs(t, err, smscourier.ErrBlocked, "the second instance sees the first's send")
		assert.Equal(t, 1, gw.Count())
		keys := store.recorded()
		assert.Equal(t, keys[1], keys[3], "the cooldown key is the same in both")
	})

	t.Run("another secret, other keys", func(t *testing.T) {
		c, gw := newCourier(t)
		store := &keyRecorder{mem: NewMemoryStore()}
		a, err := New(c, Config{Limits: cooldown, KeySecret: testSecret}, WithStore(store))
		require.NoError(t, err)
		b, err := New(c, Config{Limits: cooldown, KeySecret: testSecret + "-other"}, WithStore(store))
		require.NoError(t, err)
		m := m
		m.IdempotencyKey = "one-key"
		_, err = a.SendMessage(ctx, m)
		require.NoError(t, err)
		_, err = b.SendMessage(ctx, m)
		require.NoError(t, err, "a Guard with another secret counts under other keys")
		assert.Equal(t, 2, gw.Count())
		keys := store.recorded()
		require.Len(t, keys, 4)
		assert.NotEqual(t, keys[0], keys[2], "admission")
		assert.NotEqual(t, keys[1], keys[3], "cooldown")
		// Neither is the key an unkeyed hash would make.
		var zero [32]byte
		for _, k := range keys {
			assert.NotEqual(t, string(appendKey(nil, subjectDigest(&zero, kindAdmission, "one-key", gbMobile), &zero)), k)
			assert.NotContains(t, k, strings.TrimPrefix(gbMobile, "+"))
		}
	})

	t.Run("Guards sharing a MemoryStore share its counts, without a secret", func(t *testing.T) {
		c, gw := newCourier(t)
		store := NewMemoryStore()
		a, err := New(c, Config{Limits: cooldown}, WithStore(store))
		require.NoError(t, err)
		b, err := New(c, Config{Limits: cooldown}, WithStore(store))
		require.NoError(t, err)
		_, err = a.SendMessage(ctx, m)
		require.NoError(t, err)
		_, err = b.SendMessage(ctx, m)
		require.ErrorIs(t, err, smscourier.ErrBlocked)
		assert.Equal(t, 1, gw.Count())
		// Another MemoryStore counts apart.
		other, err := New(c, Config{Limits: cooldown})
		require.NoError(t, err)
		_, err = other.SendMessage(ctx, m)
		require.NoError(t, err)
		assert.Equal(t, 2, gw.Count())
	})

	t.Run("never printed", func(t *testing.T) {
		cfg := Config{Limits: cooldown, KeySecret: testSecret}
		for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
			assert.NotContains(t, s, string(testSecret))
		}
	})
}

// TestParseConfigEnvKeySecret checks that the environment's secret
// replaces the document's, and that no error quotes it.
func TestParseConfigEnvKeySecret(t *testing.T) {
	doc := []byte("smscourier:\n  guard:\n    key_secret: from-the-document-0123\n    limits:\n      recipient:\n        cooldown: 30s\n")
	for _, tc := range []struct {
		name    string
		environ []string
		want    smscourier.Secret
		problem bool
	}{
		{name: "document", want: "from-the-document-0123"},
		{name: "environment", environ: []string{"HOME=/root", KeySecretEnv + "=from-the-environment-0123"}, want: "from-the-environment-0123"},
		{name: "empty environment value", environ: []string{KeySecretEnv + "="}, want: "from-the-document-0123"},
		{name: "short environment value", environ: []string{KeySecretEnv + "=tiny-secret"}, problem: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfigEnv(doc, tc.environ)
			if tc.problem {
				require.Error(t, err)
				assert.True(t, errors.Is(err, smscourier.ErrInvalidConfig))
				assert.Contains(t, err.Error(), "smscourier.guard.key_secret")
				assert.NotContains(t, err.Error(), "tiny-secret")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg.KeySecret)
		})
	}
	cfg, err := ParseConfigEnv([]byte("courier:\n  sms:\n    enabled: false\n"), []string{KeySecretEnv + "=from-the-environment-0123"})
	require.NoError(t, err)
	assert.True(t, cfg.IsZero(), "no guard section: the zero Config")
}
