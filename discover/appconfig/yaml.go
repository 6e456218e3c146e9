package appconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// maxYAMLNodes bounds the work of walking a YAML file whose aliases expand
// exponentially ("billion laughs").
const maxYAMLNodes = 100000

// parseYAMLKind parses a Spring application.yml: every document, maps
// flattened to dotted keys and lists to key[i], in file order.
func parseYAMLKind(data []byte) (*File, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	docs, err := decodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("parsing application.yml: %w", err)
	}
	b := &builder{f: &File{}}
	w := yamlWalker{b: b, data: data, lineStarts: lineStarts(data)}
	for i, d := range docs {
		w.doc = i
		root := d
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		w.walk("", root, 0)
		if w.overBudget {
			b.warn("application.yml: aliases expand to more than %d nodes; the rest of the file was not read", maxYAMLNodes)
			break
		}
	}
	b.addKeyValues(w.kvs)
	return b.f, nil
}

func decodeYAML(data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		// The YAML library has panicked on hostile input before; keep
		// that from taking the whole analysis down.
		if r := recover(); r != nil {
			docs, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

type yamlWalker struct {
	b          *builder
	data       []byte
	lineStarts []int
	kvs        []keyValue
	doc        int
	nodes      int
	overBudget bool
}

func (w *yamlWalker) walk(prefix string, n *yaml.Node, depth int) {
	w.nodes++
	if w.nodes > maxYAMLNodes || depth > 1000 {
		w.overBudget = true
		return
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			w.walk(prefix, n.Alias, depth+1)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content) && !w.overBudget; i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				// <<: *defaults merges the aliased maps in place.
				w.walk(prefix, v, depth+1)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				w.b.warn("application.yml: line %d: a mapping key that is not a scalar was skipped", k.Line)
				continue
			}
			key := k.Value
			if prefix != "" {
				key = prefix + "." + key
			}
			w.walk(key, v, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if w.overBudget {
				break
			}
			w.walk(prefix+"["+strconv.Itoa(i)+"]", c, depth+1)
		}
	case yaml.ScalarNode:
		if prefix == "" {
			return // a document that is a bare scalar
		}
		text := n.Value
		if n.Tag == "!!null" {
			text = ""
		}
		w.kvs = append(w.kvs, keyValue{key: prefix, val: w.scalarValue(n, text), doc: w.doc})
	}
}

// scalarValue finds the text a scalar is written as, from the node's
// line and column: the value itself for plain scalars, what lies between
// the quotes for quoted ones, the indented block for | and > scalars.
func (w *yamlWalker) scalarValue(n *yaml.Node, text string) value {
	fallback := value{text: text, raw: text}
	off, ok := w.offset(n.Line, n.Column)
	if !ok || text == "" {
		return fallback
	}
	d := w.data
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if d[off] != '"' {
			return fallback
		}
		for j := off + 1; j < len(d); j++ {
			switch d[j] {
			case '\\':
				j++
			case '"':
				return value{text: text, raw: string(d[off+1 : j])}
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		if d[off] != '\'' {
			return fallback
		}
		for j := off + 1; j < len(d); j++ {
			if d[j] == '\'' {
				if j+1 < len(d) && d[j+1] == '\'' {
					j++
					continue
				}
				return value{text: text, raw: string(d[off+1 : j])}
			}
		}
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if raw, ok := w.blockText(n.Line); ok {
			return value{text: text, raw: raw}
		}
	default:
		if bytes.HasPrefix(d[off:], []byte(text)) {
			return value{text: text, raw: text}
		}
	}
	return fallback
}

// offset converts a 1-based line and character column into a byte offset.
func (w *yamlWalker) offset(line, col int) (int, bool) {
	if line < 1 || line > len(w.lineStarts) || col < 1 {
		return 0, false
	}
	off := w.lineStarts[line-1]
	for c := 1; c < col; c++ {
		if off >= len(w.data) || w.data[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(w.data[off:])
		off += size
	}
	if off >= len(w.data) {
		return 0, false
	}
	return off, true
}

// blockText returns the text of a block scalar whose header (| or >) is
// on the given line: from the first content character to the end of the
// last non-blank content line.
func (w *yamlWalker) blockText(header int) (string, bool) {
	if header >= len(w.lineStarts) {
		return "", false
	}
	lineText := func(i int) []byte {
		start := w.lineStarts[i]
		end := len(w.data)
		if i+1 < len(w.lineStarts) {
			end = w.lineStarts[i+1] - 1
		}
		return bytes.TrimSuffix(w.data[start:end], []byte("\r"))
	}
	indent := -1
	first, lastEnd := -1, -1
	for i := header; i < len(w.lineStarts); i++ { // header is 1-based: i is the next line
		t := lineText(i)
		trimmed := bytes.TrimLeft(t, " ")
		if len(bytes.TrimSpace(t)) == 0 {
			continue
		}
		ind := len(t) - len(trimmed)
		if indent < 0 {
			if ind == 0 {
				return "", false
			}
			indent = ind
			first = w.lineStarts[i] + ind
		} else if ind < indent {
			break
		}
		lastEnd = w.lineStarts[i] + len(t)
	}
	if first < 0 || lastEnd < first {
		return "", false
	}
	return string(w.data[first:lastEnd]), true
}
