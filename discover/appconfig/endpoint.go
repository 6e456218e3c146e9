package appconfig

import (
	"net"
	"regexp"
	"strconv"
	"strings"
)

var portServices = map[int]string{
	5432:  "postgresql",
	3306:  "mysql",
	1521:  "oracle",
	1433:  "sqlserver",
	50000: "db2",
	6379:  "redis",
	27017: "mongodb",
	5672:  "amqp",
	5671:  "amqps",
	9092:  "kafka",
	11211: "memcached",
	389:   "ldap",
	636:   "ldaps",
	9200:  "elasticsearch",
	25:    "smtp",
	465:   "smtp",
	587:   "smtp",
	80:    "http",
	443:   "https",
	61616: "activemq",
	2181:  "zookeeper",
	8500:  "consul",
	9042:  "cassandra",
}

// ServiceForPort labels a well-known port, or returns "" when the port is
// not one hoist knows.
func ServiceForPort(port int) string {
	return portServices[port]
}

var defaultPorts = map[string]int{
	"postgresql":    5432,
	"mysql":         3306,
	"mariadb":       3306,
	"oracle":        1521,
	"sqlserver":     1433,
	"db2":           50000,
	"redis":         6379,
	"mongodb":       27017,
	"amqp":          5672,
	"amqps":         5671,
	"kafka":         9092,
	"memcached":     11211,
	"ldap":          389,
	"ldaps":         636,
	"elasticsearch": 9200,
	"smtp":          25,
	"http":          80,
	"https":         443,
	"activemq":      61616,
	"zookeeper":     2181,
	"consul":        8500,
	"cassandra":     9042,
	"h2":            9092,
	"derby":         1527,
	"hsqldb":        9001,
	"sybase":        5000,
	"nats":          4222,
	"ftp":           21,
	"sftp":          22,
	"redshift":      5439,
	"clickhouse":    8123,
}

// urlSchemes maps URL schemes to services.
var urlSchemes = map[string]string{
	"postgres":       "postgresql",
	"postgresql":     "postgresql",
	"mysql":          "mysql",
	"mariadb":        "mariadb",
	"sqlserver":      "sqlserver",
	"mssql":          "sqlserver",
	"oracle":         "oracle",
	"redis":          "redis",
	"rediss":         "redis",
	"mongodb":        "mongodb",
	"mongodb+srv":    "mongodb",
	"amqp":           "amqp",
	"amqps":          "amqps",
	"http":           "http",
	"https":          "https",
	"ldap":           "ldap",
	"ldaps":          "ldaps",
	"smtp":           "smtp",
	"smtps":          "smtp",
	"kafka":          "kafka",
	"plaintext":      "kafka",
	"sasl_plaintext": "kafka",
	"sasl_ssl":       "kafka",
	"memcached":      "memcached",
	"nats":           "nats",
	"ftp":            "ftp",
	"sftp":           "sftp",
	"h2":             "h2",
	// ActiveMQ and plain socket URLs: the port says what it is.
	"tcp": "",
	"ssl": "",
	"nio": "",
}

// ParseEndpoint recognises a reference to an external service: a JDBC URL,
// a URL with a known scheme, an ADO.NET connection string, or a bare
// host:port whose port is well known (redis:6379, kafka1:9092,kafka2:9092).
// Missing ports are filled with the service's default. Source is left for
// the caller.
func ParseEndpoint(s string) (Endpoint, bool) {
	return parseEndpoint(s, "")
}

// parseEndpoint is ParseEndpoint with a provider hint for connection
// strings (web.config's providerName).
func parseEndpoint(s, provider string) (Endpoint, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 4096 {
		return Endpoint{}, false
	}
	lower := asciiLower(s)
	var ep Endpoint
	var ok bool
	switch {
	case strings.HasPrefix(lower, "jdbc:"):
		ep, ok = parseJDBC(s[len("jdbc:"):])
	case strings.HasPrefix(lower, "r2dbc:"):
		rest := s[len("r2dbc:"):]
		if strings.HasPrefix(asciiLower(rest), "pool:") {
			rest = rest[len("pool:"):]
		}
		ep, ok = parseURL(rest)
	case strings.HasPrefix(lower, "failover:"):
		inner := strings.TrimPrefix(s[len("failover:"):], "(")
		if i := strings.IndexAny(inner, ",)"); i >= 0 {
			inner = inner[:i]
		}
		ep, ok = parseURL(inner)
	case schemePrefixRe.MatchString(s):
		ep, ok = parseURL(s)
	default:
		if strings.Contains(s, "=") {
			ep, ok = parseConnString(s, provider)
		}
		if !ok {
			// StackExchange.Redis style "redis:6379,password=...,ssl=false"
			ep, ok = parseHostPortList(s)
		}
	}
	if !ok || ep.Host == "" {
		return Endpoint{}, false
	}
	if ep.Port == 0 && !strings.HasPrefix(lower, "mongodb+srv:") {
		ep.Port = defaultPorts[ep.Service]
	}
	if ep.Service == "" {
		ep.Service = "unknown"
	}
	return ep, true
}

var schemePrefixRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-_]*://`)

// parseURL parses scheme://[userinfo@]host[:port][,host2...][/path][?query].
func parseURL(s string) (Endpoint, bool) {
	i := strings.Index(s, "://")
	if i < 0 {
		return Endpoint{}, false
	}
	scheme := strings.ToLower(s[:i])
	service, known := urlSchemes[scheme]
	if !known {
		return Endpoint{}, false
	}
	rest := s[i+3:]
	authEnd := strings.IndexAny(rest, "/?#")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	auth, path := rest[:authEnd], rest[authEnd:]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[at+1:]
	}
	if c := strings.IndexByte(auth, ','); c >= 0 {
		auth = auth[:c]
	}
	host, port, ok := splitHostPort(auth)
	if !ok || !validHost(host) {
		return Endpoint{}, false
	}
	switch service {
	case "":
		service = ServiceForPort(port)
	case "http", "https":
		// Elasticsearch, Consul and friends speak HTTP on their own port.
		if svc := ServiceForPort(port); svc != "" && svc != "http" && svc != "https" {
			service = svc
		}
	}
	ep := Endpoint{Service: service, Host: host, Port: port}
	switch service {
	case "postgresql", "mysql", "mariadb", "sqlserver", "mongodb", "db2", "oracle", "h2":
		ep.Database = firstPathSegment(path)
	}
	return ep, true
}

func firstPathSegment(path string) string {
	if i := strings.IndexAny(path, "?#;"); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	return path
}

// splitHostPort splits host[:port] or [v6]:port. A port that is not a
// number (a ${placeholder}) counts as absent.
func splitHostPort(s string) (string, int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0, false
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, false
		}
		host, rest := s[1:end], s[end+1:]
		if strings.HasPrefix(rest, ":") {
			return host, parsePort(rest[1:]), true
		}
		return host, 0, rest == ""
	}
	// More than one colon without brackets: an IPv6 address alone.
	if strings.Count(s, ":") > 1 {
		if net.ParseIP(s) != nil {
			return s, 0, true
		}
		// host:${port:5432} placeholders
		if i := strings.IndexByte(s, ':'); i >= 0 && !strings.HasPrefix(s, "${") {
			return s[:i], parsePort(s[i+1:]), true
		}
		return s, 0, true
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], parsePort(s[i+1:]), true
	}
	return s, 0, true
}

func parsePort(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

// validHost accepts host names, IP addresses and ${placeholders}, but not
// the wildcard addresses a server listens on.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	switch h {
	case "*", "+", "0.0.0.0", "::", "[::]":
		return false
	}
	if strings.HasPrefix(h, "${") {
		return true
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// hasLetter tells host names from numbers and times ("12:30").
func hasLetter(h string) bool {
	for _, r := range h {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return true
		}
	}
	return false
}

// parseHostPortList recognises "host:port" and "h1:p1,h2:p2" when the port
// is well known. HTTP ports are left out: "localhost:80" says too little.
func parseHostPortList(s string) (Endpoint, bool) {
	first := s
	if i := strings.IndexByte(s, ','); i >= 0 {
		first = s[:i]
	}
	host, port, ok := splitHostPort(first)
	if !ok || port == 0 || !validHost(host) || strings.HasPrefix(host, "${") {
		return Endpoint{}, false
	}
	if !hasLetter(host) && net.ParseIP(host) == nil {
		return Endpoint{}, false
	}
	svc := ServiceForPort(port)
	if svc == "" || svc == "http" || svc == "https" {
		return Endpoint{}, false
	}
	return Endpoint{Service: svc, Host: host, Port: port}, true
}

// parseJDBC parses what follows "jdbc:".
func parseJDBC(s string) (Endpoint, bool) {
	sub := s
	rest := ""
	if i := strings.IndexByte(s, ':'); i >= 0 {
		sub, rest = s[:i], s[i+1:]
	}
	sub = strings.ToLower(sub)
	switch {
	case sub == "postgresql" || sub == "pgsql":
		if !strings.HasPrefix(rest, "//") {
			// jdbc:postgresql:dbname connects to localhost
			db := firstPathSegment(rest)
			if db == "" {
				return Endpoint{}, false
			}
			return Endpoint{Service: "postgresql", Host: "localhost", Database: db}, true
		}
		return jdbcAuthority("postgresql", rest)
	case sub == "mysql" || sub == "mariadb" || strings.HasPrefix(sub, "mysql+"):
		svc := "mysql"
		if sub == "mariadb" {
			svc = "mariadb"
		}
		// jdbc:mysql:loadbalance://, jdbc:mariadb:replication://, ...
		if !strings.HasPrefix(rest, "//") {
			if i := strings.Index(rest, "://"); i >= 0 && !strings.ContainsAny(rest[:i], "/@") {
				rest = rest[i+1:]
			}
		}
		if !strings.HasPrefix(rest, "//") {
			return Endpoint{}, false
		}
		return jdbcAuthority(svc, rest)
	case sub == "oracle":
		return parseOracle(rest)
	case sub == "sqlserver":
		return parseSQLServerJDBC(rest)
	case sub == "jtds":
		kind := rest
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			kind, rest = strings.ToLower(rest[:i]), rest[i+1:]
		}
		svc := "sqlserver"
		if kind == "sybase" {
			svc = "sybase"
		}
		if !strings.HasPrefix(rest, "//") {
			return Endpoint{}, false
		}
		rest = strings.TrimPrefix(rest, "//")
		if i := strings.IndexByte(rest, ';'); i >= 0 {
			rest = rest[:i]
		}
		return jdbcAuthority(svc, "//"+rest)
	case sub == "db2" || sub == "as400":
		if !strings.HasPrefix(rest, "//") {
			return Endpoint{}, false
		}
		return jdbcAuthority("db2", rest)
	case sub == "h2":
		lr := asciiLower(rest)
		for _, p := range []string{"tcp:", "ssl:"} {
			if strings.HasPrefix(lr, p) {
				return jdbcAuthority("h2", rest[len(p):])
			}
		}
		return Endpoint{}, false
	case sub == "derby":
		if !strings.HasPrefix(rest, "//") {
			return Endpoint{}, false
		}
		return jdbcAuthority("derby", rest)
	case sub == "hsqldb":
		lr := asciiLower(rest)
		for _, p := range []string{"hsql:", "hsqls:", "http:", "https:"} {
			if strings.HasPrefix(lr, p) {
				return jdbcAuthority("hsqldb", rest[len(p):])
			}
		}
		return Endpoint{}, false
	case sub == "sybase":
		// jdbc:sybase:Tds:host:port/db
		if i := strings.IndexByte(rest, ':'); i >= 0 && strings.EqualFold(rest[:i], "tds") {
			return jdbcAuthority("sybase", "//"+rest[i+1:])
		}
		return Endpoint{}, false
	case sub == "sqlite" || sub == "":
		return Endpoint{}, false
	}
	// Other drivers with a //host:port/db shape (redshift, clickhouse, ...)
	if strings.HasPrefix(rest, "//") && validService(sub) {
		return jdbcAuthority(sub, rest)
	}
	return Endpoint{}, false
}

func validService(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return s != ""
}

// jdbcAuthority parses //[user[:pass]@]host[:port][,host2...][/db][?...].
func jdbcAuthority(svc, rest string) (Endpoint, bool) {
	rest = strings.TrimPrefix(rest, "//")
	end := strings.IndexAny(rest, "/?;")
	// MySQL's address=(host=h)(port=p) form contains no slash before the
	// database, but may contain parentheses with '/' inside: rare, ignored.
	if end < 0 {
		end = len(rest)
	}
	auth, path := rest[:end], rest[end:]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[at+1:]
	}
	if c := strings.IndexByte(auth, ','); c >= 0 && !strings.Contains(auth[:c], "(") {
		auth = auth[:c]
	}
	ep := Endpoint{Service: svc}
	la := strings.ToLower(auth)
	if strings.HasPrefix(la, "address=") || strings.HasPrefix(la, "(") {
		kv := parenPairs(auth)
		ep.Host = kv["host"]
		ep.Port = parsePort(kv["port"])
	} else {
		host, port, ok := splitHostPort(auth)
		if !ok {
			return Endpoint{}, false
		}
		ep.Host, ep.Port = host, port
	}
	if !validHost(ep.Host) {
		return Endpoint{}, false
	}
	if strings.HasPrefix(path, "/") {
		ep.Database = firstPathSegment(path)
		if svc == "h2" || svc == "hsqldb" {
			// a file path on the server: ~/test, /data/app
			ep.Database = strings.TrimPrefix(path, "/")
			if i := strings.IndexAny(ep.Database, ";?"); i >= 0 {
				ep.Database = ep.Database[:i]
			}
		}
	}
	return ep, true
}

// parenPairs reads (key=value) pairs, as in MySQL's address=(host=h)(port=p)
// and Oracle's TNS descriptors, keyed by lower-case key. The first value
// of each key wins.
func parenPairs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range parenPairRe.FindAllStringSubmatch(s, -1) {
		k := strings.ToLower(strings.TrimSpace(m[1]))
		if _, ok := out[k]; !ok {
			out[k] = strings.TrimSpace(m[2])
		}
	}
	return out
}

var parenPairRe = regexp.MustCompile(`[(,]\s*([A-Za-z_]+)\s*=\s*([^()=,]*)`)

// parseOracle parses what follows "jdbc:oracle:".
func parseOracle(rest string) (Endpoint, bool) {
	// thin:@..., oci:@..., thin:user/pass@...
	i := strings.IndexByte(rest, '@')
	if i < 0 {
		return Endpoint{}, false
	}
	return parseOracleAddress(rest[i+1:])
}

// parseOracleAddress parses a TNS descriptor, //host:port/service,
// host:port:sid, host:port/service or host/service.
func parseOracleAddress(s string) (Endpoint, bool) {
	s = strings.TrimSpace(s)
	ep := Endpoint{Service: "oracle"}
	if strings.HasPrefix(s, "(") {
		kv := parenPairs(s)
		ep.Host = kv["host"]
		ep.Port = parsePort(kv["port"])
		ep.Database = kv["service_name"]
		if ep.Database == "" {
			ep.Database = kv["sid"]
		}
		return ep, validHost(ep.Host)
	}
	s = strings.TrimPrefix(s, "//")
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	hostPort, db := s, ""
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hostPort, db = s[:i], s[i+1:]
		if j := strings.IndexAny(db, ":/"); j >= 0 { // service:server/instance
			db = db[:j]
		}
	} else if strings.Count(s, ":") == 2 && !strings.HasPrefix(s, "[") {
		// host:port:SID
		j := strings.LastIndexByte(s, ':')
		hostPort, db = s[:j], s[j+1:]
	} else if !strings.Contains(s, ":") {
		// a bare word is a TNS alias resolved through tnsnames.ora
		return Endpoint{}, false
	}
	host, port, ok := splitHostPort(hostPort)
	if !ok || !validHost(host) {
		return Endpoint{}, false
	}
	ep.Host, ep.Port, ep.Database = host, port, db
	return ep, true
}

// parseSQLServerJDBC parses what follows "jdbc:sqlserver:":
// //host[\instance][:port][;prop=value...].
func parseSQLServerJDBC(rest string) (Endpoint, bool) {
	if !strings.HasPrefix(rest, "//") {
		return Endpoint{}, false
	}
	rest = rest[2:]
	server, props := rest, ""
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		server, props = rest[:i], rest[i+1:]
	}
	ep := Endpoint{Service: "sqlserver"}
	kv := splitProps(props, ';')
	if v := kv["servername"]; server == "" && v != "" {
		server = v
	}
	if i := strings.IndexByte(server, '\\'); i >= 0 {
		// a named instance: its port comes from the SQL Browser service
		host := server[:i]
		if j := strings.IndexByte(server[i:], ':'); j >= 0 {
			host += server[i+j:]
		}
		server = host
	}
	host, port, ok := splitHostPort(server)
	if !ok || !validHost(host) {
		return Endpoint{}, false
	}
	ep.Host, ep.Port = host, port
	if p := parsePort(kv["portnumber"]); p != 0 {
		ep.Port = p
	} else if p := parsePort(kv["port"]); p != 0 {
		ep.Port = p
	}
	ep.Database = kv["databasename"]
	if ep.Database == "" {
		ep.Database = kv["database"]
	}
	return ep, true
}

// splitProps splits k=v pairs separated by sep, keyed by lower-case key.
func splitProps(s string, sep byte) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, string(sep)) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return out
}

// connPair is one key=value of an ADO.NET connection string.
type connPair struct{ key, value string }

// parseConnPairs splits an ADO.NET connection string. Values may be quoted
// with " or ' (a doubled quote inside stands for one); keys are lower-cased
// with inner spaces collapsed ("Data Source" -> "data source").
func parseConnPairs(s string) []connPair {
	var out []connPair
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ';' || s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			break
		}
		key := strings.Join(strings.Fields(strings.ToLower(s[i:i+eq])), " ")
		i += eq + 1
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val strings.Builder
		if i < len(s) && (s[i] == '"' || s[i] == '\'') {
			q := s[i]
			i++
			for i < len(s) {
				if s[i] == q {
					if i+1 < len(s) && s[i+1] == q {
						val.WriteByte(q)
						i += 2
						continue
					}
					i++
					break
				}
				val.WriteByte(s[i])
				i++
			}
			for i < len(s) && s[i] != ';' {
				i++
			}
		} else {
			end := strings.IndexByte(s[i:], ';')
			if end < 0 {
				end = len(s) - i
			}
			val.WriteString(strings.TrimSpace(s[i : i+end]))
			i += end
		}
		out = append(out, connPair{key, val.String()})
	}
	return out
}

var connServerKeys = []string{"server", "data source", "datasource", "host", "address", "addr", "network address", "hostname"}

// parseConnString recognises an ADO.NET (or ODBC) connection string and
// guesses the database from its keywords. provider, when known
// (web.config's providerName), settles the question.
func parseConnString(s, provider string) (Endpoint, bool) {
	pairs := parseConnPairs(s)
	kv := map[string]string{}
	for _, p := range pairs {
		if _, ok := kv[p.key]; !ok {
			kv[p.key] = p.value
		}
	}
	serverKey, server := "", ""
	for _, k := range connServerKeys {
		if v, ok := kv[k]; ok && v != "" {
			serverKey, server = k, v
			break
		}
	}
	if server == "" {
		return Endpoint{}, false
	}
	svc := connService(kv, serverKey, server, provider)
	ep := Endpoint{Service: svc}
	switch svc {
	case "sqlserver":
		srv := server
		for _, p := range []string{"tcp:", "np:", "lpc:", "admin:"} {
			if strings.HasPrefix(asciiLower(srv), p) {
				srv = srv[len(p):]
			}
		}
		port := 0
		if i := strings.IndexByte(srv, ','); i >= 0 {
			srv, port = srv[:i], parsePort(srv[i+1:])
		}
		if i := strings.IndexByte(srv, '\\'); i >= 0 {
			srv = srv[:i]
		}
		switch strings.ToLower(strings.TrimSpace(srv)) {
		case ".", "(local)", "(localdb)", "localhost", "127.0.0.1":
			srv = "localhost"
		}
		ep.Host, ep.Port = strings.TrimSpace(srv), port
		if ep.Port == 0 {
			ep.Port = parsePort(kv["port"])
		}
	case "oracle":
		o, ok := parseOracleAddress(server)
		if !ok {
			return Endpoint{}, false
		}
		ep = o
	default:
		first := server
		if i := strings.IndexByte(first, ','); i >= 0 {
			first = first[:i]
		}
		host, port, ok := splitHostPort(first)
		if !ok {
			return Endpoint{}, false
		}
		ep.Host, ep.Port = host, port
		if p := parsePort(kv["port"]); p != 0 {
			ep.Port = p
		}
	}
	if !validHost(ep.Host) {
		return Endpoint{}, false
	}
	if ep.Database == "" {
		for _, k := range []string{"database", "initial catalog", "dbname"} {
			if v := kv[k]; v != "" {
				ep.Database = v
				break
			}
		}
	}
	return ep, true
}

func connService(kv map[string]string, serverKey, server, provider string) string {
	p := strings.ToLower(provider)
	switch {
	// MySql.Data.MySqlClient contains "sqlclient": test it first.
	case strings.Contains(p, "mysql") || strings.Contains(p, "mariadb"):
		return "mysql"
	case strings.Contains(p, "npgsql") || strings.Contains(p, "postgres"):
		return "postgresql"
	case strings.Contains(p, "oracle"):
		return "oracle"
	case strings.Contains(p, "sqlclient") || strings.Contains(p, "sqlserver"):
		return "sqlserver"
	}
	if d := strings.ToLower(kv["driver"]); d != "" {
		switch {
		case strings.Contains(d, "sql server"):
			return "sqlserver"
		case strings.Contains(d, "postgres"):
			return "postgresql"
		case strings.Contains(d, "mysql"), strings.Contains(d, "mariadb"):
			return "mysql"
		case strings.Contains(d, "oracle"):
			return "oracle"
		}
	}
	for _, k := range []string{"initial catalog", "integrated security", "trusted_connection",
		"multipleactiveresultsets", "trustservercertificate", "encrypt", "persist security info",
		"attachdbfilename", "application name", "user instance", "failover partner"} {
		if _, ok := kv[k]; ok {
			return "sqlserver"
		}
	}
	ls := strings.ToLower(server)
	if strings.HasPrefix(ls, "tcp:") || strings.HasPrefix(ls, "np:") || strings.Contains(ls, "\\") ||
		strings.HasPrefix(ls, "(local") || ls == "." || strings.Contains(server, ",") && parsePort(server[strings.IndexByte(server, ',')+1:]) != 0 {
		return "sqlserver"
	}
	switch parsePort(kv["port"]) {
	case 5432:
		return "postgresql"
	case 3306:
		return "mysql"
	case 1521:
		return "oracle"
	case 1433:
		return "sqlserver"
	}
	if strings.HasPrefix(ls, "(description") || serverKey == "data source" && strings.Contains(server, "/") {
		return "oracle"
	}
	if serverKey == "host" || kv["username"] != "" {
		if _, ok := kv["uid"]; !ok {
			return "postgresql" // Npgsql's keywords
		}
	}
	_, uid := kv["uid"]
	_, sslmode := kv["sslmode"]
	if serverKey == "server" && (uid || sslmode) {
		return "mysql"
	}
	return "sqlserver"
}

// connUser returns the user name of a connection string, if any.
func connUser(s string) string {
	for _, p := range parseConnPairs(s) {
		switch p.key {
		case "user id", "userid", "uid", "user", "username", "user name":
			return p.value
		}
	}
	return ""
}
