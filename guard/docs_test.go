package guard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smscourier/smscourier/internal/docstest"
)

// TestDocs checks the "yaml guard" blocks of the repository's docs (the
// core's TestDocs checks the others): each is a config document that
// ParseConfig reads and New accepts, unless its first line is
// "# error: TEXT": then ParseConfig must fail with an error containing
// TEXT.
func TestDocs(t *testing.T) {
	files, err := docstest.Files("..")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCourier(t)
	checked := 0
	for _, file := range files {
		blocks, err := docstest.Parse(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if b.Lang != "yaml" || len(b.Attrs) != 1 || b.Attrs[0] != "guard" {
				continue
			}
			checked++
			t.Run(filepath.Base(b.Where()), func(t *testing.T) {
				cfg, err := ParseConfig([]byte(b.Text))
				if want, ok := strings.CutPrefix(strings.SplitN(b.Text, "\n", 2)[0], "# error: "); ok {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("%s: got %v, want an error containing %q", b.Where(), err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", b.Where(), err)
				}
				if _, err := New(c, cfg); err != nil {
					t.Errorf("%s: %v", b.Where(), err)
				}
			})
		}
	}
	t.Logf("yaml guard blocks checked: %d", checked)
}
