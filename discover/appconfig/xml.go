package appconfig

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// xmlElem is an element of a parsed XML file, with the exact text of each
// attribute value so that secrets can be redacted however they are
// escaped.
type xmlElem struct {
	name     string // local name
	attrs    []xmlAttr
	children []*xmlElem
	parent   *xmlElem
	text     value
	line     int
}

type xmlAttr struct {
	name string // local name
	val  value
}

func (e *xmlElem) attr(name string) (string, bool) {
	for _, a := range e.attrs {
		if a.name == name {
			return a.val.text, true
		}
	}
	return "", false
}

func (e *xmlElem) attrValue(name string) (value, bool) {
	for _, a := range e.attrs {
		if a.name == name {
			return a.val, true
		}
	}
	return value{}, false
}

// segment names the element in a key: Name[id] when an attribute
// identifies it among its siblings.
func (e *xmlElem) segment() string {
	ids := []string{"name", "key", "username", "hostName"}
	switch e.name {
	case "Connector":
		ids = append(ids, "port")
	case "Context":
		ids = append(ids, "path")
	}
	for _, id := range ids {
		if v, ok := e.attr(id); ok && v != "" {
			return e.name + "[" + v + "]"
		}
	}
	if v, ok := e.attr("className"); ok && v != "" {
		return e.name + "[" + v[strings.LastIndexByte(v, '.')+1:] + "]"
	}
	return e.name
}

// path is the element's key relative to the root element:
// Service[Catalina]/Connector[8080].
func (e *xmlElem) path() string {
	var segs []string
	for x := e; x != nil && x.parent != nil; x = x.parent {
		segs = append(segs, x.segment())
	}
	for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	return strings.Join(segs, "/")
}

func attrKey(e *xmlElem, attr string) string {
	if p := e.path(); p != "" {
		return p + "/@" + attr
	}
	return "@" + attr
}

func (e *xmlElem) walk(fn func(*xmlElem)) {
	fn(e)
	for _, c := range e.children {
		c.walk(fn)
	}
}

var (
	xmlEncodingRe = regexp.MustCompile(`^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']`)
	xmlEntityRe   = regexp.MustCompile(`<!ENTITY\s+(%\s+)?([A-Za-z_][\w.\-]*)\s+(?:(SYSTEM|PUBLIC)\s+(?:"[^"]*"\s+)?)?(?:"([^"]*)"|'([^']*)')`)
)

// parseXMLTree parses data into a tree. It accepts what Tomcat and .NET
// accept in practice: a UTF-8 or UTF-16 byte order mark, an ISO-8859-1
// declaration, and entities declared in the DOCTYPE (which Tomcat users
// use to include files; those files are not followed, and a warning says
// so).
func parseXMLTree(what string, data []byte, b *builder) (*xmlElem, error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		data = data[3:]
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		data = decodeUTF16(data)
		b.warn("%s is UTF-16; secrets are reported as UTF-8 text and must be redacted after converting the file", what)
	}
	if m := xmlEncodingRe.FindSubmatch(data); m != nil && !utf8.Valid(data) {
		switch strings.ToLower(string(m[1])) {
		case "iso-8859-1", "latin1", "latin-1", "iso8859-1", "windows-1252", "cp1252", "us-ascii", "ascii":
			data = latin1ToUTF8(data)
			b.warn("%s is %s; secrets are reported as UTF-8 text and must be redacted after converting the file", what, m[1])
		}
	}

	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.Entity = map[string]string{}
	// The bytes are UTF-8 by now: read them as they are whatever the
	// declaration says.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }

	var root, cur *xmlElem
	var textStart int64 = -1
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("parsing %s: %w", what, err)
			}
			line, _ := d.InputPos()
			return nil, fmt.Errorf("parsing %s: line %d: %w", what, line, err)
		}
		end := d.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			e := &xmlElem{name: t.Name.Local, parent: cur, line: line}
			e.attrs = matchRawAttrs(t.Attr, data[start:end])
			if cur == nil {
				if root != nil {
					return nil, fmt.Errorf("parsing %s: line %d: a second root element <%s>", what, line, t.Name.Local)
				}
				root = e
			} else {
				if depth(cur) > 500 {
					return nil, fmt.Errorf("parsing %s: line %d: elements nested more than 500 deep", what, line)
				}
				cur.children = append(cur.children, e)
			}
			cur = e
			textStart = -1
		case xml.EndElement:
			if cur != nil {
				cur = cur.parent
			}
			textStart = -1
		case xml.CharData:
			if cur == nil {
				continue
			}
			if textStart < 0 {
				textStart = start
				cur.text = value{}
			}
			cur.text.text += string(t)
			raw := string(data[textStart:end])
			cur.text.raw = raw
			if xmlUnescape(raw) != cur.text.text {
				cur.text.raw = cur.text.text
			}
		case xml.Directive:
			for _, m := range xmlEntityRe.FindAllSubmatch(t, -1) {
				if len(m[1]) > 0 {
					continue // parameter entity
				}
				name := string(m[2])
				if len(m[3]) > 0 {
					d.Entity[name] = ""
					b.warn("%s includes %q through the XML entity &%s;; that file is not read here", what, string(m[4])+string(m[5]), name)
				} else {
					d.Entity[name] = string(m[4]) + string(m[5])
				}
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("parsing %s: no root element", what)
	}
	if cur != nil {
		return nil, fmt.Errorf("parsing %s: element <%s> is not closed", what, cur.name)
	}
	return root, nil
}

func depth(e *xmlElem) int {
	n := 0
	for ; e != nil; e = e.parent {
		n++
	}
	return n
}

// matchRawAttrs pairs decoded attributes with their text in the start tag.
func matchRawAttrs(attrs []xml.Attr, tag []byte) []xmlAttr {
	raws := scanRawAttrs(tag)
	used := make([]bool, len(raws))
	out := make([]xmlAttr, 0, len(attrs))
	for _, a := range attrs {
		v := value{text: a.Value, raw: a.Value}
		for i, r := range raws {
			if used[i] || localName(r.name) != a.Name.Local {
				continue
			}
			used[i] = true
			if xmlUnescape(r.value) == a.Value {
				v.raw = r.value
			}
			break
		}
		out = append(out, xmlAttr{name: a.Name.Local, val: v})
	}
	return out
}

func localName(n string) string {
	if i := strings.IndexByte(n, ':'); i >= 0 {
		return n[i+1:]
	}
	return n
}

type rawAttr struct{ name, value string }

// scanRawAttrs reads name="value" pairs from a start tag as written.
func scanRawAttrs(tag []byte) []rawAttr {
	var out []rawAttr
	i := 1 // past '<'
	for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '>' && tag[i] != '/' {
		i++
	}
	for i < len(tag) {
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] == '>' || tag[i] == '/' {
			break
		}
		ns := i
		for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '=' && tag[i] != '>' {
			i++
		}
		name := string(tag[ns:i])
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			continue
		}
		i++
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || (tag[i] != '"' && tag[i] != '\'') {
			break
		}
		q := tag[i]
		i++
		vs := i
		for i < len(tag) && tag[i] != q {
			i++
		}
		out = append(out, rawAttr{name, string(tag[vs:min(i, len(tag))])})
		i++
	}
	return out
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// xmlUnescape decodes the predefined and numeric character references and
// normalises line ends as an XML parser does. It is used only to check
// that an attribute's text was found correctly.
func xmlUnescape(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if !strings.Contains(s, "&") {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			sb.WriteByte(s[i])
			continue
		}
		semi := strings.IndexByte(s[i:], ';')
		if semi < 0 {
			sb.WriteString(s[i:])
			break
		}
		ent := s[i+1 : i+semi]
		switch {
		case ent == "lt":
			sb.WriteByte('<')
		case ent == "gt":
			sb.WriteByte('>')
		case ent == "amp":
			sb.WriteByte('&')
		case ent == "apos":
			sb.WriteByte('\'')
		case ent == "quot":
			sb.WriteByte('"')
		case strings.HasPrefix(ent, "#x"):
			n, err := strconv.ParseUint(ent[2:], 16, 32)
			if err != nil {
				return "\x00invalid"
			}
			sb.WriteRune(rune(n))
		case strings.HasPrefix(ent, "#"):
			n, err := strconv.ParseUint(ent[1:], 10, 32)
			if err != nil {
				return "\x00invalid"
			}
			sb.WriteRune(rune(n))
		default:
			// a DOCTYPE entity: cannot be checked here
			return "\x00invalid"
		}
		i += semi
	}
	return sb.String()
}

func decodeUTF16(data []byte) []byte {
	be := data[0] == 0xfe
	data = data[2:]
	u := make([]uint16, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		if be {
			u = append(u, uint16(data[i])<<8|uint16(data[i+1]))
		} else {
			u = append(u, uint16(data[i+1])<<8|uint16(data[i]))
		}
	}
	s := string(utf16.Decode(u))
	// The declaration still says UTF-16; the text is UTF-8 now.
	return []byte(s)
}

func latin1ToUTF8(data []byte) []byte {
	var b bytes.Buffer
	for _, c := range data {
		b.WriteRune(rune(c))
	}
	return b.Bytes()
}

// parseXMLKind parses the XML kinds: Tomcat's server.xml, context.xml and
// tomcat-users.xml, and .NET's web.config.
func parseXMLKind(kind Kind, data []byte) (*File, error) {
	what := displayName(kind)
	b := &builder{f: &File{}}
	root, err := parseXMLTree(what, data, b)
	if err != nil {
		return nil, err
	}
	wantRoot := map[Kind]string{
		KindTomcatServer:  "Server",
		KindTomcatContext: "Context",
		KindTomcatUsers:   "tomcat-users",
		KindWebConfig:     "configuration",
	}[kind]
	if root.name != wantRoot {
		return nil, fmt.Errorf("parsing %s: line %d: root element is <%s>, want <%s>", what, root.line, root.name, wantRoot)
	}
	// handled[e][attr] marks attributes a kind-specific rule has already
	// classified, so the generic pass below does not report them twice.
	handled := map[*xmlElem]map[string]bool{}
	mark := func(e *xmlElem, attrs ...string) {
		if handled[e] == nil {
			handled[e] = map[string]bool{}
		}
		for _, a := range attrs {
			handled[e][a] = true
		}
	}
	if kind == KindTomcatServer {
		b.shutdownPort(root)
	}
	if kind == KindTomcatContext {
		for _, a := range []string{"docBase", "path"} {
			if v, ok := root.attr(a); ok {
				b.f.Settings = append(b.f.Settings, Setting{Key: "@" + a, Value: truncate(v, maxSettingValue)})
			}
		}
	}
	// One walk in document order, so settings and endpoints come out in
	// the order of the file.
	root.walk(func(e *xmlElem) {
		switch kind {
		case KindTomcatServer:
			b.tomcatServer(e)
			b.tomcatNaming(e, mark)
		case KindTomcatContext:
			b.tomcatNaming(e, mark)
		case KindTomcatUsers:
			if e.name == "user" {
				if v, ok := e.attr("roles"); ok {
					b.f.Settings = append(b.f.Settings, Setting{Key: attrKey(e, "roles"), Value: truncate(v, maxSettingValue)})
				}
			}
		case KindWebConfig:
			b.webConfig(e, mark)
		}
		// Any attribute anywhere that holds a secret: keystorePass,
		// connectionPassword of a JDBCRealm, an AJP secret, a machineKey,
		// a URL with credentials. And service URLs in attributes named
		// like URLs.
		for _, a := range e.attrs {
			if handled[e][a.name] {
				continue
			}
			key := attrKey(e, a.name)
			if b.classify(key, a.name, a.val) {
				b.f.Settings = append(b.f.Settings, Setting{Key: key, Secret: true})
			}
			ln := strings.ToLower(a.name)
			if (strings.HasSuffix(ln, "url") || strings.HasSuffix(ln, "uri") || strings.HasSuffix(ln, "urls")) && endpointKey(a.name) {
				b.endpoint(key, a.val.text)
			}
		}
	})
	return b.f, nil
}

// shutdownPort records the Server's shutdown port, which defaults to
// 8005; -1 disables it.
func (b *builder) shutdownPort(root *xmlElem) {
	shutdown := "8005"
	if v, ok := root.attr("port"); ok {
		shutdown = strings.TrimSpace(v)
	}
	if shutdown != "-1" {
		port, _ := b.port("Server/@port", shutdown)
		b.f.Connectors = append(b.f.Connectors, Connector{Port: port, ShutdownCmd: true})
	}
}

// tomcatServer reads connectors and the settings worth showing of
// server.xml.
func (b *builder) tomcatServer(e *xmlElem) {
	switch e.name {
	case "Connector":
		c := Connector{Protocol: "HTTP/1.1"} // Tomcat's default
		if v, ok := e.attr("port"); ok {
			c.Port, _ = b.port(attrKey(e, "port"), strings.TrimSpace(v))
		} else {
			b.warn("server.xml: line %d: Connector without a port", e.line)
		}
		if v, ok := e.attr("protocol"); ok && v != "" {
			c.Protocol = v
		}
		c.Address, _ = e.attr("address")
		c.Scheme, _ = e.attr("scheme")
		if v, ok := e.attr("SSLEnabled"); ok {
			c.SSLEnabled = strings.EqualFold(strings.TrimSpace(v), "true")
		}
		if v, ok := e.attr("redirectPort"); ok {
			c.RedirectTo, _ = b.port(attrKey(e, "redirectPort"), strings.TrimSpace(v))
		}
		b.f.Connectors = append(b.f.Connectors, c)
	case "Host":
		for _, a := range []string{"appBase", "xmlBase"} {
			if v, ok := e.attr(a); ok {
				b.f.Settings = append(b.f.Settings, Setting{Key: attrKey(e, a), Value: truncate(v, maxSettingValue)})
			}
		}
	case "Context":
		for _, a := range []string{"path", "docBase"} {
			if v, ok := e.attr(a); ok {
				b.f.Settings = append(b.f.Settings, Setting{Key: attrKey(e, a), Value: truncate(v, maxSettingValue)})
			}
		}
	case "Engine":
		for _, a := range []string{"defaultHost", "jvmRoute"} {
			if v, ok := e.attr(a); ok {
				b.f.Settings = append(b.f.Settings, Setting{Key: attrKey(e, a), Value: truncate(v, maxSettingValue)})
			}
		}
	}
}

// port reads a port attribute. A ${property} reference gives port 0 and
// a warning: its value comes from the command line or catalina.properties.
func (b *builder) port(key, v string) (int, bool) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 65535 {
		return n, true
	}
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
		b.warn("server.xml: %s is the property reference %s; resolve it from -D options or catalina.properties", key, v)
	} else {
		b.warn("server.xml: %s is not a port number", key)
	}
	return 0, false
}

// tomcatNaming reads JNDI resources, environment entries and context
// parameters, wherever they are (GlobalNamingResources, Context).
func (b *builder) tomcatNaming(e *xmlElem, mark func(*xmlElem, ...string)) {
	switch e.name {
	case "Resource":
		name, _ := e.attr("name")
		url, hasURL := e.attr("url")
		driver, hasDriver := e.attr("driverClassName")
		typ, _ := e.attr("type")
		if hasURL || hasDriver || strings.HasSuffix(typ, "DataSource") {
			ds := DataSource{Name: name, Driver: driver, URL: StripCredentials(url)}
			ds.Username, _ = e.attr("username")
			if ds.Username == "" {
				ds.Username, _ = e.attr("user")
			}
			if ep, ok := ParseEndpoint(url); ok {
				ep.Source = attrKey(e, "url")
				ds.Endpoint = &ep
			}
			b.f.DataSources = append(b.f.DataSources, ds)
		}
		// A JavaMail session: mail.smtp.host and mail.smtp.port.
		if host, ok := e.attr("mail.smtp.host"); ok && validHost(strings.TrimSpace(host)) {
			ep := Endpoint{Service: "smtp", Host: strings.TrimSpace(host), Port: 25, Source: attrKey(e, "mail.smtp.host")}
			if p, ok := e.attr("mail.smtp.port"); ok && parsePort(p) != 0 {
				ep.Port = parsePort(p)
			}
			b.f.Endpoints = append(b.f.Endpoints, ep)
		}
	case "Environment", "Parameter":
		name, _ := e.attr("name")
		v, ok := e.attrValue("value")
		if !ok {
			return
		}
		mark(e, "value")
		key := e.path()
		if b.classify(key+"/@value", name, v) {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Secret: true})
		} else {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Value: truncate(v.text, maxSettingValue)})
		}
		if endpointKey(name) {
			b.endpoint(key, v.text)
		}
	}
}

// webConfig reads connection strings, appSettings and applicationSettings
// of a web.config (or app.config).
func (b *builder) webConfig(e *xmlElem, mark func(*xmlElem, ...string)) {
	parent := ""
	if e.parent != nil {
		parent = e.parent.name
	}
	switch {
	case (e.name == "connectionStrings" || e.name == "appSettings") && e.parent != nil:
		for _, a := range []string{"configSource", "file"} {
			if v, ok := e.attr(a); ok && v != "" {
				b.warn("web.config: <%s> reads entries from %q, which is not parsed here", e.name, v)
			}
		}
	case e.name == "add" && parent == "connectionStrings":
		name, _ := e.attr("name")
		cs, ok := e.attrValue("connectionString")
		if !ok {
			return
		}
		provider, _ := e.attr("providerName")
		mark(e, "connectionString")
		key := attrKey(e, "connectionString")
		// The entry's name is a label, not a hint: only the value tells.
		if b.classify(key, "connectionString", cs) {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Secret: true})
		} else {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Value: truncate(cs.text, maxSettingValue)})
		}
		b.connectionString(name, key, cs.text, provider)
		if ds := b.f.DataSources[len(b.f.DataSources)-1]; ds.Endpoint != nil {
			b.f.Endpoints = append(b.f.Endpoints, *ds.Endpoint)
		}
	case e.name == "add" && parent == "appSettings":
		name, _ := e.attr("key")
		v, ok := e.attrValue("value")
		if !ok {
			return
		}
		mark(e, "value")
		key := attrKey(e, "value")
		if b.classify(key, name, v) {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Secret: true})
		} else {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Value: truncate(v.text, maxSettingValue)})
		}
		if endpointKey(name) {
			b.endpoint(key, v.text)
		}
	case e.name == "value" && parent == "setting":
		// applicationSettings/<section>/setting[name]/value
		name, _ := e.parent.attr("name")
		key := e.path()
		if b.classify(key, name, e.text) {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Secret: true})
		} else {
			b.f.Settings = append(b.f.Settings, Setting{Key: key, Value: truncate(e.text.text, maxSettingValue)})
		}
		if endpointKey(name) {
			b.endpoint(key, e.text.text)
		}
	case e.name == "network" && parent == "smtp":
		// system.net/mailSettings/smtp/network
		if host, ok := e.attr("host"); ok && validHost(strings.TrimSpace(host)) {
			ep := Endpoint{Service: "smtp", Host: strings.TrimSpace(host), Port: 25, Source: attrKey(e, "host")}
			if p, ok := e.attr("port"); ok && parsePort(p) != 0 {
				ep.Port = parsePort(p)
			}
			b.f.Endpoints = append(b.f.Endpoints, ep)
		}
	}
}
