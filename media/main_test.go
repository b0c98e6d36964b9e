package media

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when any goroutine outlives the tests: every
// ingest, viewer and pion connection must be gone once Run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
