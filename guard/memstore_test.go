package guard_test

import (
	"testing"

	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/guard/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) guard.Store { return guard.NewMemoryStore() })
}
