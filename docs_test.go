package smscourier_test

// TestDocs checks every fenced code block of README.md, docs/*.md and
// presets/README.md, by the first word of its info string, as docs/README.md
// describes:
//
//   - go: a block starting with "package" is a file of its own, compiled
//     (go vet) in a throwaway module that requires this checkout; any other
//     block is a fragment that must appear, whitespace aside, in a Go file of
//     the repository (example_docs_test.go holds those of the docs).
//   - yaml: parsed by ParseConfig, which must succeed, unless the first line
//     is "# error: TEXT": then it must fail with an error containing TEXT;
//     "yaml routing": parsed by ParseRoutingConfig and built by NewRouter;
//     "yaml receipts": parsed by receipt.ParseConfig, its Verifiers built;
//     "yaml guard": checked by TestDocs of module guard (guard.ParseConfig).
//   - jsonnet: a body template, loaded by New and rendered by Render;
//     "jsonnet response": a response template, run by a send to a fake
//     gateway replying 200 with responseReply; either must succeed.
//   - sh: every line a go command (go run, test, get or install) whose
//     packages go list finds, or a smscourier command (checked by TestDocs
//     in cmd/smscourier).
//   - console: only "$ smscourier ..." commands and their output; TestDocs in
//     cmd/smscourier runs them and compares the output.
//   - plain (no info string): the line before the fence must be
//     "<!-- check: NAME -->" with NAME a check of outputChecks below or of
//     cmdChecks (run by TestDocs in cmd/smscourier).
//
// Any other block fails the test. Relative links must name existing files
// and headings.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/internal/docstest"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cmdChecks are the plain-block checks TestDocs in cmd/smscourier runs.
var cmdChecks = map[string]bool{"usage": true, "gateway-log": true}

// outputChecks produce the output a plain block marked with their name must
// show exactly.
var outputChecks = map[string]func(t *testing.T) string{
	// The README's quick start, command 1.
	"quickstart": func(t *testing.T) string {
		return goCommand(t, nil, "run", "./examples/quickstart")
	},
	// A config with an unknown key and two missing ones.
	"config-error": func(t *testing.T) string {
		_, err := smscourier.ParseConfig([]byte(`
courier:
  sms:
    enabled: true
    request_config:
      url: https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json
      methdo: POST
      auth:
        type: basic_auth
        config: { user: AC123 }
`))
		require.Error(t, err)
		return err.Error() + "\n"
	},
}

// responseReply is the reply a "jsonnet response" block is run against:
// Vonage's SMS API accepting a message.
const responseReply = `{"message-count":"1","messages":[{"to":"14134242223","message-id":"0A0000000123ABCD","status":"0"}]}`

func TestDocs(t *testing.T) {
	files, err := docstest.Files(".")
	require.NoError(t, err)
	var goFiles []docstest.Block
	kinds := map[string]int{}
	for _, file := range files {
		blocks, err := docstest.Parse(file)
		require.NoError(t, err)
		for _, b := range blocks {
			kind := b.Lang + strings.Join(append([]string{""}, b.Attrs...), " ")
			kinds[kind]++
			t.Run(b.Where(), func(t *testing.T) {
				switch {
				case b.Lang == "go" && len(b.Attrs) == 0:
					if strings.HasPrefix(b.Text, "package ") {
						goFiles = append(goFiles, b)
						return
					}
					checkFragment(t, b)
				case b.Lang == "yaml" && len(b.Attrs) == 0:
					checkYAML(t, b)
				case b.Lang == "yaml" && len(b.Attrs) == 1 && b.Attrs[0] == "routing":
					checkRoutingYAML(t, b)
				case b.Lang == "yaml" && len(b.Attrs) == 1 && b.Attrs[0] == "receipts":
					checkReceiptsYAML(t, b)
				case b.Lang == "yaml" && len(b.Attrs) == 1 && b.Attrs[0] == "guard":
					// Parsed by guard.ParseConfig in TestDocs of module guard.
				case b.Lang == "jsonnet" && len(b.Attrs) == 0:
					checkBodyTemplate(t, b)
				case b.Lang == "jsonnet" && len(b.Attrs) == 1 && b.Attrs[0] == "response":
					checkResponseTemplate(t, b)
				case b.Lang == "sh" && len(b.Attrs) == 0:
					checkShell(t, b, false)
				case b.Lang == "console" && len(b.Attrs) == 0:
					checkShell(t, b, true)
				case b.Lang == "" && len(b.Attrs) == 0:
					checkOutput(t, b)
				default:
					t.Errorf("%s: no check for a %q block", b.Where(), kind)
				}
			})
		}
		checkLinks(t, file)
	}
	t.Run("go files", func(t *testing.T) { checkGoFiles(t, goFiles) })
	t.Logf("blocks checked: %v", kinds)
}

// repoGoFiles holds every Go file of the repository outside testdata,
// whitespace-normalised, read once.
var repoGoFiles []string

func checkFragment(t *testing.T, b docstest.Block) {
	if repoGoFiles == nil {
		err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				repoGoFiles = append(repoGoFiles, normalise(string(data)))
			}
			return nil
		})
		require.NoError(t, err)
	}
	want := normalise(b.Text)
	for _, f := range repoGoFiles {
		if strings.Contains(f, want) {
			return
		}
	}
	t.Errorf("%s: Go fragment found in no Go file of the repository (add it to example_docs_test.go):\n%s", b.Where(), b.Text)
}

// normalise makes every run of white space one space.
func normalise(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkGoFiles compiles the blocks that are whole Go files, each in a package
// of its own in one throwaway module requiring this checkout, with one
// go vet.
func checkGoFiles(t *testing.T, blocks []docstest.Block) {
	if len(blocks) == 0 {
		return
	}
	root, err := os.Getwd()
	require.NoError(t, err)
	dir := t.TempDir()
	gomod, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	mod := regexp.MustCompile(`(?m)^module .*$`).ReplaceAllString(string(gomod), "module docsblocks")
	mod += "\nrequire github.com/smscourier/smscourier v0.0.0\n\nreplace github.com/smscourier/smscourier => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644))
	gosum, err := os.ReadFile("go.sum")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), gosum, 0o644))
	where := map[string]string{}
	for i, b := range blocks {
		pkg := fmt.Sprintf("block%02d", i+1)
		name := "main.go"
		if strings.Contains(b.Text, "\nfunc Test") {
			name = "block_test.go"
		}
		require.NoError(t, os.Mkdir(filepath.Join(dir, pkg), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, pkg, name), []byte(b.Text), 0o644))
		where[pkg] = b.Where()
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := string(out)
		for pkg, w := range where {
			msg = strings.ReplaceAll(msg, pkg+"/", w+" ("+pkg+")/")
		}
		t.Errorf("the Go files of the docs do not compile:\n%s", msg)
	}
}

var errorLine = regexp.MustCompile(`^# error: (.+)\n`)

func checkYAML(t *testing.T, b docstest.Block) {
	_, err := smscourier.ParseConfig([]byte(b.Text))
	if m := errorLine.FindStringSubmatch(b.Text); m != nil {
		require.Error(t, err, "%s: the block is marked # error", b.Where())
		assert.Contains(t, err.Error(), m[1], b.Where())
		return
	}
	assert.NoError(t, err, b.Where())
}

// checkRoutingYAML parses a routing config with ParseRoutingConfig and
// builds its Router, which loads the templates; both must succeed, unless
// the first line is "# error: TEXT": then one must fail with TEXT.
func checkRoutingYAML(t *testing.T, b docstest.Block) {
	cfg, err := smscourier.ParseRoutingConfig([]byte(b.Text))
	if err == nil {
		_, err = smscourier.NewRouter(cfg)
	}
	if m := errorLine.FindStringSubmatch(b.Text); m != nil {
		require.Error(t, err, "%s: the block is marked # error", b.Where())
		assert.Contains(t, err.Error(), m[1], b.Where())
		return
	}
	assert.NoError(t, err, b.Where())
}

// checkReceiptsYAML parses the receipts section of a config with
// receipt.ParseConfig and builds its Verifiers; both must succeed, unless
// the first line is "# error: TEXT": then one must fail with TEXT.
func checkReceiptsYAML(t *testing.T, b docstest.Block) {
	cfg, err := receipt.ParseConfig([]byte(b.Text))
	if err == nil {
		_, err = cfg.Verifiers()
	}
	if m := errorLine.FindStringSubmatch(b.Text); m != nil {
		require.Error(t, err, "%s: the block is marked # error", b.Where())
		assert.Contains(t, err.Error(), m[1], b.Where())
		return
	}
	assert.NoError(t, err, b.Where())
	assert.NotEmpty(t, cfg.Providers, "%s: a receipts block with no provider", b.Where())
}

// templateConfig is a config with the given body and response templates,
// sending to url as JSON.
func templateConfig(url, body, response string) smscourier.SMSConfig {
	uri := func(s string) string {
		if s == "" {
			return ""
		}
		return "base64://" + base64.StdEncoding.EncodeToString([]byte(s))
	}
	return smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL:      url,
			Method:   http.MethodPost,
			Body:     uri(body),
			Response: uri(response),
			Headers:  map[string]string{"Content-Type": "application/json"},
		},
	}
}

func checkBodyTemplate(t *testing.T, b docstest.Block) {
	courier, err := smscourier.New(templateConfig("http://127.0.0.1:9/v1/messages", b.Text, ""))
	require.NoError(t, err, b.Where())
	_, err = courier.Render(context.Background(), smscourier.Message{To: "+14134242223", Body: "Your code is 123456"})
	assert.NoError(t, err, b.Where())
}

func checkResponseTemplate(t *testing.T, b docstest.Block) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: responseReply})
	courier, err := smscourier.New(templateConfig(gw.Endpoint("/sms/json"), "", b.Text), smscourier.WithHTTPClient(gw.Client()))
	require.NoError(t, err, b.Where())
	_, err = courier.SendMessage(context.Background(), smscourier.Message{To: "+14134242223", Body: "Your code is 123456"})
	assert.NoError(t, err, b.Where())
}

// goFlagsWithValue are the go command flags the docs use that take a value.
var goFlagsWithValue = map[string]bool{
	"-run": true, "-bench": true, "-benchtime": true, "-count": true, "-tags": true,
	"-fuzz": true, "-fuzztime": true, "-timeout": true, "-cpu": true,
}

func checkShell(t *testing.T, b docstest.Block, console bool) {
	cmds, err := docstest.Commands(b.Text, console)
	require.NoError(t, err, b.Where())
	require.NotEmpty(t, cmds, b.Where())
	for _, c := range cmds {
		where := fmt.Sprintf("%s, line %d of the block", b.Where(), c.Line)
		switch {
		case c.Args[0] == "smscourier":
			// TestDocs in cmd/smscourier checks the command and flags (and
			// runs console blocks).
		case c.Args[0] == "go" && !console && len(c.Env) == 0:
			checkGoCommand(t, where, c.Args[1:])
		default:
			t.Errorf("%s: no check for the command %q", where, strings.Join(c.Args, " "))
		}
	}
}

// checkGoCommand checks that a go run, test, get or install command names
// packages that exist in the workspace.
func checkGoCommand(t *testing.T, where string, args []string) {
	if len(args) == 0 || !map[string]bool{"run": true, "test": true, "get": true, "install": true}[args[0]] {
		t.Errorf("%s: go %s is not one of go run, test, get or install", where, strings.Join(args, " "))
		return
	}
	var tags, pkgs []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if goFlagsWithValue[a] && i+1 < len(args) {
				if a == "-tags" {
					tags = []string{"-tags", args[i+1]}
				}
				i++
			}
			continue
		}
		pkgs = append(pkgs, strings.SplitN(a, "@", 2)[0])
		if args[0] == "run" {
			break // the rest are the program's arguments
		}
	}
	if len(pkgs) == 0 {
		t.Errorf("%s: no package", where)
		return
	}
	out := goCommand(t, nil, append(append([]string{"list"}, tags...), pkgs...)...)
	assert.NotEmpty(t, strings.TrimSpace(out), where)
}

// goCommand runs the go command in the repository root, with the workspace,
// and returns its standard output; it fails the test if the command fails.
func goCommand(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func checkOutput(t *testing.T, b docstest.Block) {
	if b.Check == "" {
		t.Errorf(`%s: a plain block needs a "<!-- check: NAME -->" line before it`, b.Where())
		return
	}
	if cmdChecks[b.Check] {
		return // TestDocs in cmd/smscourier
	}
	produce, ok := outputChecks[b.Check]
	if !ok {
		t.Errorf("%s: unknown check %q", b.Where(), b.Check)
		return
	}
	assert.Equal(t, b.Text, produce(t), "%s: the output differs from the block", b.Where())
}

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#+ (.+)$`)
)

// checkLinks checks that every relative link of a Markdown file names a file
// that exists and, in a Markdown file, a heading it has.
func checkLinks(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	for _, m := range link.FindAllStringSubmatch(string(data), -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		path, anchor, _ := strings.Cut(target, "#")
		full := file
		if path != "" {
			full = filepath.Join(filepath.Dir(file), path)
		}
		if _, err := os.Stat(full); err != nil {
			t.Errorf("%s: link %s: %v", file, target, err)
			continue
		}
		if anchor == "" {
			continue
		}
		md, err := os.ReadFile(full)
		if err != nil || !strings.HasSuffix(full, ".md") {
			t.Errorf("%s: link %s: an anchor into a file that is not Markdown", file, target)
			continue
		}
		found := false
		for _, h := range heading.FindAllStringSubmatch(string(md), -1) {
			found = found || slug(h[1]) == anchor
		}
		assert.True(t, found, "%s: link %s: no such heading", file, target)
	}
}

// slug is GitHub's anchor for a heading.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
