package appconfig

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Secret reasons. They are stable strings: the caller records them next to
// each value in the secrets file.
const (
	ReasonName             = "name"
	ReasonURLCredentials   = "url-credentials"
	ReasonConnStringPasswd = "connection-string-password"
	ReasonPrivateKey       = "private-key"
	ReasonAWSAccessKey     = "aws-access-key"
	ReasonAWSSecretKey     = "aws-secret-key"
	ReasonGitHubToken      = "github-token"
	ReasonGitLabToken      = "gitlab-token"
	ReasonSlackToken       = "slack-token"
	ReasonSlackWebhook     = "slack-webhook"
	ReasonJWT              = "jwt"
	ReasonGoogleAPIKey     = "google-api-key"
	ReasonStripeKey        = "stripe-key"
	ReasonNPMToken         = "npm-token"
)

// ClassifySetting decides whether a key/value pair (an environment
// variable, a -D system property, a configuration key) holds a secret, by
// the key's name and by the value's shape. It returns the secrets found,
// usually none or one, each with Key set to key.
//
// A secret found by name covers the whole value. Credentials inside a URL,
// a JDBC URL or a connection string also cover the whole value (or the
// whole URL when it is embedded in a longer value such as JAVA_OPTS),
// because such a value has to be supplied whole at deploy time. Tokens and
// private keys found inside a longer value cover only their own text.
//
// Values that only refer to a secret (${DB_PASSWORD}, #{...}, $VAR,
// %VAR%) are not secrets.
func ClassifySetting(key, value string) []Secret {
	if value == "" || isReference(value) {
		return nil
	}
	if secretName(key, value) {
		return []Secret{{Key: key, Value: value, Reason: ReasonName}}
	}
	var found []valueRange
	found = append(found, urlCredentialRanges(value)...)
	found = append(found, passwordParamRanges(value)...)
	found = append(found, embeddedFlagRanges(value)...)
	for _, p := range tokenPatterns {
		for _, m := range p.re.FindAllStringIndex(value, -1) {
			found = append(found, valueRange{m[0], m[1], p.reason})
		}
	}
	if awsName(key) {
		if t := strings.TrimSpace(value); awsSecretKeyRe.MatchString(t) && mixedClasses(t) {
			i := strings.Index(value, t)
			found = append(found, valueRange{i, i + len(t), ReasonAWSSecretKey})
		}
	}
	return mergeRanges(key, value, found)
}

// valueRange is a secret's byte range inside a value.
type valueRange struct {
	start, end int
	reason     string
}

// mergeRanges turns ranges into secrets, folding overlapping ranges into
// one so that redacting one never leaves part of another behind.
func mergeRanges(key, value string, rs []valueRange) []Secret {
	if len(rs) == 0 {
		return nil
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].start != rs[j].start {
			return rs[i].start < rs[j].start
		}
		return rs[i].end > rs[j].end
	})
	var merged []valueRange
	for _, r := range rs {
		if r.end <= r.start {
			continue
		}
		if n := len(merged); n > 0 && r.start < merged[n-1].end {
			if r.end > merged[n-1].end {
				merged[n-1].end = r.end
			}
			continue
		}
		merged = append(merged, r)
	}
	var out []Secret
	seen := map[string]bool{}
	for _, r := range merged {
		v := value[r.start:r.end]
		if seen[v] || isReference(v) {
			continue
		}
		seen[v] = true
		out = append(out, Secret{Key: key, Value: v, Reason: r.reason})
	}
	return out
}

// isReference reports whether a value only points at a secret kept
// elsewhere: a Spring or Tomcat placeholder without a default, SpEL, a
// shell or Windows environment reference.
func isReference(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return true
	}
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") && strings.Count(v, "}") == 1 {
		inner := v[2 : len(v)-1]
		// ${NAME:default} and ${NAME:-default} carry a literal default,
		// which is a secret of its own.
		if i := strings.IndexByte(inner, ':'); i >= 0 {
			def := strings.TrimPrefix(inner[i+1:], "-")
			return def == ""
		}
		return true
	}
	if strings.HasPrefix(v, "#{") && strings.HasSuffix(v, "}") {
		return true
	}
	if envRefRe.MatchString(v) {
		return true
	}
	return false
}

var envRefRe = regexp.MustCompile(`^(?:\$[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%)$`)

// Words that make a key name a secret when they end the name (or are
// followed only by words in secretTail).
var strongWords = map[string]bool{
	"password": true, "passwords": true, "passwd": true, "pwd": true,
	"pass": true, "passphrase": true, "passcode": true,
	"secret": true, "token": true, "tokens": true,
	"credential": true, "credentials": true,
	"apikey": true, "apikeys": true, "accesskey": true, "secretkey": true,
	"privatekey": true, "clientsecret": true, "keypass": true, "storepass": true,
	"keystorepass": true, "truststorepass": true, "keypassword": true,
	"storepassword": true, "accesstoken": true, "refreshtoken": true,
	"authtoken": true, "bearertoken": true, "sastoken": true,
}

// Words that make "<word> key" a secret name (API_KEY, signingKey, ...).
var keyQualifiers = map[string]bool{
	"api": true, "access": true, "secret": true, "private": true,
	"encryption": true, "decryption": true, "validation": true,
	"signing": true, "master": true, "client": true, "session": true,
	"hmac": true, "crypto": true, "cipher": true, "jwt": true, "shared": true,
	"subscription": true, "account": true, "storage": true,
}

// Words that may follow a secret word without changing what the key holds
// (DB_PASSWORD_VALUE, password.0), unlike PASSWORD_FILE or TOKEN_URL.
var secretTail = map[string]bool{
	"value": true, "val": true, "b64": true, "base64": true, "enc": true,
	"encrypted": true, "encoded": true, "hash": true, "hashed": true,
	"str": true, "string": true, "plain": true, "plaintext": true, "raw": true,
	"txt": true, "text": true, "hex": true, "data": true,
}

// Values that a key named ...AUTH or AUTHORIZATION holds when it selects a
// mechanism rather than carrying credentials (Tomcat's auth="Container").
var authModes = map[string]bool{
	"container": true, "application": true, "basic": true, "digest": true,
	"bearer": true, "none": true, "form": true, "client-cert": true,
	"oauth": true, "oauth2": true, "ntlm": true, "kerberos": true,
	"negotiate": true, "jwt": true, "ldap": true, "true": true, "false": true,
	"yes": true, "no": true, "on": true, "off": true, "enabled": true,
	"disabled": true, "required": true, "optional": true, "sasl": true,
	"plain": true, "scram-sha-256": true, "scram-sha-512": true, "md5": true,
	"trust": true, "password": true, "anonymous": true, "cert": true,
	"saml": true, "oidc": true, "token": true, "apikey": true, "api-key": true,
}

// secretName reports whether a key's name says it holds a secret. Words
// are split at _ . - : / and at camelCase humps, so KEYBOARD_LAYOUT,
// TOKENIZER_MODE and passwordEncoder do not match while DB_PASSWORD,
// dbPassword, keystorePass and X-Api-Key do.
func secretName(key, value string) bool {
	switch strings.ToUpper(key) {
	case "PWD", "OLDPWD": // the shell's working directory
		return false
	}
	words := splitWords(key)
	for i := 0; i+1 < len(words); i++ {
		// ConnectionStrings:Auth names a connection string: its value
		// says whether it holds a password.
		if words[i] == "connection" && (words[i+1] == "strings" || words[i+1] == "string") {
			return false
		}
	}
	for i, w := range words {
		hint := ""
		switch {
		case strongWords[w]:
			hint = w
		case (w == "key" || w == "keys") && i > 0 && keyQualifiers[words[i-1]]:
			hint = w
		case w == "auth" || w == "authorization":
			hint = w
		}
		if hint == "" || !onlyTail(words[i+1:]) {
			continue
		}
		switch hint {
		case "auth", "authorization":
			t := strings.ToLower(strings.TrimSpace(value))
			if authModes[t] || isNumber(t) {
				continue
			}
			// AUTH_SERVER=https://sso.example.com, AUTH_DB=Server=...:
			// an address; its credentials, if any, are found by value.
			if _, ok := ParseEndpoint(value); ok {
				continue
			}
		case "credential", "credentials":
			// GOOGLE_APPLICATION_CREDENTIALS and friends name a file.
			if looksLikePath(value) {
				continue
			}
		}
		return true
	}
	return false
}

func onlyTail(words []string) bool {
	for _, w := range words {
		if !secretTail[w] && !isNumber(w) {
			return false
		}
	}
	return true
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func looksLikePath(v string) bool {
	v = strings.TrimSpace(v)
	return (strings.HasPrefix(v, "/") || strings.HasPrefix(v, "file:") || strings.HasPrefix(v, "classpath:")) &&
		!strings.ContainsAny(v, " \t\n")
}

// splitWords splits a key into lower-case words at punctuation and at
// camelCase boundaries ("DBPassword" -> db, password; "apiKey" -> api, key).
func splitWords(key string) []string {
	var words []string
	runes := []rune(key)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, strings.ToLower(string(runes[start:end])))
		}
		start = -1
	}
	for i, r := range runes {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := runes[i-1]
		switch {
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush(i)
			start = i
		case unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(runes) && unicode.IsLower(runes[i+1]):
			// the P in "DBPassword" starts a new word
			flush(i)
			start = i
		case unicode.IsDigit(r) != unicode.IsDigit(prev):
			flush(i)
			start = i
		}
	}
	flush(len(runes))
	return words
}

func awsName(key string) bool {
	for _, w := range splitWords(key) {
		if w == "aws" {
			return true
		}
	}
	return false
}

var awsSecretKeyRe = regexp.MustCompile(`^[A-Za-z0-9/+]{40}$`)

func mixedClasses(s string) bool {
	var upper, lower, digit bool
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		}
	}
	return upper && lower && digit
}

var tokenPatterns = []struct {
	re     *regexp.Regexp
	reason string
}{
	{regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)`), ReasonPrivateKey},
	{regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b`), ReasonAWSAccessKey},
	{regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})\b`), ReasonGitHubToken},
	{regexp.MustCompile(`\bglpat-[0-9A-Za-z_-]{20,}`), ReasonGitLabToken},
	{regexp.MustCompile(`\bxox[abposre]-[A-Za-z0-9-]{10,250}`), ReasonSlackToken},
	{regexp.MustCompile(`https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+`), ReasonSlackWebhook},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`), ReasonJWT},
	{regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`), ReasonGoogleAPIKey},
	{regexp.MustCompile(`\b[sr]k_live_[0-9A-Za-z]{20,}\b`), ReasonStripeKey},
	{regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`), ReasonNPMToken},
}

// urlCreds is a URL with userinfo ("scheme://user:password@host") found
// in a value: the range of the URL (to the next white space or quote) and
// the range of the userinfo with its '@'.
type urlCreds struct {
	urlStart, urlEnd   int
	infoStart, infoEnd int // userinfo and its '@'
	password           string
	hasPassword        bool
}

var schemeRe = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://`)

// findURLCredentials finds every URL with userinfo in s.
func findURLCredentials(s string) []urlCreds {
	var out []urlCreds
	for _, m := range schemeRe.FindAllStringIndex(s, -1) {
		authStart := m[1]
		end := authStart
		for end < len(s) && !strings.ContainsRune(" \t\r\n\"'<>", rune(s[end])) {
			end++
		}
		// The authority ends at the first / ? # after the scheme; a
		// password with an unencoded slash is not recognised.
		authEnd := authStart
		for authEnd < end && !strings.ContainsRune("/?#", rune(s[authEnd])) {
			authEnd++
		}
		at := strings.LastIndexByte(s[authStart:authEnd], '@')
		if at < 0 {
			continue
		}
		info := s[authStart : authStart+at]
		c := urlCreds{urlStart: m[0], urlEnd: end, infoStart: authStart, infoEnd: authStart + at + 1}
		if i := strings.IndexByte(info, ':'); i >= 0 {
			c.password, c.hasPassword = info[i+1:], true
		}
		// "jdbc:" and "r2dbc:" prefixes belong to the URL.
		for _, p := range []string{"jdbc:", "r2dbc:", "r2dbc:pool:"} {
			if c.urlStart >= len(p) && strings.EqualFold(s[c.urlStart-len(p):c.urlStart], p) {
				c.urlStart -= len(p)
			}
		}
		out = append(out, c)
	}
	return out
}

func urlCredentialRanges(s string) []valueRange {
	var out []valueRange
	for _, c := range findURLCredentials(s) {
		if !c.hasPassword || c.password == "" || isReference(c.password) {
			continue
		}
		out = append(out, wholeOrToken(s, c.urlStart, c.urlEnd, ReasonURLCredentials))
	}
	for _, m := range oracleUserPassRe.FindAllStringSubmatchIndex(s, -1) {
		pw := s[m[4]:m[5]]
		if pw == "" || isReference(pw) {
			continue
		}
		end := m[1]
		for end < len(s) && !strings.ContainsRune(" \t\r\n\"'", rune(s[end])) {
			end++
		}
		out = append(out, wholeOrToken(s, m[0], end, ReasonURLCredentials))
	}
	return out
}

// jdbc:oracle:thin:user/password@host...
var oracleUserPassRe = regexp.MustCompile(`(?i)jdbc:oracle:[a-z0-9]+:([^@/\s:]+)/([^@\s]*)@`)

// wholeOrToken returns the range [start,end) when the value is one URL or
// connection string with surrounding text that is part of it, and the
// whole value otherwise. A URL inside JAVA_OPTS ("-Ddb.url=jdbc:...") is
// reported alone so that the rest of the options stay readable.
func wholeOrToken(s string, start, end int, reason string) valueRange {
	if !strings.ContainsAny(s, " \t\r\n") {
		return valueRange{0, len(s), reason}
	}
	return valueRange{start, end, reason}
}

// passwordParam is one password=value pair in a JDBC URL, connection
// string or similar (JAAS config, StackExchange.Redis options).
type passwordParam struct {
	start, end int // the pair, key to end of value
	vStart     int // start of value (after a quote, if quoted)
	vEnd       int
	delimEnd   int // end including one following delimiter, if any
}

// findPasswordParams finds password=, pwd=, passwd= pairs at a parameter
// boundary: the start of the string or after ; & ? , ( or whitespace.
func findPasswordParams(s string) []passwordParam {
	var out []passwordParam
	lower := asciiLower(s) // same length as s, unlike strings.ToLower
	for i := 0; i < len(s); {
		j := -1
		var word string
		for _, w := range []string{"password", "passwd", "pwd"} {
			if k := strings.Index(lower[i:], w); k >= 0 && (j < 0 || i+k < j) {
				j, word = i+k, w
			}
		}
		if j < 0 {
			break
		}
		next := j + len(word)
		i = next
		// The pair starts at a boundary: the start of the string or a
		// delimiter, possibly followed by spaces ("Server=db; Pwd = x"), or
		// white space between pairs (JAAS: username="u" password="p").
		b := j
		for b > 0 && (s[b-1] == ' ' || s[b-1] == '\t') {
			b--
		}
		var before byte = ';'
		switch {
		case b > 0 && strings.ContainsRune(";&?,(", rune(s[b-1])):
			before = s[b-1]
		case b > 0 && b < j:
			before = ' '
		case b > 0 && strings.ContainsRune("\r\n\"'", rune(s[b-1])):
			before = ' '
		case b > 0:
			continue
		}
		k := next
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		if k >= len(s) || s[k] != '=' {
			continue
		}
		k++
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		p := passwordParam{start: j, vStart: k}
		if before != ' ' {
			p.start = b
		}
		if k < len(s) && (s[k] == '"' || s[k] == '\'') {
			q := s[k]
			p.vStart = k + 1
			e := p.vStart
			for e < len(s) {
				if s[e] == q {
					if e+1 < len(s) && s[e+1] == q { // doubled quote escapes
						e += 2
						continue
					}
					break
				}
				e++
			}
			p.vEnd = e
			p.end = min(e+1, len(s))
		} else {
			stop := ";"
			switch before {
			case '&', '?':
				stop = "&;#"
			case ',':
				stop = ",;"
			case ' ', '\t', '\r', '\n', '(':
				stop = "; \t\r\n)"
			}
			e := k
			for e < len(s) && !strings.ContainsRune(stop, rune(s[e])) {
				e++
			}
			// trailing spaces are not part of an ADO.NET value
			v := e
			for v > k && (s[v-1] == ' ' || s[v-1] == '\t') {
				v--
			}
			p.vEnd, p.end = v, e
		}
		p.delimEnd = p.end
		if p.delimEnd < len(s) && strings.ContainsRune(";&,", rune(s[p.delimEnd])) {
			p.delimEnd++
		}
		out = append(out, p)
		i = max(p.end, next)
	}
	return out
}

func passwordParamRanges(s string) []valueRange {
	var out []valueRange
	for _, p := range findPasswordParams(s) {
		pw := s[p.vStart:p.vEnd]
		if pw == "" || isReference(pw) {
			continue
		}
		// Inside JAVA_OPTS-like values, report only the URL holding it.
		start, end := tokenAround(s, p.start)
		tok := s[start:end]
		if eq := strings.IndexByte(tok, '='); (strings.HasPrefix(tok, "-D") || strings.HasPrefix(tok, "--")) && eq > 0 {
			start += eq + 1
			tok = tok[eq+1:]
		}
		if strings.HasPrefix(strings.ToLower(tok), "jdbc:") || strings.Contains(tok, "://") {
			out = append(out, wholeOrToken(s, start, end, ReasonConnStringPasswd))
			continue
		}
		out = append(out, valueRange{0, len(s), ReasonConnStringPasswd})
	}
	return out
}

// tokenAround returns the whitespace-delimited token containing s[i].
func tokenAround(s string, i int) (int, int) {
	start := strings.LastIndexAny(s[:i], " \t\r\n") + 1
	end := i + strings.IndexAny(s[i:], " \t\r\n")
	if end < i {
		end = len(s)
	}
	return start, end
}

// -Dname=value and --name=value options inside a longer value such as
// JAVA_OPTS or CATALINA_OPTS.
var embeddedFlagRe = regexp.MustCompile(`(?:^|\s)(?:-D|--)([A-Za-z0-9_.\-\[\]]+)=("[^"]*"|'[^']*'|\S*)`)

func embeddedFlagRanges(s string) []valueRange {
	var out []valueRange
	for _, m := range embeddedFlagRe.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		vs, ve := m[4], m[5]
		if ve-vs >= 2 && (s[vs] == '"' || s[vs] == '\'') {
			vs, ve = vs+1, ve-1
		}
		v := s[vs:ve]
		if v == "" || isReference(v) || !secretName(name, v) {
			continue
		}
		out = append(out, valueRange{vs, ve, ReasonName})
	}
	return out
}

// StripCredentials removes credentials from a URL, JDBC URL or connection
// string so that it can be shown: the userinfo of URLs, user/password@ of
// Oracle thin URLs, and password parameters.
func StripCredentials(s string) string {
	creds := findURLCredentials(s)
	for i := len(creds) - 1; i >= 0; i-- {
		c := creds[i]
		s = s[:c.infoStart] + s[c.infoEnd:]
	}
	s = oracleUserPassRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := oracleUserPassRe.FindStringSubmatchIndex(m)
		return m[:sub[2]] + "@"
	})
	// Remove the pairs with one delimiter each. Neighbouring pairs touch,
	// so merge their ranges first.
	type cut struct {
		start, end int
		trailing   bool // the last pair took the delimiter after it
	}
	var cuts []cut
	for _, p := range findPasswordParams(s) { // in order of start
		c := cut{p.start, p.delimEnd, p.delimEnd > p.end}
		if n := len(cuts); n > 0 && c.start <= cuts[n-1].end {
			cuts[n-1].end = max(cuts[n-1].end, c.end)
			cuts[n-1].trailing = c.trailing
			continue
		}
		cuts = append(cuts, c)
	}
	if len(cuts) == 0 {
		return s
	}
	if last := &cuts[len(cuts)-1]; last.end >= len(s) && !last.trailing && last.start > 0 && strings.ContainsRune(";&,", rune(s[last.start-1])) {
		// the pairs end the string: drop the delimiter before them
		last.start--
	}
	var sb strings.Builder
	pos := 0
	for _, c := range cuts {
		if c.start > pos {
			sb.WriteString(s[pos:c.start])
		}
		pos = max(pos, c.end)
	}
	sb.WriteString(s[min(pos, len(s)):])
	return sb.String()
}

// Redact returns data with every occurrence of each secret's Value replaced
// by placeholder(secret). Longer values are matched first, so a secret that
// contains another is replaced whole. Empty values are ignored. If a
// replacement forms a secret value again with its neighbours, the pass is
// repeated; should that not settle, the remaining occurrences are removed,
// so the result never contains a secret value that no placeholder contains.
func Redact(data []byte, secrets []Secret, placeholder func(Secret) string) []byte {
	var ss []Secret
	seen := map[string]bool{}
	for _, s := range secrets {
		if s.Value == "" || seen[s.Value] {
			continue
		}
		seen[s.Value] = true
		ss = append(ss, s)
	}
	if len(ss) == 0 {
		return append([]byte(nil), data...)
	}
	sort.SliceStable(ss, func(i, j int) bool { return len(ss[i].Value) > len(ss[j].Value) })
	repl := make([][]byte, len(ss))
	for i, s := range ss {
		repl[i] = []byte(placeholder(s))
	}
	out := redactPass(data, ss, repl)

	// Later passes only look for values that no placeholder contains:
	// the others would be found again inside the placeholders.
	var rest []Secret
	var restRepl [][]byte
	for i, s := range ss {
		inPlaceholder := false
		for _, r := range repl {
			if bytes.Contains(r, []byte(s.Value)) {
				inPlaceholder = true
				break
			}
		}
		if !inPlaceholder {
			rest = append(rest, s)
			restRepl = append(restRepl, repl[i])
		}
	}
	for pass := 0; pass < 8 && containsAny(out, rest); pass++ {
		out = redactPass(out, rest, restRepl)
	}
	empty := make([][]byte, len(rest))
	for containsAny(out, rest) {
		// Removal shrinks the data at every match, so this ends.
		out = redactPass(out, rest, empty)
	}
	return out
}

func containsAny(data []byte, ss []Secret) bool {
	for _, s := range ss {
		if bytes.Contains(data, []byte(s.Value)) {
			return true
		}
	}
	return false
}

// redactPass scans data once, left to right, replacing at each position
// the longest secret value that starts there.
func redactPass(data []byte, ss []Secret, repl [][]byte) []byte {
	var first [256]bool
	for _, s := range ss {
		first[s.Value[0]] = true
	}
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		if first[data[i]] {
			matched := false
			for k, s := range ss {
				if bytes.HasPrefix(data[i:], []byte(s.Value)) {
					out = append(out, repl[k]...)
					i += len(s.Value)
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		out = append(out, data[i])
		i++
	}
	return out
}

// truncate shortens a setting value for display.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// asciiLower lower-cases ASCII letters only, so that indexes into the
// result are indexes into s (strings.ToLower changes the length of
// invalid UTF-8 and of letters such as the Kelvin sign).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
