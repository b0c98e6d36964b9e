//go:build linux

package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives the tests and
// benchmarks: the harness must take down everything it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
