// Command modproxy adds one module, from a directory, to a file-based Go
// module proxy (GOPROXY=file://DIR): the @v/list, .info, .mod and .zip files
// the go command reads. scripts/release-check.sh uses it to publish every
// module of this repository at one version, locally, and then installs
// them from that proxy as a user would from a real one.
//
//	go run . -proxy DIR -version v0.1.0 MODULE_DIR
//
// The zip is made by golang.org/x/mod/zip, which applies the go command's
// own rules (nested modules, vendor directories and files that cannot be
// in a module are left out), so what the proxy serves is what a tag would
// publish.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	proxy := flag.String("proxy", "", "the proxy `DIR` to add to (created if missing)")
	version := flag.String("version", "", "the module `VERSION`, for example v0.1.0")
	flag.Parse()
	if *proxy == "" || *version == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: modproxy -proxy DIR -version VERSION MODULE_DIR")
		os.Exit(2)
	}
	if err := add(*proxy, *version, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

// add writes the module in dir at version into the proxy.
func add(proxy, version, dir string) error {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	path := modfile.ModulePath(gomod)
	if path == "" {
		return errors.New(dir + "/go.mod names no module")
	}
	mv := module.Version{Path: path, Version: version}
	if err := module.Check(path, version); err != nil {
		return err
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	at := filepath.Join(proxy, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	zf, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		return err
	}
	if err := modzip.CreateFromDir(zf, mv, dir); err != nil {
		zf.Close()
		return fmt.Errorf("zip %s: %w", path, err)
	}
	if err := zf.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(at, version+".mod"), gomod, 0o644); err != nil {
		return err
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err := os.WriteFile(filepath.Join(at, version+".info"), info, 0o644); err != nil {
		return err
	}
	return addToList(filepath.Join(at, "list"), version)
}

// addToList adds version to the proxy's list of the module's versions.
func addToList(list, version string) error {
	data, err := os.ReadFile(list)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	versions := strings.Fields(string(data))
	if !slices.Contains(versions, version) {
		versions = append(versions, version)
	}
	return os.WriteFile(list, []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}
