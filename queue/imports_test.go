package queue

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs the go command's list with args and returns its output lines.
// It fails the test when the go command is missing or fails.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, needed to list imports: %v", err)
	}
	out, err := exec.Command(goCmd, append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestDatabaseDriversNotLinked: a program that imports the queue links the
// database it uses and no other. The queue package links neither pgx nor
// SQLite nor River's drivers of them; sqlitedb links SQLite and not pgx.
func TestDatabaseDriversNotLinked(t *testing.T) {
	const (
		pgx         = "github.com/jackc/"
		riverpgxv5  = "github.com/riverqueue/river/riverdriver/riverpgxv5"
		sqlite      = "modernc.org/sqlite"
		riversqlite = "github.com/riverqueue/river/riverdriver/riversqlite"
	)
	for _, tc := range []struct {
		pkg       string
		forbidden []string
		required  string // a dependency that must be there, to show the listing works
	}{
		{"github.com/smscourier/smscourier/queue", []string{pgx, riverpgxv5, sqlite, riversqlite}, "github.com/riverqueue/river"},
		{"github.com/smscourier/smscourier/queue/sqlitedb", []string{pgx, riverpgxv5, riversqlite}, sqlite},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			deps := goList(t, "-deps", tc.pkg)
			found := false
			for _, dep := range deps {
				found = found || dep == tc.required
				for _, f := range tc.forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("%s links %s", tc.pkg, dep)
					}
				}
			}
			if !found {
				t.Errorf("%s does not link %s: the listing is wrong", tc.pkg, tc.required)
			}
		})
	}
}

// TestNoRiverInternals: no package of the queue module imports, outside its
// tests, a package of River's that River keeps to itself: its internal
// packages and its shared utilities (rivershared), whose API may change in
// any release.
func TestNoRiverInternals(t *testing.T) {
	for _, tags := range []string{"", "postgres"} {
		t.Run("tags="+tags, func(t *testing.T) {
			// -e: pgtests has test files alone.
			lines := goList(t, "-e", "-tags", tags, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/smscourier/smscourier/queue/...")
			listed := 0
			for _, line := range lines {
				pkg, imports, _ := strings.Cut(line, " ")
				listed++
				for imp := range strings.FieldsSeq(imports) {
					if !strings.HasPrefix(imp, "github.com/riverqueue/") {
						continue
					}
					if strings.Contains(imp+"/", "/internal/") || strings.Contains(imp, "/rivershared") {
						t.Errorf("%s imports %s", pkg, imp)
					}
				}
			}
			if listed < 2 {
				t.Errorf("listed %d packages: %q", listed, lines)
			}
		})
	}
}
