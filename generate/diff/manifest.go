package diff

import (
	"regexp"
	"strings"
)

// HiddenValue replaces every value of a Kubernetes Secret's data and
// stringData, whatever the secrets file holds: a value written by an
// earlier generate may no longer be in the secrets file, so masking by
// value alone could miss it.
const HiddenValue = "[secret value hidden]"

var (
	reSecretKind = regexp.MustCompile(`^kind:\s*["']?Secret["']?\s*$`)
	reDataKey    = regexp.MustCompile(`^(stringData|data):\s*(.*)$`)
	reEntry      = regexp.MustCompile(`^(\s+)("[^"]*"|'[^']*'|[^\s:#][^:#]*?):(\s+)(\S.*)$`)
)

// File masks one artifact: Kubernetes Secrets' values structurally (YAML
// files), then every known secret value.
func (m *Masker) File(path, text string) string {
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		text = maskSecretManifests(text)
	}
	return m.String(text)
}

// maskSecretManifests hides the values under data: and stringData: in
// every YAML document of kind Secret.
func maskSecretManifests(text string) string {
	if !strings.Contains(text, "Secret") {
		return text
	}
	lines := strings.SplitAfter(text, "\n")
	start := 0
	for i := 0; i <= len(lines); i++ {
		if i == len(lines) || strings.HasPrefix(lines[i], "---") {
			maskDoc(lines[start:i])
			start = i + 1
		}
	}
	return strings.Join(lines, "")
}

func maskDoc(lines []string) {
	secret := false
	for _, l := range lines {
		if reSecretKind.MatchString(strings.TrimRight(l, "\r\n")) {
			secret = true
		}
	}
	if !secret {
		return
	}
	in := false
	entryIndent := -1
	blockIndent := -1 // hiding a block scalar's lines deeper than this
	for i, l := range lines {
		body := strings.TrimRight(l, "\r\n")
		nl := l[len(body):]
		indent := len(body) - len(strings.TrimLeft(body, " "))
		if blockIndent >= 0 {
			if strings.TrimSpace(body) == "" || indent > blockIndent {
				lines[i] = nl // the block's lines go; the count of lines stays
				continue
			}
			blockIndent = -1
		}
		if indent == 0 && strings.TrimSpace(body) != "" {
			in = false
			if mm := reDataKey.FindStringSubmatch(body); mm != nil {
				in = true
				entryIndent = -1
				// A flow mapping on the same line: {a: b}.
				if v := strings.TrimSpace(mm[2]); v != "" && v != "{}" {
					lines[i] = mm[1] + ": {" + HiddenValue + "}" + nl
				}
			}
			continue
		}
		if !in {
			continue
		}
		mm := reEntry.FindStringSubmatch(body)
		if mm == nil {
			continue
		}
		if entryIndent < 0 {
			entryIndent = len(mm[1])
		}
		if len(mm[1]) != entryIndent {
			continue
		}
		v := strings.TrimSpace(mm[4])
		switch {
		case v == `""` || v == "''":
			continue // no value: nothing to hide, and worth seeing
		case strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">"):
			blockIndent = entryIndent
		}
		lines[i] = mm[1] + mm[2] + ":" + mm[3] + HiddenValue + nl
	}
}
