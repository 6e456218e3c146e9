package appconfig

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// maxSettingValue is the longest setting value kept for display.
const maxSettingValue = 512

// DetectKind maps a file path to the kind of configuration it holds, by
// its base name, or by its place for Tomcat context descriptors
// (conf/Catalina/localhost/app.xml). Names are compared without regard to
// case, as .NET applications from Windows often say Web.config.
func DetectKind(p string) (Kind, bool) {
	p = strings.ReplaceAll(p, "\\", "/")
	base := strings.ToLower(path.Base(p))
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	switch {
	case base == "server.xml":
		return KindTomcatServer, true
	case base == "context.xml":
		return KindTomcatContext, true
	case base == "tomcat-users.xml":
		return KindTomcatUsers, true
	case (strings.HasPrefix(stem, "application") || strings.HasPrefix(stem, "bootstrap")) && ext == ".properties":
		return KindSpringProps, true
	case (strings.HasPrefix(stem, "application") || strings.HasPrefix(stem, "bootstrap")) && (ext == ".yml" || ext == ".yaml"):
		return KindSpringYAML, true
	case strings.HasPrefix(stem, "appsettings") && ext == ".json":
		return KindAppSettingsJSON, true
	case base == "web.config", strings.HasPrefix(base, "web.") && ext == ".config",
		base == "app.config", strings.HasSuffix(base, ".exe.config"):
		return KindWebConfig, true
	case ext == ".properties":
		return KindJavaProperties, true
	case ext == ".xml":
		// $CATALINA_BASE/conf/<Engine>/<Host>/<app>.xml; Debian keeps
		// conf in /etc/tomcatN, so accept .../Catalina/<Host>/<app>.xml too.
		dir := path.Dir(p)
		engineDir := path.Dir(dir)
		if path.Base(engineDir) == "Catalina" || path.Base(path.Dir(engineDir)) == "conf" && path.Base(engineDir) != "." {
			return KindTomcatContext, true
		}
	}
	return "", false
}

// displayName is how errors and warnings name a kind of file.
func displayName(k Kind) string {
	switch k {
	case KindTomcatServer:
		return "server.xml"
	case KindTomcatContext:
		return "context.xml"
	case KindTomcatUsers:
		return "tomcat-users.xml"
	case KindSpringProps:
		return "application.properties"
	case KindSpringYAML:
		return "application.yml"
	case KindJavaProperties:
		return "properties file"
	case KindAppSettingsJSON:
		return "appsettings.json"
	case KindWebConfig:
		return "web.config"
	}
	return string(k)
}

// Parse parses data as a configuration file of the given kind. It never
// panics; malformed input gives an error saying what was being parsed and
// where it broke.
func Parse(kind Kind, data []byte) (*File, error) {
	var f *File
	var err error
	switch kind {
	case KindTomcatServer, KindTomcatContext, KindTomcatUsers, KindWebConfig:
		f, err = parseXMLKind(kind, data)
	case KindSpringProps, KindJavaProperties:
		f, err = parsePropertiesKind(kind, data)
	case KindSpringYAML:
		f, err = parseYAMLKind(data)
	case KindAppSettingsJSON:
		f, err = parseAppSettings(data)
	default:
		return nil, fmt.Errorf("parsing configuration: unsupported kind %q", kind)
	}
	if err != nil {
		return nil, err
	}
	f.Kind = kind
	finish(f, data)
	return f, nil
}

// builder accumulates what is learned from one file.
type builder struct {
	f *File
}

// value is one value read from a file: what the application sees and
// the text it was written as.
type value struct {
	text string // decoded
	// raw is the value's own text in the file. When it cannot be found,
	// raw is the decoded text, which the file may spell differently;
	// finish warns when a secret's text is not in the file.
	raw string
}

func plainValue(s string) value { return value{text: s, raw: s} }

// classify runs ClassifySetting on name/v and records the secrets under
// key, translated to the text the file holds.
func (b *builder) classify(key, name string, v value) bool {
	found := ClassifySetting(name, v.text)
	for _, s := range found {
		s.Key = key
		if v.raw != v.text {
			if s.Value == v.text || !strings.Contains(v.raw, s.Value) {
				// The file spells the value with escapes: redact the
				// whole spelling and keep what the application reads.
				s.Value, s.Decoded = v.raw, v.text
			}
		}
		b.f.Secrets = append(b.f.Secrets, s)
	}
	return len(found) > 0
}

// setting classifies and records one key/value, and any endpoint in it.
func (b *builder) setting(key, name string, v value) {
	if b.classify(key, name, v) {
		b.f.Settings = append(b.f.Settings, Setting{Key: key, Secret: true})
	} else {
		b.f.Settings = append(b.f.Settings, Setting{Key: key, Value: truncate(v.text, maxSettingValue)})
	}
	if endpointKey(name) {
		b.endpoint(key, v.text)
	}
}

// endpoint records the endpoint s refers to, if any.
func (b *builder) endpoint(source, s string) {
	if ep, ok := ParseEndpoint(s); ok {
		ep.Source = source
		b.f.Endpoints = append(b.f.Endpoints, ep)
	}
}

// endpointKey reports whether a key's value may name a service the
// application talks to, rather than an address it serves on.
func endpointKey(key string) bool {
	c := canonKey(key)
	if strings.Contains(c, "kestrel") {
		return false
	}
	last := c
	if i := strings.LastIndexAny(c, ".:"); i >= 0 {
		last = c[i+1:]
	}
	switch last {
	case "urls", "aspnetcoreurls", "xmlns", "schemalocation":
		return false
	}
	return true
}

// canonKey folds the spellings Spring's relaxed binding treats alike:
// driver-class-name, driverClassName, driver_class_name.
func canonKey(k string) string {
	var sb strings.Builder
	sb.Grow(len(k))
	for _, r := range strings.ToLower(k) {
		if r != '-' && r != '_' {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func (b *builder) warn(format string, args ...any) {
	b.f.Warnings = append(b.f.Warnings, fmt.Sprintf(format, args...))
}

// finish removes duplicates, makes sure no secret value shows in a
// setting or data source, and warns about secrets whose text cannot be
// found in the file (they would survive redaction).
func finish(f *File, data []byte) {
	seen := map[[2]string]bool{}
	secrets := f.Secrets[:0]
	for _, s := range f.Secrets {
		k := [2]string{s.Key, s.Value}
		if s.Value == "" || seen[k] {
			continue
		}
		seen[k] = true
		secrets = append(secrets, s)
	}
	f.Secrets = secrets
	if len(f.Secrets) == 0 {
		f.Secrets = nil
	}

	var values []string
	for _, s := range f.Secrets {
		values = append(values, s.Value)
		if s.Decoded != "" {
			values = append(values, s.Decoded)
		}
		if !strings.Contains(string(data), s.Value) {
			f.Warnings = append(f.Warnings, fmt.Sprintf("the secret at %s is not written as plain text in the file; redact it by hand", s.Key))
		}
	}
	sort.SliceStable(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for i := range f.Settings {
		f.Settings[i].Value = scrub(f.Settings[i].Value, values)
	}
	for i := range f.DataSources {
		f.DataSources[i].URL = scrub(f.DataSources[i].URL, values)
		f.DataSources[i].Username = scrub(f.DataSources[i].Username, values)
	}

	eps := f.Endpoints[:0]
	seenEP := map[Endpoint]bool{}
	for _, e := range f.Endpoints {
		if seenEP[e] {
			continue
		}
		seenEP[e] = true
		eps = append(eps, e)
	}
	f.Endpoints = eps
	if len(f.Endpoints) == 0 {
		f.Endpoints = nil
	}
}

// scrub hides secret values that happen to occur inside a shown value (a
// database named like its password, a user name equal to the password).
func scrub(s string, secrets []string) string {
	if s == "" {
		return s
	}
	changed := false
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "****")
			changed = true
		}
	}
	if changed {
		for _, v := range secrets {
			if strings.Contains(s, v) {
				return ""
			}
		}
	}
	return s
}

// keyValue is one setting of a flat key/value format (properties, YAML
// and JSON once flattened).
type keyValue struct {
	key string
	val value
	doc int // document index, for multi-document files
}

// addKeyValues records settings, secrets, endpoints and data sources of a
// flattened file.
func (b *builder) addKeyValues(kvs []keyValue) {
	// Group per document: a Spring profile document may define the same
	// data source again.
	for start := 0; start < len(kvs); {
		end := start
		for end < len(kvs) && kvs[end].doc == kvs[start].doc {
			end++
		}
		for _, kv := range kvs[start:end] {
			b.setting(kv.key, kv.key, kv.val)
		}
		b.dataSources(kvs[start:end])
		b.hostPortEndpoints(kvs[start:end])
		start = end
	}
}

// splitKey splits "a.b.c" into "a.b" and "c".
func splitKey(k string) (string, string) {
	i := strings.LastIndexByte(k, '.')
	if i < 0 {
		return "", k
	}
	return k[:i], k[i+1:]
}

// dataSources finds JDBC data sources among Spring-style keys: any
// *.datasource[.name].url or jdbc-url key, and any key whose value is a
// JDBC URL (jdbc.url, hibernate.connection.url, db.url, ...). User name
// and driver come from sibling keys.
func (b *builder) dataSources(kvs []keyValue) {
	byKey := map[string]keyValue{}
	for _, kv := range kvs {
		byKey[canonKey(kv.key)] = kv
	}
	done := map[string]bool{}
	for _, kv := range kvs {
		c := canonKey(kv.key)
		parent, last := splitKey(c)
		isURLKey := last == "url" || last == "jdbcurl"
		dsKey := isURLKey && (strings.Contains(parent, "datasource") || strings.HasSuffix(parent, "r2dbc"))
		jdbc := strings.HasPrefix(strings.ToLower(strings.TrimSpace(kv.val.text)), "jdbc:")
		if !dsKey && !jdbc || strings.TrimSpace(kv.val.text) == "" {
			continue
		}
		name := kv.key
		if isURLKey && parent != "" {
			name, _ = splitKey(kv.key)
		}
		if done[name] {
			continue
		}
		done[name] = true
		ds := DataSource{Name: name, URL: StripCredentials(kv.val.text)}
		for _, s := range []string{"username", "user", "userid", "uid"} {
			if u, ok := byKey[joinKey(parent, s)]; ok && !b.isSecret(u.key) {
				ds.Username = u.val.text
				break
			}
		}
		for _, s := range []string{"driverclassname", "driverclass", "driver"} {
			if d, ok := byKey[joinKey(parent, s)]; ok {
				ds.Driver = d.val.text
				break
			}
		}
		if ep, ok := ParseEndpoint(kv.val.text); ok {
			ep.Source = kv.key
			ds.Endpoint = &ep
		}
		b.f.DataSources = append(b.f.DataSources, ds)
	}
}

func joinKey(parent, s string) string {
	if parent == "" {
		return s
	}
	return parent + "." + s
}

func (b *builder) isSecret(key string) bool {
	for _, s := range b.f.Secrets {
		if s.Key == key {
			return true
		}
	}
	return false
}

// hostPortPrefixes are Spring Boot properties that name a service by
// separate host and port keys.
var hostPortPrefixes = []struct{ prefix, service string }{
	{"spring.redis", "redis"},
	{"spring.data.redis", "redis"},
	{"spring.rabbitmq", "amqp"},
	{"spring.data.mongodb", "mongodb"},
	{"spring.mail", "smtp"},
}

// hostPortEndpoints adds endpoints Spring configures by host and port
// keys, and the members of Kafka and Cassandra server lists.
func (b *builder) hostPortEndpoints(kvs []keyValue) {
	byKey := map[string]keyValue{}
	for _, kv := range kvs {
		byKey[canonKey(kv.key)] = kv
	}
	for _, p := range hostPortPrefixes {
		h, ok := byKey[p.prefix+".host"]
		if !ok {
			continue
		}
		host := strings.TrimSpace(h.val.text)
		if !validHost(host) {
			continue
		}
		ep := Endpoint{Service: p.service, Host: host, Port: defaultPorts[p.service], Source: h.key}
		if port, ok := byKey[p.prefix+".port"]; ok {
			if n := parsePort(port.val.text); n != 0 {
				ep.Port = n
			}
		}
		if p.service == "mongodb" {
			if db, ok := byKey[p.prefix+".database"]; ok {
				ep.Database = db.val.text
			}
		}
		b.f.Endpoints = append(b.f.Endpoints, ep)
	}
	for _, kv := range kvs {
		c := canonKey(kv.key)
		svc := ""
		switch {
		case strings.Contains(c, "bootstrapservers"):
			svc = "kafka"
		case strings.Contains(c, "cassandra.contactpoints"):
			svc = "cassandra"
		default:
			continue
		}
		for _, member := range strings.Split(kv.val.text, ",") {
			host, port, ok := splitHostPort(strings.TrimSpace(member))
			if !ok || !validHost(host) {
				continue
			}
			if port == 0 {
				port = defaultPorts[svc]
			}
			b.f.Endpoints = append(b.f.Endpoints, Endpoint{Service: svc, Host: host, Port: port, Source: kv.key})
		}
	}
}
