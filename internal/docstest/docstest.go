// Package docstest reads the fenced code blocks of the repository's Markdown
// documentation, for the tests that compile or run each of them: TestDocs in
// the core module (docs_test.go) and TestDocs in cmd/smscourier. The rules
// the blocks follow are in docs/README.md.
package docstest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Block is one fenced code block.
type Block struct {
	File  string // path of the Markdown file, as given to Parse
	Line  int    // line of the opening fence, from 1
	Lang  string // first word of the info string: "go", "yaml", "" (plain), ...
	Attrs []string
	Check string // NAME of a "<!-- check: NAME -->" line right before the fence
	Text  string // the content, every line ended by "\n"
}

// Where returns "file:line" for messages.
func (b Block) Where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Files returns the Markdown files whose blocks are checked, below root:
// README.md, docs/*.md and presets/README.md.
func Files(root string) ([]string, error) {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(docs)
	files := append([]string{filepath.Join(root, "README.md")}, docs...)
	return append(files, filepath.Join(root, "presets", "README.md")), nil
}

var checkMarker = regexp.MustCompile(`^<!-- check: ([a-z0-9-]+) -->$`)

// Parse returns the fenced code blocks of the Markdown file at path. A fence
// is a line starting with three backticks; an indented fence or one left
// open is an error, so that no block escapes the checks.
func Parse(path string) ([]Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		blocks []Block
		cur    *Block
		prev   string // the previous non-blank line outside blocks
		text   strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				cur.Text = text.String()
				blocks = append(blocks, *cur)
				cur = nil
				prev = line // a marker applies to the next block only
				continue
			}
			text.WriteString(line + "\n")
			continue
		}
		trimmed := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(trimmed, "```") {
			if trimmed != line {
				return nil, fmt.Errorf("%s:%d: indented code fence", path, n)
			}
			info := strings.Fields(strings.TrimPrefix(line, "```"))
			cur = &Block{File: path, Line: n}
			if len(info) > 0 {
				cur.Lang = info[0]
			}
			if len(info) > 1 {
				cur.Attrs = info[1:]
			}
			if m := checkMarker.FindStringSubmatch(prev); m != nil {
				cur.Check = m[1]
			}
			text.Reset()
			continue
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: code fence never closed", path, cur.Line)
	}
	return blocks, nil
}

// Command is one shell command of a sh or console block.
type Command struct {
	Line   int      // line within the block, from 1
	Env    []string // leading NAME=value assignments
	Args   []string // the words after them; Args[0] is the program
	Output []string // console blocks: the lines printed after the command
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// Commands splits a sh block (console false: every line is a command) or a
// console block (console true: lines starting with "$ " are commands, the
// lines after one are its output) into commands. A line ending in a
// backslash continues on the next; a word starting with # starts a comment.
func Commands(text string, console bool) ([]Command, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var cmds []Command
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		start := i + 1
		if console {
			if !strings.HasPrefix(line, "$ ") {
				if len(cmds) == 0 {
					return nil, fmt.Errorf("line %d: output before any command", start)
				}
				cmds[len(cmds)-1].Output = append(cmds[len(cmds)-1].Output, line)
				continue
			}
			line = strings.TrimPrefix(line, "$ ")
		}
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + lines[i]
		}
		words, err := Fields(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		if len(words) == 0 {
			if strings.TrimSpace(line) == "" {
				continue
			}
			return nil, fmt.Errorf("line %d: a comment alone", start)
		}
		c := Command{Line: start}
		for len(words) > 0 && assignment.MatchString(words[0]) {
			c.Env, words = append(c.Env, words[0]), words[1:]
		}
		if len(words) == 0 {
			return nil, fmt.Errorf("line %d: no command", start)
		}
		c.Args = words
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// Fields splits a shell command line into words: single quotes keep
// everything, double quotes keep everything but a backslash before ", \ or $,
// an unquoted word starting with # ends the line. Substitutions ($, `) and
// operators (|, ;, &, <, >) are refused, as the tests do not run a shell.
func Fields(line string) ([]string, error) {
	var (
		words []string
		w     strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case c == '#' && !in:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote")
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '$' || line[i] == '`' {
					return nil, fmt.Errorf("substitution in double quotes")
				}
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`, line[i+1]) >= 0 {
					i++
				}
				w.WriteByte(line[i])
			}
			if i == len(line) {
				return nil, fmt.Errorf("unterminated double quote")
			}
			in = true
		case strings.IndexByte("$`|;&<>()\\", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q is not supported", c)
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// Match reports whether got matches want line by line, where a want line
// "..." (spaces around it aside) stands for any number of lines, none
// included. Trailing blank lines
// of got are ignored.
func Match(want, got []string) bool {
	for len(got) > 0 && strings.TrimSpace(got[len(got)-1]) == "" {
		got = got[:len(got)-1]
	}
	if len(want) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(want[0]) == "..." {
		for i := 0; i <= len(got); i++ {
			if Match(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == want[0] && Match(want[1:], got[1:])
}

// Lines splits text into lines without their line ends.
func Lines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}
