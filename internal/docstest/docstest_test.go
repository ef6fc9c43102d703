package docstest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFields(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
		wantErr    bool
	}{
		{name: "words", line: "go test  -race ./...", want: []string{"go", "test", "-race", "./..."}},
		{name: "comment", line: "go run .  # 1. send", want: []string{"go", "run", "."}},
		{name: "hash inside a word", line: "a#b", want: []string{"a#b"}},
		{name: "single quotes", line: "send --body 'Your code is 123456'", want: []string{"send", "--body", "Your code is 123456"}},
		{name: "double quotes", line: `x "a \"b\" c"`, want: []string{"x", `a "b" c`}},
		{name: "joined quotes", line: `a'b c'"d"`, want: []string{"ab cd"}},
		{name: "unterminated", line: "x 'a", wantErr: true},
		{name: "pipe", line: "x | y", wantErr: true},
		{name: "substitution", line: "x $HOME", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Fields(tt.line)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		console bool
		want    []Command
		wantErr bool
	}{
		{
			name: "sh lines and a continuation",
			text: "go run .\nA=1 \\\n  smscourier send --to x\n",
			want: []Command{
				{Line: 1, Args: []string{"go", "run", "."}},
				{Line: 2, Env: []string{"A=1"}, Args: []string{"smscourier", "send", "--to", "x"}},
			},
		},
		{
			name:    "console output",
			text:    "$ smscourier gateway\nlistening\n...\n$ smscourier help\n",
			console: true,
			want: []Command{
				{Line: 1, Args: []string{"smscourier", "gateway"}, Output: []string{"listening", "..."}},
				{Line: 4, Args: []string{"smscourier", "help"}},
			},
		},
		{name: "console output first", text: "out\n$ x\n", console: true, wantErr: true},
		{name: "comment alone", text: "# note\n", wantErr: true},
		{name: "assignment alone", text: "A=1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Commands(tt.text, tt.console)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name      string
		want, got []string
		match     bool
	}{
		{name: "equal", want: []string{"a", "b"}, got: []string{"a", "b"}, match: true},
		{name: "trailing blank lines", want: []string{"a"}, got: []string{"a", "", ""}, match: true},
		{name: "ellipsis for none", want: []string{"a", "...", "b"}, got: []string{"a", "b"}, match: true},
		{name: "ellipsis for some", want: []string{"a", "  ...", "b"}, got: []string{"a", "x", "y", "b"}, match: true},
		{name: "ellipsis at the end", want: []string{"a", "..."}, got: []string{"a", "x"}, match: true},
		{name: "missing line", want: []string{"a", "b"}, got: []string{"a"}, match: false},
		{name: "extra line", want: []string{"a"}, got: []string{"a", "b"}, match: false},
		{name: "different line", want: []string{"a", "...", "b"}, got: []string{"a", "c"}, match: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.match, Match(tt.want, tt.got))
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []Block
		wantErr bool
	}{
		{
			name: "blocks",
			doc:  "# T\n\n```go\nx := 1\n```\n\n<!-- check: quickstart -->\n\n```\nout\n```\n\n```jsonnet response\n{}\n```\n",
			want: []Block{
				{Line: 3, Lang: "go", Text: "x := 1\n"},
				{Line: 9, Check: "quickstart", Text: "out\n"},
				{Line: 13, Lang: "jsonnet", Attrs: []string{"response"}, Text: "{}\n"},
			},
		},
		{name: "marker not right before", doc: "<!-- check: a -->\ntext\n```\nout\n```\n", want: []Block{{Line: 3, Text: "out\n"}}},
		{name: "indented fence", doc: "- item\n  ```go\n  x\n  ```\n", wantErr: true},
		{name: "fence left open", doc: "```go\nx\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "doc.md")
			require.NoError(t, os.WriteFile(path, []byte(tt.doc), 0o644))
			got, err := Parse(path)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			for i := range tt.want {
				tt.want[i].File = path
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
