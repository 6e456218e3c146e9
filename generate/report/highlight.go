package report

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Token classes; the page's CSS colours them.
const (
	tkPlain   = ""
	tkKey     = "k" // a YAML or JSON key, a Dockerfile instruction
	tkString  = "s" // a quoted or plain string value
	tkNumber  = "n" // a number
	tkLiteral = "l" // true, false, null, ~
	tkComment = "c" // a comment
	tkPunct   = "p" // structure: braces, list dashes, colons, document markers
	tkVar     = "v" // $VAR, ${VAR}, YAML anchors and aliases
	tkFlag    = "f" // a Dockerfile flag (--chown=...)
	tkHead    = "h" // a Markdown heading
	tkCode    = "s" // Markdown code (shares the string colour)
	tkSecret  = "x" // the mask that stands for a secret value
)

// Token is a run of source text with one class.
type Token struct {
	Class string
	Text  string
}

// Tokenize splits src into tokens for lang (yaml, json, dockerfile,
// markdown; anything else is plain). Concatenating the tokens' Text gives
// src back exactly. The masker's markers ([secret REF hidden]) come out
// as tokens of their own, whatever the language would make of them.
func Tokenize(lang, src string) []Token {
	// Markers are swapped for placeholders every tokenizer reads as one
	// plain word, then put back.
	var masks []string
	if !strings.ContainsRune(src, phOpen) {
		src = maskRe.ReplaceAllStringFunc(src, func(m string) string {
			masks = append(masks, m)
			return string(phOpen) + strconv.Itoa(len(masks)-1) + string(phClose)
		})
	}
	var toks []Token
	switch lang {
	case "yaml":
		toks = yamlTokens(src)
	case "json":
		toks = jsonTokens(src)
	case "dockerfile":
		toks = dockerfileTokens(src)
	case "markdown":
		toks = markdownTokens(src)
	default:
		toks = []Token{{tkPlain, src}}
	}
	if len(masks) == 0 {
		return toks
	}
	return restoreMasks(toks, masks)
}

const phOpen, phClose = '\uE000', '\uE001'

var (
	maskRe = regexp.MustCompile(`\[secret [^\]\n]* hidden\]`)
	phRe   = regexp.MustCompile("\uE000([0-9]+)\uE001")
)

// restoreMasks puts the markers back as tokens of class tkSecret.
func restoreMasks(in []Token, masks []string) []Token {
	var out []Token
	for _, t := range in {
		for {
			loc := phRe.FindStringSubmatchIndex(t.Text)
			if loc == nil {
				break
			}
			if loc[0] > 0 {
				out = append(out, Token{t.Class, t.Text[:loc[0]]})
			}
			i, _ := strconv.Atoi(t.Text[loc[2]:loc[3]])
			out = append(out, Token{tkSecret, masks[i]})
			t.Text = t.Text[loc[1]:]
		}
		if t.Text != "" {
			out = append(out, t)
		}
	}
	return out
}

// Highlight returns src as HTML: every token escaped, classed tokens in a
// span.
func Highlight(lang, src string) string {
	var b strings.Builder
	for _, t := range Tokenize(lang, src) {
		if t.Text == "" {
			continue
		}
		if t.Class == tkPlain {
			b.WriteString(html.EscapeString(t.Text))
			continue
		}
		b.WriteString(`<span class="`)
		b.WriteString(t.Class)
		b.WriteString(`">`)
		b.WriteString(html.EscapeString(t.Text))
		b.WriteString(`</span>`)
	}
	return b.String()
}

// lines splits src after each newline, keeping it.
func lines(src string) []string {
	var out []string
	for src != "" {
		i := strings.IndexByte(src, '\n')
		if i < 0 {
			out = append(out, src)
			break
		}
		out = append(out, src[:i+1])
		src = src[i+1:]
	}
	return out
}

// scalarClass classifies a plain (unquoted) scalar.
func scalarClass(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "null", "~", "yes", "no", "on", "off":
		return tkLiteral
	}
	if isNumber(s) {
		return tkNumber
	}
	return tkString
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	s = strings.TrimLeft(s, "+-")
	digits, dot, exp := 0, false, false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.' && !dot && !exp:
			dot = true
		case (r == 'e' || r == 'E') && digits > 0 && !exp && i < len(s)-1:
			exp = true
			if i+1 < len(s) && (s[i+1] == '+' || s[i+1] == '-') {
				continue
			}
		case (r == '+' || r == '-') && exp && (s[i-1] == 'e' || s[i-1] == 'E'):
		default:
			return false
		}
	}
	return digits > 0
}

// ---- YAML ----

func yamlTokens(src string) []Token {
	var out []Token
	blockIndent := -1 // inside a block scalar deeper than this indentation
	for _, line := range lines(src) {
		body := strings.TrimRight(line, "\n")
		nl := line[len(body):]
		indent := len(body) - len(strings.TrimLeft(body, " "))
		if blockIndent >= 0 {
			if strings.TrimSpace(body) == "" || indent > blockIndent {
				out = append(out, Token{tkString, body}, Token{tkPlain, nl})
				continue
			}
			blockIndent = -1
		}
		toks, block := yamlLine(body, indent)
		out = append(out, toks...)
		out = append(out, Token{tkPlain, nl})
		if block {
			blockIndent = indent
		}
	}
	return out
}

// yamlLine tokenizes one line; block reports a block scalar header (| or >)
// ending the line.
func yamlLine(body string, indent int) (toks []Token, block bool) {
	toks = append(toks, Token{tkPlain, body[:indent]})
	rest := body[indent:]
	trimmed := strings.TrimSpace(rest)
	if trimmed == "---" || trimmed == "..." {
		return append(toks, Token{tkPunct, rest}), false
	}
	if strings.HasPrefix(rest, "#") {
		return append(toks, Token{tkComment, rest}), false
	}
	// List markers.
	for strings.HasPrefix(rest, "- ") || rest == "-" {
		toks = append(toks, Token{tkPunct, "-"})
		rest = rest[1:]
		sp := len(rest) - len(strings.TrimLeft(rest, " "))
		toks = append(toks, Token{tkPlain, rest[:sp]})
		rest = rest[sp:]
	}
	// A key: text up to ": " or a final ":" outside quotes.
	if k := yamlKeyEnd(rest); k > 0 {
		toks = append(toks, Token{tkKey, rest[:k]}, Token{tkPunct, ":"})
		rest = rest[k+1:]
	}
	v, b := yamlValue(rest)
	return append(toks, v...), b
}

// yamlKeyEnd returns the index of the colon ending a mapping key, or -1.
func yamlKeyEnd(s string) int {
	if s == "" || s[0] == '{' || s[0] == '[' || s[0] == '|' || s[0] == '>' {
		return -1
	}
	if s[0] == '"' || s[0] == '\'' {
		end := quoteEnd(s)
		if end > 0 && end < len(s) && s[end] == ':' && (end+1 == len(s) || s[end+1] == ' ') {
			return end
		}
		return -1
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':':
			if i+1 == len(s) || s[i+1] == ' ' {
				return i
			}
		case '#':
			if i > 0 && s[i-1] == ' ' {
				return -1
			}
		}
	}
	return -1
}

// quoteEnd returns the index after the closing quote of the string s
// starts with, or len(s) when it is not closed on this line.
func quoteEnd(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case q == '\'' && s[i] == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i + 1
		}
	}
	return len(s)
}

func yamlValue(s string) (toks []Token, block bool) {
	sp := len(s) - len(strings.TrimLeft(s, " "))
	toks = append(toks, Token{tkPlain, s[:sp]})
	s = s[sp:]
	if s == "" {
		return toks, false
	}
	// A trailing comment.
	comment := ""
	if s[0] != '"' && s[0] != '\'' {
		if i := strings.Index(s, " #"); i >= 0 {
			comment = s[i:]
			s = s[:i]
		} else if s[0] == '#' {
			return append(toks, Token{tkComment, s}), false
		}
	}
	switch {
	case s[0] == '"' || s[0] == '\'':
		end := quoteEnd(s)
		toks = append(toks, Token{tkString, s[:end]})
		if rest := s[end:]; rest != "" {
			if i := strings.Index(rest, "#"); i >= 0 {
				toks = append(toks, Token{tkPlain, rest[:i]}, Token{tkComment, rest[i:]})
			} else {
				toks = append(toks, Token{tkPlain, rest})
			}
		}
		return toks, false
	case s[0] == '|' || s[0] == '>':
		toks = append(toks, Token{tkPunct, s})
		block = true
	case s[0] == '&' || s[0] == '*':
		toks = append(toks, Token{tkVar, s})
	case s[0] == '{' || s[0] == '[':
		toks = append(toks, flowTokens(s)...)
	default:
		toks = append(toks, Token{scalarClass(strings.TrimSpace(s)), s})
	}
	if comment != "" {
		toks = append(toks, Token{tkComment, comment})
	}
	return toks, block
}

// flowTokens tokenizes a YAML flow collection ({a: 1}, [x, y]) on one line.
func flowTokens(s string) []Token {
	var out []Token
	for s != "" {
		switch c := s[0]; {
		case strings.IndexByte("{}[],:", c) >= 0:
			out = append(out, Token{tkPunct, s[:1]})
			s = s[1:]
		case c == ' ':
			n := len(s) - len(strings.TrimLeft(s, " "))
			out = append(out, Token{tkPlain, s[:n]})
			s = s[n:]
		case c == '"' || c == '\'':
			end := quoteEnd(s)
			out = append(out, Token{tkString, s[:end]})
			s = s[end:]
		default:
			n := strings.IndexAny(s, "{}[],: ")
			if n < 0 {
				n = len(s)
			}
			if n == 0 {
				n = 1
			}
			word := s[:n]
			cls := scalarClass(word)
			if strings.HasPrefix(strings.TrimLeft(s[n:], " "), ":") {
				cls = tkKey
			}
			out = append(out, Token{cls, word})
			s = s[n:]
		}
	}
	return out
}

// ---- JSON ----

func jsonTokens(src string) []Token {
	var out []Token
	s := src
	for s != "" {
		c := s[0]
		switch {
		case c == '"':
			end := quoteEnd(s)
			cls := tkString
			if strings.HasPrefix(strings.TrimLeft(s[end:], " \t\r\n"), ":") {
				cls = tkKey
			}
			out = append(out, Token{cls, s[:end]})
			s = s[end:]
		case strings.IndexByte("{}[],:", c) >= 0:
			out = append(out, Token{tkPunct, s[:1]})
			s = s[1:]
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			n := len(s) - len(strings.TrimLeft(s, " \t\r\n"))
			out = append(out, Token{tkPlain, s[:n]})
			s = s[n:]
		default:
			n := strings.IndexAny(s, "{}[],: \t\r\n\"")
			if n < 0 {
				n = len(s)
			}
			if n == 0 {
				n = 1
			}
			out = append(out, Token{scalarClass(s[:n]), s[:n]})
			s = s[n:]
		}
	}
	return out
}

// ---- Dockerfile ----

func dockerfileTokens(src string) []Token {
	var out []Token
	continued := false
	for _, line := range lines(src) {
		body := strings.TrimRight(line, "\n")
		nl := line[len(body):]
		trimmed := strings.TrimLeft(body, " \t")
		lead := body[:len(body)-len(trimmed)]
		out = append(out, Token{tkPlain, lead})
		switch {
		case strings.HasPrefix(trimmed, "#"):
			out = append(out, Token{tkComment, trimmed})
			out = append(out, Token{tkPlain, nl})
			continue
		case !continued:
			word := trimmed
			if i := strings.IndexFunc(trimmed, unicode.IsSpace); i >= 0 {
				word = trimmed[:i]
			}
			if word != "" && strings.ToUpper(word) == word && isLetters(word) {
				out = append(out, Token{tkKey, word})
				trimmed = trimmed[len(word):]
			}
		}
		out = append(out, dockerArgs(trimmed)...)
		out = append(out, Token{tkPlain, nl})
		continued = strings.HasSuffix(strings.TrimRight(body, " \t"), "\\")
	}
	return out
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// dockerArgs tokenizes an instruction's arguments: flags, quoted strings,
// variables.
func dockerArgs(s string) []Token {
	var out []Token
	plain := func(t string) {
		if t != "" {
			out = append(out, Token{tkPlain, t})
		}
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'':
			plain(s[start:i])
			end := i + quoteEnd(s[i:])
			out = append(out, Token{tkString, s[i:end]})
			i, start = end, end
		case c == '$':
			plain(s[start:i])
			end := i + 1
			if end < len(s) && s[end] == '{' {
				if j := strings.IndexByte(s[end:], '}'); j >= 0 {
					end += j + 1
				} else {
					end = len(s)
				}
			} else {
				for end < len(s) && (s[end] == '_' || unicode.IsLetter(rune(s[end])) || unicode.IsDigit(rune(s[end]))) {
					end++
				}
			}
			out = append(out, Token{tkVar, s[i:end]})
			i, start = end, end
		case c == '-' && i+1 < len(s) && s[i+1] == '-' && (i == 0 || s[i-1] == ' '):
			plain(s[start:i])
			end := strings.IndexByte(s[i:], ' ')
			if end < 0 {
				end = len(s)
			} else {
				end += i
			}
			out = append(out, Token{tkFlag, s[i:end]})
			i, start = end, end
		default:
			i++
		}
	}
	plain(s[start:])
	return out
}

// ---- Markdown ----

func markdownTokens(src string) []Token {
	var out []Token
	fenced := false
	for _, line := range lines(src) {
		body := strings.TrimRight(line, "\n")
		nl := line[len(body):]
		switch {
		case strings.HasPrefix(body, "```"):
			fenced = !fenced
			out = append(out, Token{tkPunct, body})
		case fenced:
			out = append(out, Token{tkCode, body})
		case strings.HasPrefix(body, "#"):
			out = append(out, Token{tkHead, body})
		default:
			// Inline `code`.
			for body != "" {
				i := strings.IndexByte(body, '`')
				if i < 0 {
					out = append(out, Token{tkPlain, body})
					break
				}
				j := strings.IndexByte(body[i+1:], '`')
				if j < 0 {
					out = append(out, Token{tkPlain, body})
					break
				}
				j += i + 2
				out = append(out, Token{tkPlain, body[:i]}, Token{tkCode, body[i:j]})
				body = body[j:]
			}
		}
		out = append(out, Token{tkPlain, nl})
	}
	return out
}
