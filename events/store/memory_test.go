package store_test

import (
	"testing"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/events/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}
