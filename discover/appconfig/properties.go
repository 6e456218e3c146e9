package appconfig

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// parsePropertiesKind parses a Spring application.properties or any other
// java.util.Properties file.
func parsePropertiesKind(kind Kind, data []byte) (*File, error) {
	kvs, err := parseProperties(data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", displayName(kind), err)
	}
	b := &builder{f: &File{}}
	b.addKeyValues(kvs)
	return b.f, nil
}

// parseProperties reads data with the rules of java.util.Properties.load:
// natural lines ending in an odd number of backslashes continue on the
// next line (whose leading white space is dropped), # and ! start comment
// lines, the key ends at the first unescaped '=', ':' or white space, and
// \t \n \r \f \uXXXX escapes are decoded. Spring Boot's "#---" lines start
// a new document. Each value keeps its exact text in the file, so secrets
// can be redacted however they are escaped.
func parseProperties(data []byte) ([]keyValue, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var out []keyValue
	doc := 0
	pos := 0
	lineNo := 0
	for pos < len(data) {
		// Read one logical line: its bytes, and for each byte its offset
		// in data.
		var logical []byte
		var offs []int
		startLine := lineNo + 1
		rawEnd := pos
		comment := false
		first := true
		for pos < len(data) {
			lineNo++
			end := pos
			for end < len(data) && data[end] != '\n' && data[end] != '\r' {
				end++
			}
			next := end
			if next < len(data) && data[next] == '\r' {
				next++
			}
			if next < len(data) && data[next] == '\n' && (next == end || data[next-1] == '\r') {
				next++
			}
			i := pos
			for i < end && (data[i] == ' ' || data[i] == '\t' || data[i] == '\f') {
				i++
			}
			if first {
				if i == end {
					// blank line
					pos = next
					startLine = lineNo + 1
					continue
				}
				if data[i] == '#' || data[i] == '!' {
					if t := string(data[i:end]); t == "#---" || t == "!---" {
						doc++
					}
					comment = true
					pos = next
					break
				}
			}
			first = false
			bs := 0
			for j := end - 1; j >= i && data[j] == '\\'; j-- {
				bs++
			}
			cont := bs%2 == 1
			stop := end
			if cont {
				stop = end - 1
			}
			for j := i; j < stop; j++ {
				logical = append(logical, data[j])
				offs = append(offs, j)
			}
			rawEnd = stop
			pos = next
			if !cont {
				break
			}
		}
		if comment || len(logical) == 0 {
			continue
		}
		k, v := splitProperty(logical)
		key, err := unescapeProperty(logical[:k])
		if err != nil {
			return nil, fmt.Errorf("line %d: key: %w", startLine, err)
		}
		text, err := unescapeProperty(logical[v:])
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %s: %w", startLine, key, err)
		}
		raw := ""
		if v < len(logical) {
			raw = string(data[offs[v]:rawEnd])
		}
		out = append(out, keyValue{key: key, val: value{text: text, raw: raw}, doc: doc})
	}
	return out, nil
}

// splitProperty returns where the key ends and the value starts in a
// logical line.
func splitProperty(line []byte) (keyEnd, valStart int) {
	keyEnd = len(line)
	valStart = len(line)
	hasSep := false
	backslash := false
scan:
	for i, c := range line {
		if backslash {
			backslash = false
			continue
		}
		switch c {
		case '\\':
			backslash = true
		case '=', ':':
			keyEnd, valStart, hasSep = i, i+1, true
			break scan
		case ' ', '\t', '\f':
			keyEnd, valStart = i, i+1
			break scan
		}
	}
	for valStart < len(line) {
		c := line[valStart]
		if c == ' ' || c == '\t' || c == '\f' {
			valStart++
			continue
		}
		if !hasSep && (c == '=' || c == ':') {
			hasSep = true
			valStart++
			continue
		}
		break
	}
	return keyEnd, valStart
}

// unescapeProperty decodes Properties escapes. A malformed \uXXXX is an
// error, as it is for Java.
func unescapeProperty(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b), nil
	}
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i >= len(b) {
			break // a lone trailing backslash is dropped
		}
		switch c = b[i]; c {
		case 't':
			sb.WriteByte('\t')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 'f':
			sb.WriteByte('\f')
		case 'u':
			if i+5 > len(b) {
				return "", fmt.Errorf("malformed \\uxxxx escape")
			}
			r, ok := hex4(b[i+1 : i+5])
			if !ok {
				return "", fmt.Errorf("malformed \\uxxxx escape")
			}
			i += 4
			// Java strings are UTF-16: join surrogate pairs.
			if r >= 0xD800 && r < 0xDC00 && i+7 <= len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
				if lo, ok := hex4(b[i+3 : i+7]); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
			}
			if !utf8.ValidRune(r) {
				r = utf8.RuneError
			}
			sb.WriteRune(r)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) != 4 {
		return 0, false
	}
	var r rune
	for _, h := range b {
		r <<= 4
		switch {
		case h >= '0' && h <= '9':
			r |= rune(h - '0')
		case h >= 'a' && h <= 'f':
			r |= rune(h-'a') + 10
		case h >= 'A' && h <= 'F':
			r |= rune(h-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}
