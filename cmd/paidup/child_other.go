//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op where the system cannot stop a child with its
// parent: a demo killed outright leaves its paidup running.
func dieWithParent(*exec.Cmd) {}
