//go:build !unix

package pgtest

import "syscall"

func runAs(a *account) *syscall.SysProcAttr { return nil }

func ownProcessGroup() *syscall.SysProcAttr { return nil }

func reachable(dir string, uid, gid uint32) error { return nil }
