// Package appconfig reads the configuration files of Java and .NET
// applications (Tomcat server.xml and context.xml, Spring
// application.properties and application.yml, appsettings*.json,
// web.config), classifies secret values wherever they occur (config files,
// environment variables, command lines) and recognises the external
// services an application talks to (JDBC URLs, connection strings, well-known
// ports).
//
// It is pure: it parses bytes it is given and never touches the host, so
// every parser here can be fuzzed.
package appconfig

// Kind names a configuration file format.
type Kind string

const (
	KindTomcatServer    Kind = "tomcat-server-xml"
	KindTomcatContext   Kind = "tomcat-context-xml"
	KindTomcatUsers     Kind = "tomcat-users-xml"
	KindSpringProps     Kind = "spring-properties"
	KindSpringYAML      Kind = "spring-yaml"
	KindJavaProperties  Kind = "java-properties"
	KindAppSettingsJSON Kind = "appsettings-json"
	KindWebConfig       Kind = "web-config"
)

// File is what was learned from one configuration file.
type File struct {
	Kind Kind `json:"kind"`
	// Settings holds every key/value found that is worth showing, in file
	// order. Values of secret settings are never kept here: Value is empty
	// and Secret is true.
	Settings    []Setting    `json:"settings,omitempty"`
	DataSources []DataSource `json:"dataSources,omitempty"`
	Connectors  []Connector  `json:"connectors,omitempty"`
	Endpoints   []Endpoint   `json:"endpoints,omitempty"`
	// Secrets lists every secret value found, with its location, so that
	// the caller can move it into the secrets file and redact the file.
	Secrets []Secret `json:"-"`
	// Warnings are parts of the file that could not be understood.
	Warnings []string `json:"warnings,omitempty"`
}

// Setting is one key of a configuration file. Key is a dotted path for
// hierarchical formats (spring.datasource.url, ConnectionStrings.Default,
// Server/Service/Connector[1]/@port for XML).
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Secret bool   `json:"secret,omitempty"`
}

// Secret is a secret value found in a file, an environment variable or a
// command line. Value must only ever be written to the 0600 secrets file.
type Secret struct {
	// Key is where the secret was found (the setting key, the env var name).
	Key string
	// Value is the exact text as it appears, so it can be redacted.
	Value string
	// Decoded is the value as the application reads it, when the file
	// spells it differently from Value (XML entities, properties or JSON
	// escapes, YAML quoting or block indentation); empty when the two are
	// the same. Value then covers the whole escaped value. Use Plain to
	// get the value to supply at deploy time.
	Decoded string
	// Reason says why it is a secret: "name" (key looks like PASSWORD,
	// TOKEN, ...), "url-credentials", "connection-string-password",
	// "private-key", "aws-access-key", ...
	Reason string
}

// DataSource is a JDBC data source (Tomcat Resource, Spring datasource) or
// a .NET connection string.
type DataSource struct {
	Name     string    `json:"name"`
	Driver   string    `json:"driver,omitempty"`
	URL      string    `json:"url,omitempty"` // credentials removed
	Username string    `json:"username,omitempty"`
	Endpoint *Endpoint `json:"endpoint,omitempty"`
}

// Connector is a Tomcat connector from server.xml.
type Connector struct {
	Port        int    `json:"port"`
	Protocol    string `json:"protocol,omitempty"`
	Address     string `json:"address,omitempty"`
	Scheme      string `json:"scheme,omitempty"`
	SSLEnabled  bool   `json:"sslEnabled,omitempty"`
	RedirectTo  int    `json:"redirectPort,omitempty"`
	ShutdownCmd bool   `json:"shutdown,omitempty"` // the <Server port="8005"> shutdown port
}

// Endpoint is an external service the application talks to.
type Endpoint struct {
	// Service is a well-known label: postgresql, mysql, mariadb, oracle,
	// sqlserver, db2, redis, mongodb, amqp, kafka, memcached, ldap,
	// elasticsearch, smtp, http, https, ... or "unknown".
	Service  string `json:"service"`
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`
	Database string `json:"database,omitempty"`
	// Source says where it was found: a config key, "env:NAME", "cmdline",
	// "connection" (an established socket).
	Source string `json:"source,omitempty"`
}

// Plain returns the secret as the application reads it: Decoded when the
// file escapes the value, Value otherwise.
func (s Secret) Plain() string {
	if s.Decoded != "" {
		return s.Decoded
	}
	return s.Value
}
