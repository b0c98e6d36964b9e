//go:build linux

package bench

import (
	"os"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives the tests and
// benchmarks: the harness must take down everything it starts.
func TestMain(m *testing.M) {
	if os.Getenv(heapProfileEnv) != "" {
		// heap profiles fine enough to say what a call's 150 KiB are made
		// of (the default samples one allocation in 512 KiB)
		runtime.MemProfileRate = 4096
	}
	goleak.VerifyTestMain(m)
}
