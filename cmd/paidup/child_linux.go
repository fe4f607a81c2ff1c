package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the child paidup a demo starts stopped when the demo
// ends, however it ends (killed too): it is not left serving on the
// demo's address.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
