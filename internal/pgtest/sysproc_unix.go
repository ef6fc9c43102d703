//go:build unix

package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// runAs makes a command run as a (nil: as the test binary's user), with no
// supplementary groups.
func runAs(a *account) *syscall.SysProcAttr {
	if a == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.uid, Gid: a.gid}}
}

// ownProcessGroup keeps a command out of the terminal's signals to the test
// binary's process group (Ctrl-C).
func ownProcessGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// reachable reports whether uid/gid may enter dir and each of its parents.
func reachable(dir string, uid, gid uint32) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == uid:
			can = perm&0o100 != 0
		case st.Gid == gid:
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return fmt.Errorf("no search permission on %s (%v)", p, perm)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}
