package diff

import (
	"bufio"
	"fmt"
	"io"
)

// ANSI colours, as git uses them.
const (
	colorReset  = "\x1b[0m"
	colorBold   = "\x1b[1m"
	colorCyan   = "\x1b[36m"
	colorRed    = "\x1b[31m"
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
)

// Write prints the changed files of g as a unified diff (paths a/ and b/
// relative to APP/deploy, so `git apply --directory` and review tools read
// it), with ANSI colours when color is
// set. It prints nothing when nothing changed.
func Write(w io.Writer, g *Generation, color bool) error {
	bw := bufio.NewWriter(w)
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + colorReset
	}
	for _, f := range g.Changed() {
		oldName, newName := "a/"+f.Path, "b/"+f.Path
		switch f.Status {
		case Added:
			oldName = "/dev/null"
		case Removed:
			newName = "/dev/null"
		}
		if f.Binary {
			fmt.Fprintf(bw, "Binary files %s and %s differ\n", oldName, newName)
			continue
		}
		fmt.Fprintln(bw, paint(colorBold, "--- "+oldName))
		fmt.Fprintln(bw, paint(colorBold, "+++ "+newName))
		for hi, h := range f.Hunks {
			fmt.Fprintln(bw, paint(colorCyan, h.Header()))
			last := hi == len(f.Hunks)-1
			for i, e := range h.Edits {
				line := e.Op.String() + e.Line
				switch e.Op {
				case Delete:
					line = paint(colorRed, line)
				case Insert:
					line = paint(colorGreen, line)
				}
				fmt.Fprintln(bw, line)
				if last && noEOLAfter(f, h, i) {
					fmt.Fprintln(bw, `\ No newline at end of file`)
				}
			}
		}
	}
	return bw.Flush()
}

// noEOLAfter says whether edit i of h is the last line of a side that has
// no final newline.
func noEOLAfter(f FileDiff, h Hunk, i int) bool {
	e := h.Edits[i]
	lastOld, lastNew := true, true
	for _, x := range h.Edits[i+1:] {
		if x.Op != Insert {
			lastOld = false
		}
		if x.Op != Delete {
			lastNew = false
		}
	}
	endOld := f.OldNoEOL && lastOld && e.Old == f.OldTotal
	endNew := f.NewNoEOL && lastNew && e.New == f.NewTotal
	switch e.Op {
	case Delete:
		return endOld
	case Insert:
		return endNew
	}
	return endOld || endNew
}

// Summary is a one-line account of g, such as "3 files changed, 12
// insertions(+), 4 deletions(-)" or "no changes".
func Summary(g *Generation) string {
	files, add, del := 0, 0, 0
	for _, f := range g.Changed() {
		files++
		add += f.Added
		del += f.Removed
	}
	if files == 0 {
		if !g.HasPrevious {
			return "no previous generation to compare with"
		}
		return "no changes since the previous generation"
	}
	return fmt.Sprintf("%d %s changed, %d %s(+), %d %s(-)", files, plural(files, "file", "files"), add, plural(add, "insertion", "insertions"), del, plural(del, "deletion", "deletions"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
