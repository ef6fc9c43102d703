package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/smscourier/smscourier/internal/docstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocs checks the smscourier commands of the documentation (README.md,
// docs/*.md, presets/README.md), the part of the rules in docs/README.md that
// TestDocs in the core module leaves to this one: every smscourier command
// of a sh or console block parses as a valid invocation; console blocks run
// in order from the repository root, and each command's output must match
// the lines after it, and its exit status be 0, or N when the last of
// those lines is "[exit status N]"; a plain block marked "usage" lists every command with
// flags that exist; one marked "gateway-log" is what the gateway started by
// the console blocks above it printed.
func TestDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := docstest.Files(root)
	require.NoError(t, err)
	for _, file := range files {
		blocks, err := docstest.Parse(file)
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, file)
		t.Run(rel, func(t *testing.T) {
			r := &docsRun{t: t, root: root, subst: map[string]string{}}
			defer r.stopGateway()
			for _, b := range blocks {
				switch {
				case b.Lang == "sh", b.Lang == "console":
					cmds, err := docstest.Commands(b.Text, b.Lang == "console")
					require.NoError(t, err, b.Where())
					for _, c := range cmds {
						if c.Args[0] != "smscourier" {
							continue // the core module's TestDocs checks the rest
						}
						where := fmt.Sprintf("%s, line %d of the block", b.Where(), c.Line)
						checkInvocation(t, where, c.Args[1:])
						if b.Lang == "console" {
							r.run(where, c)
						}
					}
				case b.Lang == "" && b.Check == "usage":
					checkUsage(t, b)
				case b.Lang == "" && b.Check == "gateway-log":
					r.checkGatewayLog(b)
				}
			}
		})
	}
}

// checkInvocation checks that args (after "smscourier") name a command and
// flags it accepts, as run would, without running it.
func checkInvocation(t *testing.T, where string, args []string) {
	t.Helper()
	require.NotEmpty(t, args, where)
	if args[0] == "help" {
		assert.LessOrEqual(t, len(args), 2, where)
		if len(args) == 2 {
			assert.NotNil(t, lookup(args[1]), "%s: unknown command %q", where, args[1])
		}
		return
	}
	cmd := lookup(args[0])
	if !assert.NotNil(t, cmd, "%s: unknown command %q", where, args[0]) {
		return
	}
	in := &invocation{cmd: cmd}
	fs := newFlagSet(cmd, in)
	if !assert.NoError(t, fs.Parse(args[1:]), where) {
		return
	}
	assert.Zero(t, fs.NArg(), "%s: arguments after the flags", where)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range cmd.required {
		assert.True(t, set[name], "%s: --%s is required", where, name)
	}
	assert.Empty(t, in.checkFlags(fs, set), where)
}

// checkUsage checks a synopsis: lines "smscourier COMMAND [--flag ...]",
// continued on indented lines, every flag one the command has, and every
// command (help included) listed.
func checkUsage(t *testing.T, b docstest.Block) {
	listed := map[string]bool{}
	var cmd *command
	for _, line := range docstest.Lines(b.Text) {
		words := strings.Fields(line)
		if strings.HasPrefix(line, "smscourier ") {
			require.GreaterOrEqual(t, len(words), 2, b.Where())
			listed[words[1]] = true
			if words[1] == "help" {
				cmd = nil
				continue // help [COMMAND]
			}
			cmd = lookup(words[1])
			words = words[2:]
			require.NotNil(t, cmd, "%s: unknown command %q", b.Where(), line)
		} else {
			require.True(t, strings.HasPrefix(line, " "), "%s: %q is neither a command nor a continuation", b.Where(), line)
			require.NotNil(t, cmd, "%s: %q continues no command", b.Where(), line)
		}
		fs := newFlagSet(cmd, &invocation{})
		for _, w := range words {
			w = strings.Trim(w, "[]")
			if !strings.HasPrefix(w, "--") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
			assert.NotNil(t, fs.Lookup(name), "%s: smscourier %s has no flag --%s", b.Where(), cmd.name, name)
		}
	}
	for _, c := range commands {
		assert.True(t, listed[c.name], "%s: command %s missing", b.Where(), c.name)
	}
	assert.True(t, listed["help"], "%s: command help missing", b.Where())
}

// docsRun runs the console blocks of one file in order.
type docsRun struct {
	t     *testing.T
	root  string
	subst map[string]string // the docs' gateway address to the real one

	gateway *exec.Cmd
	gwOut   *bufio.Reader
}

func (r *docsRun) replace(s string) string {
	for from, to := range r.subst {
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

// run runs one console command and compares its output. A gateway is
// started on a free port of 127.0.0.1 and left running; its address takes
// the place of the one the docs show in later commands and output.
func (r *docsRun) run(where string, c docstest.Command) {
	t := r.t
	args := append([]string{}, c.Args[1:]...)
	if args[0] == "gateway" {
		require.Nil(t, r.gateway, "%s: a second gateway", where)
		for i, a := range args {
			if a == "--addr" && i+1 < len(args) {
				r.subst[args[i+1]] = "" // set once the gateway says where it listens
				args[i+1] = "127.0.0.1:0"
			}
		}
		cmd := exec.Command(binary, args...)
		cmd.Dir = r.root
		cmd.Env = []string{}
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		r.gateway, r.gwOut = cmd, bufio.NewReader(out)
		first, err := r.gwOut.ReadString('\n')
		require.NoError(t, err, where)
		_, addr, ok := strings.Cut(first, "listening on http://")
		require.True(t, ok, "%s: %q", where, first)
		addr, _, _ = strings.Cut(addr, " ")
		for from := range r.subst {
			r.subst[from] = addr
		}
		assert.True(t, docstest.Match(r.lines(c.Output), []string{strings.TrimSuffix(first, "\n")}),
			"%s: the gateway printed %q", where, first)
		return
	}
	env := make([]string, len(c.Env))
	for i, e := range c.Env {
		env[i] = r.replace(e)
	}
	for i := range args {
		args[i] = r.replace(args[i])
	}
	want, code := exitStatus(c.Output)
	res := runCLI(t, r.root, env, args...)
	require.Equal(t, code, res.code, "%s: exit status %d\n%s", where, res.code, res.stderr)
	assert.True(t, docstest.Match(r.lines(want), docstest.Lines(res.stdout)),
		"%s: the output differs from the block:\n%s", where, res.stdout)
}

// exitStatusLine ends the output of a console command that exits with a
// status other than 0.
var exitStatusLine = regexp.MustCompile(`^\[exit status ([0-9]+)\]$`)

// exitStatus returns the output lines of a console command without a last
// line "[exit status N]", and N, or 0 without that line.
func exitStatus(output []string) ([]string, int) {
	if n := len(output); n > 0 {
		if m := exitStatusLine.FindStringSubmatch(strings.TrimSpace(output[n-1])); m != nil {
			code, _ := strconv.Atoi(m[1])
			return output[:n-1], code
		}
	}
	return output, 0
}

func (r *docsRun) lines(want []string) []string {
	out := make([]string, len(want))
	for i, l := range want {
		out[i] = r.replace(l)
	}
	return out
}

// checkGatewayLog stops the gateway and compares what it printed after its
// first line with the block.
func (r *docsRun) checkGatewayLog(b docstest.Block) {
	t := r.t
	require.NotNil(t, r.gateway, "%s: no console block started a gateway", b.Where())
	rest := r.stopGateway()
	got := docstest.Lines(rest)
	require.NotEmpty(t, got, b.Where())
	require.Equal(t, "smscourier gateway: stopped", got[len(got)-1], b.Where())
	assert.True(t, docstest.Match(r.lines(docstest.Lines(b.Text)), got[:len(got)-1]),
		"%s: the gateway printed:\n%s", b.Where(), rest)
}

// stopGateway interrupts the gateway, if one runs, and returns what it
// printed after its first line.
func (r *docsRun) stopGateway() string {
	if r.gateway == nil {
		return ""
	}
	cmd := r.gateway
	r.gateway = nil
	require.NoError(r.t, cmd.Process.Signal(os.Interrupt))
	rest, err := io.ReadAll(r.gwOut)
	require.NoError(r.t, err)
	require.NoError(r.t, cmd.Wait())
	return string(rest)
}
