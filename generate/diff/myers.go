// Package diff compares two generations of an app's deployment artifacts
// (APP/deploy against APP/deploy/.previous, which `hoist generate` keeps) line
// by line with Myers' algorithm, and prints the result as a unified diff.
// Secret values from the workspace's secrets file are masked in everything
// it returns.
package diff

import "strings"

// Op is what an edit does to a line.
type Op int

const (
	Equal Op = iota
	Delete
	Insert
)

func (o Op) String() string {
	switch o {
	case Delete:
		return "-"
	case Insert:
		return "+"
	}
	return " "
}

// Edit is one line of an edit script. Old and New are the 1-based line
// numbers in the old and new text (0 when the line is not in that text).
type Edit struct {
	Op   Op     `json:"op"`
	Line string `json:"line"`
	Old  int    `json:"old,omitempty"`
	New  int    `json:"new,omitempty"`
}

// maxCost bounds the edit distance Myers' search explores. Past it (two
// files with almost nothing in common, thousands of lines each), the
// middle of the files is reported as deleted and inserted whole: still a
// correct diff, only not a minimal one, and memory stays bounded.
const maxCost = 1000

// Lines returns a shortest edit script turning a into b (Myers, "An O(ND)
// difference algorithm and its variations", 1986). Applying the Delete and
// Insert edits to a gives b exactly.
func Lines(a, b []string) []Edit {
	// Common prefix and suffix cost nothing and shrink the search.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []Edit
	for i := 0; i < pre; i++ {
		out = append(out, Edit{Op: Equal, Line: a[i], Old: i + 1, New: i + 1})
	}
	mid := myers(a[pre:len(a)-suf], b[pre:len(b)-suf])
	for _, e := range mid {
		if e.Old > 0 {
			e.Old += pre
		}
		if e.New > 0 {
			e.New += pre
		}
		out = append(out, e)
	}
	for i := 0; i < suf; i++ {
		oi, ni := len(a)-suf+i, len(b)-suf+i
		out = append(out, Edit{Op: Equal, Line: a[oi], Old: oi + 1, New: ni + 1})
	}
	return out
}

// myers runs the greedy forward search, keeping each round's furthest
// reaching paths so the script can be traced back.
func myers(a, b []string) []Edit {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return replaceAll(a, b)
	}
	max := n + m
	if max > maxCost {
		max = maxCost
	}
	off := max + 1
	v := make([]int, 2*max+3)
	// trace[d] holds v[-d..d] as it was before round d: memory grows with
	// the square of the edit distance, which maxCost bounds.
	var trace [][]int
	found := -1
	for d := 0; d <= max && found < 0; d++ {
		snap := make([]int, 2*d+1)
		copy(snap, v[off-d:off+d+1])
		trace = append(trace, snap)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert b[y]
			} else {
				x = v[off+k-1] + 1 // right: delete a[x]
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
	}
	if found < 0 {
		return replaceAll(a, b)
	}
	// Walk back from (n, m) through the snapshots.
	var rev []Edit
	x, y := n, m
	for d := found; d > 0; d-- {
		vd := trace[d] // v[-d..d] after round d-1
		at := func(k int) int { return vd[k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, Edit{Op: Equal, Line: a[x], Old: x + 1, New: y + 1})
		}
		if x == px {
			y--
			rev = append(rev, Edit{Op: Insert, Line: b[y], New: y + 1})
		} else {
			x--
			rev = append(rev, Edit{Op: Delete, Line: a[x], Old: x + 1})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, Edit{Op: Equal, Line: a[x], Old: x + 1, New: y + 1})
	}
	out := make([]Edit, len(rev))
	for i, e := range rev {
		out[len(rev)-1-i] = e
	}
	return out
}

func replaceAll(a, b []string) []Edit {
	out := make([]Edit, 0, len(a)+len(b))
	for i, l := range a {
		out = append(out, Edit{Op: Delete, Line: l, Old: i + 1})
	}
	for i, l := range b {
		out = append(out, Edit{Op: Insert, Line: l, New: i + 1})
	}
	return out
}

// SplitLines splits text into lines without their "\n". A final line
// without a newline is kept; noEOL reports it.
func SplitLines(s string) (lines []string, noEOL bool) {
	if s == "" {
		return nil, false
	}
	noEOL = !strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n"), noEOL
}

// Hunk is a run of changes with the unchanged lines around them.
type Hunk struct {
	OldStart int    `json:"oldStart"`
	OldLines int    `json:"oldLines"`
	NewStart int    `json:"newStart"`
	NewLines int    `json:"newLines"`
	Edits    []Edit `json:"edits"`
}

// Header is the hunk's "@@ -a,b +c,d @@" line.
func (h Hunk) Header() string {
	return "@@ -" + rangeStr(h.OldStart, h.OldLines) + " +" + rangeStr(h.NewStart, h.NewLines) + " @@"
}

func rangeStr(start, n int) string {
	if n == 1 {
		return itoa(start)
	}
	return itoa(start) + "," + itoa(n)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b [20]byte
	p := len(b)
	for ; i > 0; i /= 10 {
		p--
		b[p] = byte('0' + i%10)
	}
	if neg {
		p--
		b[p] = '-'
	}
	return string(b[p:])
}

// Hunks groups an edit script into hunks with up to context unchanged
// lines around each change, as diff -u does.
func Hunks(edits []Edit, context int) []Hunk {
	var hunks []Hunk
	i := 0
	for i < len(edits) {
		// Find the next change.
		for i < len(edits) && edits[i].Op == Equal {
			i++
		}
		if i == len(edits) {
			break
		}
		start := max(0, i-context)
		// Extend while the gap of equal lines to the next change is at
		// most 2*context.
		end := i
		for end < len(edits) {
			for end < len(edits) && edits[end].Op != Equal {
				end++
			}
			gap := 0
			for end+gap < len(edits) && edits[end+gap].Op == Equal {
				gap++
			}
			if end+gap == len(edits) || gap > 2*context {
				end = min(len(edits), end+context)
				break
			}
			end += gap
		}
		h := Hunk{Edits: edits[start:end]}
		oldBefore, newBefore := 0, 0
		for _, e := range edits[:start] {
			if e.Op != Insert {
				oldBefore++
			}
			if e.Op != Delete {
				newBefore++
			}
		}
		for _, e := range h.Edits {
			if e.Op != Insert {
				h.OldLines++
			}
			if e.Op != Delete {
				h.NewLines++
			}
		}
		// diff -u numbers an empty range by the line before it.
		h.OldStart, h.NewStart = oldBefore+1, newBefore+1
		if h.OldLines == 0 {
			h.OldStart = oldBefore
		}
		if h.NewLines == 0 {
			h.NewStart = newBefore
		}
		hunks = append(hunks, h)
		i = end
	}
	return hunks
}
