package appconfig

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParsePropertiesSyntax(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []keyValue
	}{
		{"separators", "a=1\nb:2\nc 3\nd\t=\t4\ne = 5\nf", []keyValue{
			{key: "a", val: value{text: "1", raw: "1"}},
			{key: "b", val: value{text: "2", raw: "2"}},
			{key: "c", val: value{text: "3", raw: "3"}},
			{key: "d", val: value{text: "4", raw: "4"}},
			{key: "e", val: value{text: "5", raw: "5"}},
			{key: "f", val: value{text: "", raw: ""}},
		}},
		{"comments and blank lines", "# comment\n! also\n   # indented comment\n\n  key = v  \n", []keyValue{
			// Java keeps trailing white space in values.
			{key: "key", val: value{text: "v  ", raw: "v  "}},
		}},
		{"continuation", "list = a,\\\n       b,\\\n       c\nnext=1", []keyValue{
			{key: "list", val: value{text: "a,b,c", raw: "a,\\\n       b,\\\n       c"}},
			{key: "next", val: value{text: "1", raw: "1"}},
		}},
		{"even backslashes do not continue", "path=C:\\\\\nnext=1", []keyValue{
			{key: "path", val: value{text: "C:\\", raw: "C:\\\\"}},
			{key: "next", val: value{text: "1", raw: "1"}},
		}},
		{"escapes", `url=jdbc\:postgresql\://db\:5432/app` + "\n" + `key\ with\ spaces=x` + "\n" + `uni=caf\u00e9 \u2603` + "\n" + `tab=a\tb`, []keyValue{
			{key: "url", val: value{text: "jdbc:postgresql://db:5432/app", raw: `jdbc\:postgresql\://db\:5432/app`}},
			{key: "key with spaces", val: value{text: "x", raw: "x"}},
			{key: "uni", val: value{text: "café ☃", raw: `caf\u00e9 \u2603`}},
			{key: "tab", val: value{text: "a\tb", raw: `a\tb`}},
		}},
		{"CRLF and CR line ends", "a=1\r\nb=2\rc=3", []keyValue{
			{key: "a", val: value{text: "1", raw: "1"}},
			{key: "b", val: value{text: "2", raw: "2"}},
			{key: "c", val: value{text: "3", raw: "3"}},
		}},
		{"comment lines do not continue", "# a comment \\\nkey=v", []keyValue{
			{key: "key", val: value{text: "v", raw: "v"}},
		}},
		{"documents", "a=1\n#---\nspring.config.activate.on-profile=prod\na=2\n", []keyValue{
			{key: "a", val: value{text: "1", raw: "1"}},
			{key: "spring.config.activate.on-profile", val: value{text: "prod", raw: "prod"}, doc: 1},
			{key: "a", val: value{text: "2", raw: "2"}, doc: 1},
		}},
		{"surrogate pair", `e=\ud83d\ude00`, []keyValue{
			{key: "e", val: value{text: "😀", raw: `\ud83d\ude00`}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProperties([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a=1\nb=\\u12G4", "parsing application.properties: line 2: value of b: malformed \\uxxxx escape"},
		{"a=1\n\nbad\\u=1", "parsing application.properties: line 3: key: malformed \\uxxxx escape"},
		{"x=\\u12", "parsing application.properties: line 1: value of x: malformed \\uxxxx escape"},
	} {
		_, err := Parse(KindSpringProps, []byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

const springProperties = `# Orders service
server.port=8080
spring.application.name=orders

spring.datasource.url=jdbc\:postgresql\://pg.internal\:5432/orders?sslmode=require
spring.datasource.username=orders_app
spring.datasource.password=Pa\=ss\\word
spring.datasource.driver-class-name=org.postgresql.Driver
spring.datasource.hikari.maximum-pool-size=10

app.datasource.reporting.jdbc-url=jdbc:mysql://reports.internal/reports
app.datasource.reporting.username=reporter
app.datasource.reporting.password=${REPORTING_DB_PASSWORD}

spring.data.redis.host=redis.internal
spring.data.redis.port=6380
spring.rabbitmq.host=rabbit.internal
spring.kafka.bootstrap-servers=kafka1:29092,kafka2:29092
spring.data.mongodb.uri=mongodb://mongo:pw@mongo.internal:27017/catalog
eureka.client.service-url.defaultZone=http://eureka.internal:8761/eureka/

app.jwt.secret=c2VjcmV0LWtleS1mb3Itand0
app.github.token=ghp_0123456789abcdefghijABCDEFGHIJ012345
logging.pattern.console=%d{HH:mm:ss} %-5level %logger{36} - %msg%n
app.banner=` + "aaaaaaaaaa"

func TestParseSpringProperties(t *testing.T) {
	in := springProperties + strings.Repeat("x", 600) + "\n"
	f := mustParse(t, KindSpringProps, in)

	wantDS := []DataSource{
		{
			Name: "spring.datasource", Driver: "org.postgresql.Driver",
			URL:      "jdbc:postgresql://pg.internal:5432/orders?sslmode=require",
			Username: "orders_app",
			Endpoint: &Endpoint{Service: "postgresql", Host: "pg.internal", Port: 5432, Database: "orders", Source: "spring.datasource.url"},
		},
		{
			Name:     "app.datasource.reporting",
			URL:      "jdbc:mysql://reports.internal/reports",
			Username: "reporter",
			Endpoint: &Endpoint{Service: "mysql", Host: "reports.internal", Port: 3306, Database: "reports", Source: "app.datasource.reporting.jdbc-url"},
		},
	}
	if !reflect.DeepEqual(f.DataSources, wantDS) {
		t.Errorf("DataSources =\n%+v\nwant\n%+v", f.DataSources, wantDS)
	}

	wantSecrets := []Secret{
		{Key: "spring.datasource.password", Value: `Pa\=ss\\word`, Decoded: `Pa=ss\word`, Reason: ReasonName},
		{Key: "spring.data.mongodb.uri", Value: "mongodb://mongo:pw@mongo.internal:27017/catalog", Reason: ReasonURLCredentials},
		{Key: "app.jwt.secret", Value: "c2VjcmV0LWtleS1mb3Itand0", Reason: ReasonName},
		{Key: "app.github.token", Value: "ghp_0123456789abcdefghijABCDEFGHIJ012345", Reason: ReasonName},
	}
	if !reflect.DeepEqual(f.Secrets, wantSecrets) {
		t.Errorf("Secrets =\n%+v\nwant\n%+v", f.Secrets, wantSecrets)
	}

	set := settingsByKey(f)
	if len(f.Settings) != 20 {
		t.Errorf("got %d settings, want 20: %+v", len(f.Settings), f.Settings)
	}
	if f.Settings[0] != (Setting{Key: "server.port", Value: "8080"}) {
		t.Errorf("first setting = %+v, want server.port in file order", f.Settings[0])
	}
	for _, k := range []string{"spring.datasource.password", "spring.data.mongodb.uri", "app.jwt.secret"} {
		if s := set[k]; !s.Secret || s.Value != "" {
			t.Errorf("setting %s = %+v, want secret without value", k, s)
		}
	}
	if s := set["app.datasource.reporting.password"]; s.Secret || s.Value != "${REPORTING_DB_PASSWORD}" {
		t.Errorf("a placeholder is not a secret: %+v", s)
	}
	if s := set["spring.datasource.url"]; s.Value != "jdbc:postgresql://pg.internal:5432/orders?sslmode=require" {
		t.Errorf("escaped value not decoded: %+v", s)
	}
	if s := set["app.banner"]; len(s.Value) != maxSettingValue+3 || !strings.HasSuffix(s.Value, "...") {
		t.Errorf("long value not truncated: %d bytes", len(s.Value))
	}

	want := []Endpoint{
		{Service: "postgresql", Host: "pg.internal", Port: 5432, Database: "orders", Source: "spring.datasource.url"},
		{Service: "mysql", Host: "reports.internal", Port: 3306, Database: "reports", Source: "app.datasource.reporting.jdbc-url"},
		{Service: "mongodb", Host: "mongo.internal", Port: 27017, Database: "catalog", Source: "spring.data.mongodb.uri"},
		{Service: "http", Host: "eureka.internal", Port: 8761, Source: "eureka.client.service-url.defaultZone"},
		{Service: "redis", Host: "redis.internal", Port: 6380, Source: "spring.data.redis.host"},
		{Service: "amqp", Host: "rabbit.internal", Port: 5672, Source: "spring.rabbitmq.host"},
		{Service: "kafka", Host: "kafka1", Port: 29092, Source: "spring.kafka.bootstrap-servers"},
		{Service: "kafka", Host: "kafka2", Port: 29092, Source: "spring.kafka.bootstrap-servers"},
	}
	if !reflect.DeepEqual(f.Endpoints, want) {
		t.Errorf("Endpoints =\n%+v\nwant\n%+v", f.Endpoints, want)
	}

	// The redacted file is still a properties file, with the escaped
	// password gone.
	out := string(Redact([]byte(in), f.Secrets, func(s Secret) string { return "${" + s.Key + "}" }))
	if !strings.Contains(out, "spring.datasource.password=${spring.datasource.password}\n") {
		t.Errorf("escaped password not redacted:\n%s", out)
	}
}

func TestParseJavaProperties(t *testing.T) {
	const legacy = `# db.properties of a legacy webapp
jdbc.driverClassName=oracle.jdbc.OracleDriver
jdbc.url=jdbc:oracle:thin:@//ora.internal:1521/ORCLPDB1
jdbc.username=LEGACY
jdbc.password=tiger
hibernate.connection.url=jdbc:oracle:thin:@ora2.internal:1521:LEGACY
smtp.host=mail.internal
cache.servers=memcache1:11211
`
	f := mustParse(t, KindJavaProperties, legacy)
	wantDS := []DataSource{
		{Name: "jdbc", Driver: "oracle.jdbc.OracleDriver", URL: "jdbc:oracle:thin:@//ora.internal:1521/ORCLPDB1", Username: "LEGACY",
			Endpoint: &Endpoint{Service: "oracle", Host: "ora.internal", Port: 1521, Database: "ORCLPDB1", Source: "jdbc.url"}},
		{Name: "hibernate.connection", URL: "jdbc:oracle:thin:@ora2.internal:1521:LEGACY",
			Endpoint: &Endpoint{Service: "oracle", Host: "ora2.internal", Port: 1521, Database: "LEGACY", Source: "hibernate.connection.url"}},
	}
	if !reflect.DeepEqual(f.DataSources, wantDS) {
		t.Errorf("DataSources =\n%+v\nwant\n%+v", f.DataSources, wantDS)
	}
	if len(f.Secrets) != 1 || f.Secrets[0] != (Secret{Key: "jdbc.password", Value: "tiger", Reason: ReasonName}) {
		t.Errorf("Secrets = %+v", f.Secrets)
	}
	var got []string
	for _, e := range f.Endpoints {
		got = append(got, e.Service+"@"+e.Host)
	}
	if strings.Join(got, " ") != "oracle@ora.internal oracle@ora2.internal memcached@memcache1" {
		t.Errorf("Endpoints = %v", got)
	}
}

const springYAML = `spring:
  application:
    name: catalog
  datasource:
    url: "jdbc:postgresql://pg.internal:5432/catalog"
    username: catalog
    password: "c\"at\\pw"
  data:
    redis:
      host: redis.internal
  kafka:
    bootstrap-servers:
      - kafka1:9092
      - kafka2:9093
server:
  port: 8081
defaults: &defaults
  timeout: 30
  api-key: 'it''s-a-key'
client:
  <<: *defaults
  url: https://partner.example.com/api
tls:
  private-key: |
    -----BEGIN PRIVATE KEY-----
    MIIEvQIBADANBgkqhkiG9w0BAQEFAASC
    -----END PRIVATE KEY-----
  enabled: true
empty:
---
spring:
  config:
    activate:
      on-profile: prod
  datasource:
    url: jdbc:postgresql://pg-prod.internal/catalog
    password: prodPw
`

func TestParseSpringYAML(t *testing.T) {
	f := mustParse(t, KindSpringYAML, springYAML)

	var keys []string
	for _, s := range f.Settings {
		keys = append(keys, s.Key)
	}
	wantKeys := []string{
		"spring.application.name", "spring.datasource.url", "spring.datasource.username", "spring.datasource.password",
		"spring.data.redis.host", "spring.kafka.bootstrap-servers[0]", "spring.kafka.bootstrap-servers[1]", "server.port",
		"defaults.timeout", "defaults.api-key", "client.timeout", "client.api-key", "client.url",
		"tls.private-key", "tls.enabled", "empty",
		"spring.config.activate.on-profile", "spring.datasource.url", "spring.datasource.password",
	}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("keys =\n%q\nwant\n%q", keys, wantKeys)
	}

	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
	wantSecrets := []Secret{
		{Key: "spring.datasource.password", Value: `c\"at\\pw`, Decoded: `c"at\pw`, Reason: ReasonName},
		{Key: "defaults.api-key", Value: "it''s-a-key", Decoded: "it's-a-key", Reason: ReasonName},
		{Key: "client.api-key", Value: "it''s-a-key", Decoded: "it's-a-key", Reason: ReasonName},
		{Key: "tls.private-key", Value: "-----BEGIN PRIVATE KEY-----\n    MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n    -----END PRIVATE KEY-----", Decoded: pem, Reason: ReasonName},
		{Key: "spring.datasource.password", Value: "prodPw", Reason: ReasonName},
	}
	if !reflect.DeepEqual(f.Secrets, wantSecrets) {
		t.Errorf("Secrets =\n%+v\nwant\n%+v", f.Secrets, wantSecrets)
	}

	if len(f.DataSources) != 2 || f.DataSources[0].Username != "catalog" || f.DataSources[1].URL != "jdbc:postgresql://pg-prod.internal/catalog" {
		t.Errorf("DataSources = %+v, want one per document", f.DataSources)
	}
	var eps []string
	for _, e := range f.Endpoints {
		eps = append(eps, e.Service+"@"+e.Host+":"+strconv.Itoa(e.Port))
	}
	want := "postgresql@pg.internal:5432 kafka@kafka1:9092 https@partner.example.com:443 redis@redis.internal:6379 kafka@kafka2:9093 postgresql@pg-prod.internal:5432"
	if strings.Join(eps, " ") != want {
		t.Errorf("Endpoints = %s\nwant        %s", strings.Join(eps, " "), want)
	}

	// The redacted document is still YAML with the same keys.
	out := Redact([]byte(springYAML), f.Secrets, func(s Secret) string { return "${HOIST_SECRET}" })
	g, err := Parse(KindSpringYAML, out)
	if err != nil {
		t.Fatalf("redacted YAML does not parse: %v\n%s", err, out)
	}
	if len(g.Settings) != len(f.Settings) || len(g.Secrets) != 0 {
		t.Errorf("redacted YAML: %d settings, secrets %+v", len(g.Settings), g.Secrets)
	}
}

func TestParseSpringYAMLErrors(t *testing.T) {
	for _, in := range []string{
		"a: b\n  c: d\n",
		"a: [1, 2\n",
		"a: 'unterminated\n",
		"a:\n\t- tab\n",
	} {
		_, err := Parse(KindSpringYAML, []byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), "parsing application.yml: ") || !strings.Contains(err.Error(), "line") {
			t.Errorf("Parse(%q) error = %v, want one naming the file and line", in, err)
		}
	}
	// Aliases that expand exponentially are cut short, not followed.
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		bomb += n + ": &" + n + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = n
	}
	f, err := Parse(KindSpringYAML, []byte(bomb))
	if err == nil && len(f.Warnings) == 0 {
		t.Errorf("alias bomb: no error and no warning")
	}
}
