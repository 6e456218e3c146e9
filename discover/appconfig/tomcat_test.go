package appconfig

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, kind Kind, data string) *File {
	t.Helper()
	f, err := Parse(kind, []byte(data))
	if err != nil {
		t.Fatalf("Parse(%s): %v", kind, err)
	}
	if f.Kind != kind {
		t.Errorf("Kind = %q, want %q", f.Kind, kind)
	}
	checkInvariants(t, f, []byte(data))
	return f
}

// checkInvariants asserts what must hold for any parsed file: no secret
// value shows anywhere outside Secrets, and redaction removes them all.
func checkInvariants(t testing.TB, f *File, data []byte) {
	t.Helper()
	for _, s := range f.Secrets {
		if s.Value == "" {
			t.Errorf("secret %s has an empty value", s.Key)
		}
		for _, set := range f.Settings {
			if strings.Contains(set.Value, s.Value) {
				t.Errorf("secret %s (%q) shows in setting %s = %q", s.Key, s.Value, set.Key, set.Value)
			}
		}
		for _, ds := range f.DataSources {
			if strings.Contains(ds.URL, s.Value) || strings.Contains(ds.Username, s.Value) {
				t.Errorf("secret %s (%q) shows in data source %+v", s.Key, s.Value, ds)
			}
		}
	}
	ph := func(s Secret) string { return "\x00REDACTED\x00" }
	out := Redact(data, f.Secrets, ph)
	for _, s := range f.Secrets {
		if !strings.Contains(ph(s), s.Value) && strings.Contains(string(out), s.Value) {
			t.Errorf("redacted data still holds secret %s (%q)", s.Key, s.Value)
		}
	}
}

func secretsByKey(f *File) map[string]Secret {
	m := map[string]Secret{}
	for _, s := range f.Secrets {
		m[s.Key] = s
	}
	return m
}

func settingsByKey(f *File) map[string]Setting {
	m := map[string]Setting{}
	for _, s := range f.Settings {
		m[s.Key] = s
	}
	return m
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseDebianTomcat10(t *testing.T) {
	f := mustParse(t, KindTomcatServer, readTestdata(t, "tomcat10/server.xml"))
	want := []Connector{{Port: 8080, Protocol: "HTTP/1.1", RedirectTo: 8443}}
	if !reflect.DeepEqual(f.Connectors, want) {
		t.Errorf("Connectors = %+v, want %+v (the shutdown port is -1)", f.Connectors, want)
	}
	if len(f.Secrets) != 0 || len(f.DataSources) != 0 || len(f.Warnings) != 0 {
		t.Errorf("unexpected secrets %v, data sources %v or warnings %v", f.Secrets, f.DataSources, f.Warnings)
	}
	if got := settingsByKey(f)["Service[Catalina]/Engine[Catalina]/Host[localhost]/@appBase"].Value; got != "webapps" {
		t.Errorf("appBase = %q, want webapps", got)
	}

	f = mustParse(t, KindTomcatContext, readTestdata(t, "tomcat10/context.xml"))
	if len(f.Settings)+len(f.Secrets)+len(f.DataSources)+len(f.Warnings) != 0 {
		t.Errorf("default context.xml: got %+v, want nothing", f)
	}

	f = mustParse(t, KindTomcatUsers, readTestdata(t, "tomcat10/tomcat-users.xml"))
	if len(f.Secrets) != 0 {
		t.Errorf("the sample users are commented out, got secrets for %v", f.Secrets)
	}

	f = mustParse(t, KindTomcatContext, readTestdata(t, "tomcat10/examples.xml"))
	s := settingsByKey(f)
	if s["@docBase"].Value != "/usr/share/tomcat10-examples/examples" || s["@path"].Value != "/examples" {
		t.Errorf("examples.xml settings = %+v", f.Settings)
	}
}

const productionServerXML = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE server-xml [
  <!ENTITY connector-ssl SYSTEM "connector-ssl.xml">
]>
<Server port="8005" shutdown="SHUTDOWN">
  <Listener className="org.apache.catalina.startup.VersionLoggerListener" />
  <GlobalNamingResources>
    <Resource name="UserDatabase" auth="Container"
              type="org.apache.catalina.UserDatabase"
              factory="org.apache.catalina.users.MemoryUserDatabaseFactory"
              pathname="conf/tomcat-users.xml" />
    <Resource name="jdbc/OrdersDB" auth="Container" type="javax.sql.DataSource"
              driverClassName="org.postgresql.Driver"
              url="jdbc:postgresql://pg.internal:5432/orders"
              username="orders" password="S3cr&amp;t!" maxTotal="20"/>
    <Resource name="mail/Session" auth="Container" type="jakarta.mail.Session"
              mail.smtp.host="smtp.example.com" mail.smtp.port="587"/>
    <Environment name="app/featureFlags" value="beta,dark-mode" type="java.lang.String"/>
  </GlobalNamingResources>
  <Service name="Catalina">
    <Connector port="8080" protocol="HTTP/1.1" connectionTimeout="20000" redirectPort="8443" address="0.0.0.0"/>
    <Connector port="8443" protocol="org.apache.coyote.http11.Http11NioProtocol"
               SSLEnabled="true" scheme="https" secure="true">
      <SSLHostConfig>
        <Certificate certificateKeystoreFile="conf/keystore.jks"
                     certificateKeystorePassword="kspass123" type="RSA" />
      </SSLHostConfig>
    </Connector>
    <Connector protocol="AJP/1.3" address="::1" port="${ajp.port}" redirectPort="8443"
               secret="ajpS3cret" />
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="node1">
      <Realm className="org.apache.catalina.realm.JDBCRealm"
             driverName="com.mysql.cj.jdbc.Driver"
             connectionURL="jdbc:mysql://auth.internal:3306/authority"
             connectionName="realm" connectionPassword="realmPw"
             userTable="users" userNameCol="user_name" userCredCol="user_pass"/>
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="true">
        <Context path="/orders" docBase="/opt/apps/orders.war"/>
      </Host>
    </Engine>
  </Service>
</Server>
`

func TestParseServerXML(t *testing.T) {
	f := mustParse(t, KindTomcatServer, productionServerXML)

	wantConnectors := []Connector{
		{Port: 8005, ShutdownCmd: true},
		{Port: 8080, Protocol: "HTTP/1.1", Address: "0.0.0.0", RedirectTo: 8443},
		{Port: 8443, Protocol: "org.apache.coyote.http11.Http11NioProtocol", Scheme: "https", SSLEnabled: true},
		{Port: 0, Protocol: "AJP/1.3", Address: "::1", RedirectTo: 8443},
	}
	if !reflect.DeepEqual(f.Connectors, wantConnectors) {
		t.Errorf("Connectors =\n%+v\nwant\n%+v", f.Connectors, wantConnectors)
	}

	wantDS := []DataSource{{
		Name:     "jdbc/OrdersDB",
		Driver:   "org.postgresql.Driver",
		URL:      "jdbc:postgresql://pg.internal:5432/orders",
		Username: "orders",
		Endpoint: &Endpoint{Service: "postgresql", Host: "pg.internal", Port: 5432, Database: "orders", Source: "GlobalNamingResources/Resource[jdbc/OrdersDB]/@url"},
	}}
	if !reflect.DeepEqual(f.DataSources, wantDS) {
		t.Errorf("DataSources = %+v, want %+v", f.DataSources, wantDS)
	}

	secrets := secretsByKey(f)
	want := map[string]Secret{
		"GlobalNamingResources/Resource[jdbc/OrdersDB]/@password":                                  {Value: "S3cr&amp;t!", Decoded: "S3cr&t!", Reason: ReasonName},
		"Service[Catalina]/Connector[8443]/SSLHostConfig/Certificate/@certificateKeystorePassword": {Value: "kspass123", Reason: ReasonName},
		"Service[Catalina]/Connector[${ajp.port}]/@secret":                                         {Value: "ajpS3cret", Reason: ReasonName},
		"Service[Catalina]/Engine[Catalina]/Realm[JDBCRealm]/@connectionPassword":                  {Value: "realmPw", Reason: ReasonName},
	}
	if len(secrets) != len(want) {
		t.Errorf("got %d secrets %v, want %d", len(secrets), f.Secrets, len(want))
	}
	for k, w := range want {
		g, ok := secrets[k]
		w.Key = k
		if !ok || g != w {
			t.Errorf("secret %s = %+v, want %+v", k, g, w)
		}
	}
	if p := secrets["GlobalNamingResources/Resource[jdbc/OrdersDB]/@password"].Plain(); p != "S3cr&t!" {
		t.Errorf("Plain() = %q, want the decoded password", p)
	}

	// Secret attributes are listed as settings without their value.
	set := settingsByKey(f)
	if s, ok := set["Service[Catalina]/Engine[Catalina]/Realm[JDBCRealm]/@connectionPassword"]; !ok || !s.Secret || s.Value != "" {
		t.Errorf("connectionPassword setting = %+v, want a value-less secret setting", s)
	}
	if set["Service[Catalina]/Engine[Catalina]/@jvmRoute"].Value != "node1" {
		t.Errorf("jvmRoute setting missing: %+v", f.Settings)
	}
	if set["Service[Catalina]/Engine[Catalina]/Host[localhost]/Context[/orders]/@docBase"].Value != "/opt/apps/orders.war" {
		t.Errorf("Context docBase setting missing: %+v", f.Settings)
	}
	if set["GlobalNamingResources/Environment[app/featureFlags]"].Value != "beta,dark-mode" {
		t.Errorf("Environment setting missing: %+v", f.Settings)
	}

	wantEP := map[Endpoint]bool{
		{Service: "postgresql", Host: "pg.internal", Port: 5432, Database: "orders", Source: "GlobalNamingResources/Resource[jdbc/OrdersDB]/@url"}:                 true,
		{Service: "smtp", Host: "smtp.example.com", Port: 587, Source: "GlobalNamingResources/Resource[mail/Session]/@mail.smtp.host"}:                             true,
		{Service: "mysql", Host: "auth.internal", Port: 3306, Database: "authority", Source: "Service[Catalina]/Engine[Catalina]/Realm[JDBCRealm]/@connectionURL"}: true,
	}
	for _, e := range f.Endpoints {
		if !wantEP[e] {
			t.Errorf("unexpected endpoint %+v", e)
		}
		delete(wantEP, e)
	}
	for e := range wantEP {
		t.Errorf("missing endpoint %+v", e)
	}

	joined := strings.Join(f.Warnings, "\n")
	for _, w := range []string{"${ajp.port}", "connector-ssl.xml"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q do not mention %s", f.Warnings, w)
		}
	}

	// Redacting the file leaves valid XML that Tomcat resolves from
	// system properties.
	out := Redact([]byte(productionServerXML), f.Secrets, func(s Secret) string { return "${hoist.secret." + s.Reason + "}" })
	if strings.Contains(string(out), "S3cr&amp;t!") || strings.Contains(string(out), "realmPw") {
		t.Errorf("redacted server.xml still holds secrets:\n%s", out)
	}
	if _, err := Parse(KindTomcatServer, out); err != nil {
		t.Errorf("redacted server.xml does not parse: %v", err)
	}
}

func TestParseServerXMLShutdownPort(t *testing.T) {
	tests := []struct {
		xml  string
		want []Connector
		warn bool
	}{
		{`<Server><Service/></Server>`, []Connector{{Port: 8005, ShutdownCmd: true}}, false},
		{`<Server port="-1"/>`, nil, false},
		{`<Server port="9005"/>`, []Connector{{Port: 9005, ShutdownCmd: true}}, false},
		{`<Server port="${shutdown.port}"/>`, []Connector{{Port: 0, ShutdownCmd: true}}, true},
	}
	for _, tc := range tests {
		f := mustParse(t, KindTomcatServer, tc.xml)
		if !reflect.DeepEqual(f.Connectors, tc.want) {
			t.Errorf("%s: Connectors = %+v, want %+v", tc.xml, f.Connectors, tc.want)
		}
		if (len(f.Warnings) > 0) != tc.warn {
			t.Errorf("%s: warnings = %q", tc.xml, f.Warnings)
		}
	}
}

func TestParseContextXML(t *testing.T) {
	const contextXML = `<?xml version="1.0" encoding="UTF-8"?>
<Context docBase="/opt/shop/shop.war" reloadable="false">
  <WatchedResource>WEB-INF/web.xml</WatchedResource>
  <Resource name="jdbc/ShopDB" auth="Container" type="javax.sql.DataSource"
            maxTotal="100" maxIdle="30" maxWaitMillis="10000"
            username="shop" password="sh0p-pw" driverClassName="com.mysql.cj.jdbc.Driver"
            url="jdbc:mysql://mysql.internal:3306/shop?useSSL=false&amp;serverTimezone=UTC"/>
  <Resource name="jms/ConnectionFactory" auth="Container"
            type="org.apache.activemq.ActiveMQConnectionFactory"
            factory="org.apache.activemq.jndi.JNDIReferenceFactory"
            brokerURL="tcp://amq.internal:61616" />
  <Environment name="app/apiToken" value="tok-123456" type="java.lang.String" override="false"/>
  <Environment name="app/searchUrl" value="http://search.internal:9200/products" type="java.lang.String"/>
  <Environment name="app/maxItems" value="50" type="java.lang.Integer"/>
  <Parameter name="companyName" value="Acme &amp; Co" override="false"/>
  <Parameter name="backendPassword" value="p&lt;w" override="false"/>
</Context>`
	f := mustParse(t, KindTomcatContext, contextXML)

	wantDS := []DataSource{{
		Name:     "jdbc/ShopDB",
		Driver:   "com.mysql.cj.jdbc.Driver",
		URL:      "jdbc:mysql://mysql.internal:3306/shop?useSSL=false&serverTimezone=UTC",
		Username: "shop",
		Endpoint: &Endpoint{Service: "mysql", Host: "mysql.internal", Port: 3306, Database: "shop", Source: "Resource[jdbc/ShopDB]/@url"},
	}}
	if !reflect.DeepEqual(f.DataSources, wantDS) {
		t.Errorf("DataSources = %+v, want %+v", f.DataSources, wantDS)
	}
	secrets := secretsByKey(f)
	for k, w := range map[string]Secret{
		"Resource[jdbc/ShopDB]/@password":   {Value: "sh0p-pw", Reason: ReasonName},
		"Environment[app/apiToken]/@value":  {Value: "tok-123456", Reason: ReasonName},
		"Parameter[backendPassword]/@value": {Value: "p&lt;w", Decoded: "p<w", Reason: ReasonName},
	} {
		w.Key = k
		if secrets[k] != w {
			t.Errorf("secret %s = %+v, want %+v", k, secrets[k], w)
		}
	}
	if len(f.Secrets) != 3 {
		t.Errorf("got secrets %v, want 3", f.Secrets)
	}
	wantSettings := []Setting{
		{Key: "@docBase", Value: "/opt/shop/shop.war"},
		{Key: "Resource[jdbc/ShopDB]/@password", Secret: true},
		{Key: "Environment[app/apiToken]", Secret: true},
		{Key: "Environment[app/searchUrl]", Value: "http://search.internal:9200/products"},
		{Key: "Environment[app/maxItems]", Value: "50"},
		{Key: "Parameter[companyName]", Value: "Acme & Co"},
		{Key: "Parameter[backendPassword]", Secret: true},
	}
	if !reflect.DeepEqual(f.Settings, wantSettings) {
		t.Errorf("Settings =\n%+v\nwant\n%+v", f.Settings, wantSettings)
	}
	var services []string
	for _, e := range f.Endpoints {
		services = append(services, e.Service+"@"+e.Host)
	}
	if got := strings.Join(services, " "); got != "mysql@mysql.internal activemq@amq.internal elasticsearch@search.internal" {
		t.Errorf("endpoints = %s", got)
	}
}

func TestParseTomcatUsers(t *testing.T) {
	const users = `<?xml version="1.0" encoding="UTF-8"?>
<tomcat-users xmlns="http://tomcat.apache.org/xml"
              xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
              xsi:schemaLocation="http://tomcat.apache.org/xml tomcat-users.xsd"
              version="1.0">
  <role rolename="manager-gui"/>
  <user username="admin" password="&lt;must-be-changed&gt;" roles="manager-gui"/>
  <user username="robot" password="r0b0t" roles="manager-script"/>
  <user name="legacy" password="{SHA-256}abc123" roles="tomcat"/>
  <user username="nopass" password="" roles="tomcat"/>
</tomcat-users>`
	f := mustParse(t, KindTomcatUsers, users)
	want := []Secret{
		{Key: "user[admin]/@password", Value: "&lt;must-be-changed&gt;", Decoded: "<must-be-changed>", Reason: ReasonName},
		{Key: "user[robot]/@password", Value: "r0b0t", Reason: ReasonName},
		{Key: "user[legacy]/@password", Value: "{SHA-256}abc123", Reason: ReasonName},
	}
	if !reflect.DeepEqual(f.Secrets, want) {
		t.Errorf("Secrets = %+v, want %+v", f.Secrets, want)
	}
	if s := settingsByKey(f)["user[robot]/@roles"]; s.Value != "manager-script" {
		t.Errorf("roles setting = %+v", s)
	}
	if len(f.Endpoints) != 0 {
		t.Errorf("namespace URLs are not endpoints: %+v", f.Endpoints)
	}
}

func TestParseXMLErrors(t *testing.T) {
	tests := []struct {
		kind Kind
		in   string
		want string
	}{
		{KindTomcatServer, "", "parsing server.xml: no root element"},
		{KindTomcatServer, "<Server>\n<Service>\n</Server>", "parsing server.xml: XML syntax error on line 3"},
		{KindTomcatServer, "<Context/>", "parsing server.xml: line 1: root element is <Context>, want <Server>"},
		{KindTomcatContext, "<Context>\n  <Resource name=\"x\" url=\"a&b\"/>\n</Context>", "parsing context.xml: XML syntax error on line 2"},
		{KindTomcatUsers, "<tomcat-users><user", "parsing tomcat-users.xml: XML syntax error on line 1"},
		{KindWebConfig, "<configuration><appSettings></configuration>", "parsing web.config: XML syntax error on line 1"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.kind, []byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%s, %q) error = %v, want prefix %q", tc.kind, tc.in, err, tc.want)
		}
	}
}

func TestParseXMLEncodings(t *testing.T) {
	// ISO-8859-1 declared and used: the é is one byte.
	latin1 := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<Context><Parameter name=\"owner\" value=\"Ren\xe9\"/></Context>"
	f, err := Parse(KindTomcatContext, []byte(latin1))
	if err != nil {
		t.Fatal(err)
	}
	if got := settingsByKey(f)["Parameter[owner]"].Value; got != "René" {
		t.Errorf("latin-1 value = %q", got)
	}
	// ISO-8859-1 declared, ASCII content: nothing to convert, no warning.
	f = mustParse(t, KindTomcatContext, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Context/>")
	if len(f.Warnings) != 0 {
		t.Errorf("warnings = %q", f.Warnings)
	}
	// UTF-8 byte order mark.
	f = mustParse(t, KindTomcatUsers, "\xef\xbb\xbf<tomcat-users><user username=\"a\" password=\"b1\"/></tomcat-users>")
	if len(f.Secrets) != 1 || f.Secrets[0].Value != "b1" {
		t.Errorf("secrets = %+v", f.Secrets)
	}
	// UTF-16 LE with BOM, as Visual Studio sometimes saves web.config.
	src := `<configuration><appSettings><add key="ApiKey" value="k1"/></appSettings></configuration>`
	utf16 := []byte{0xff, 0xfe}
	for _, r := range src {
		utf16 = append(utf16, byte(r), 0)
	}
	f, err = Parse(KindWebConfig, utf16)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Secrets) != 1 || f.Secrets[0].Value != "k1" || len(f.Warnings) == 0 {
		t.Errorf("UTF-16 web.config: secrets %+v warnings %q", f.Secrets, f.Warnings)
	}
}
