package testenv

import "syscall"

// setDeathSignal makes the kernel kill the child when we die.
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
