//go:build unix && !linux

package testenv

import "syscall"

// setDeathSignal does nothing here: only Linux has a parent-death signal,
// so a crashed test binary may leave a server running on this system.
func setDeathSignal(*syscall.SysProcAttr) {}
