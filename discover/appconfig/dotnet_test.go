package appconfig

import (
	"reflect"
	"strings"
	"testing"
)

const appSettingsJSON = `{
  // Written by hand, as ASP.NET Core allows.
  "Logging": {
    "LogLevel": {
      "Default": "Information",
      "Microsoft.AspNetCore": "Warning", /* quiet */
    },
  },
  "AllowedHosts": "*",
  "ConnectionStrings": {
    "Default": "Server=sql.internal,1433;Database=Shop;User Id=shop;Password=Sh\u0040p!;TrustServerCertificate=True",
    "Reporting": "Host=pg.internal;Database=reports;Username=rep;Password=\"a;b\"",
    "Cache": "redis.internal:6379,abortConnect=false",
    "Local": "Data Source=.\\SQLEXPRESS;Initial Catalog=Dev;Integrated Security=True"
  },
  "Jwt": { "Key": "c2VjcmV0LWp3dC1rZXk=", "Issuer": "https://shop.example.com" },
  "Kestrel": { "Endpoints": { "Http": { "Url": "http://0.0.0.0:5000" } } },
  "Services": { "Payments": "https://payments.internal:8443/api", "Comment": "// not a comment" },
  "Features": [ "a", "b", ],
  "Retries": 3,
  "Enabled": true,
  "Nothing": null
}`

func TestParseAppSettings(t *testing.T) {
	f := mustParse(t, KindAppSettingsJSON, appSettingsJSON)

	var keys []string
	for _, s := range f.Settings {
		keys = append(keys, s.Key)
	}
	wantKeys := []string{
		"Logging:LogLevel:Default", "Logging:LogLevel:Microsoft.AspNetCore", "AllowedHosts",
		"ConnectionStrings:Default", "ConnectionStrings:Reporting", "ConnectionStrings:Cache", "ConnectionStrings:Local",
		"Jwt:Key", "Jwt:Issuer", "Kestrel:Endpoints:Http:Url", "Services:Payments", "Services:Comment",
		"Features:0", "Features:1", "Retries", "Enabled", "Nothing",
	}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("keys =\n%q\nwant\n%q", keys, wantKeys)
	}
	set := settingsByKey(f)
	if set["Services:Comment"].Value != "// not a comment" || set["Retries"].Value != "3" || set["Enabled"].Value != "true" {
		t.Errorf("settings = %+v", f.Settings)
	}

	wantSecrets := []Secret{
		{Key: "ConnectionStrings:Default",
			Value:   `Server=sql.internal,1433;Database=Shop;User Id=shop;Password=Sh\u0040p!;TrustServerCertificate=True`,
			Decoded: "Server=sql.internal,1433;Database=Shop;User Id=shop;Password=Sh@p!;TrustServerCertificate=True",
			Reason:  ReasonConnStringPasswd},
		{Key: "ConnectionStrings:Reporting",
			Value:   `Host=pg.internal;Database=reports;Username=rep;Password=\"a;b\"`,
			Decoded: `Host=pg.internal;Database=reports;Username=rep;Password="a;b"`,
			Reason:  ReasonConnStringPasswd},
		{Key: "Jwt:Key", Value: "c2VjcmV0LWp3dC1rZXk=", Reason: ReasonName},
	}
	if !reflect.DeepEqual(f.Secrets, wantSecrets) {
		t.Errorf("Secrets =\n%+v\nwant\n%+v", f.Secrets, wantSecrets)
	}

	wantDS := []DataSource{
		{Name: "Default", URL: "Server=sql.internal,1433;Database=Shop;User Id=shop;TrustServerCertificate=True", Username: "shop",
			Endpoint: &Endpoint{Service: "sqlserver", Host: "sql.internal", Port: 1433, Database: "Shop", Source: "ConnectionStrings:Default"}},
		{Name: "Reporting", URL: "Host=pg.internal;Database=reports;Username=rep", Username: "rep",
			Endpoint: &Endpoint{Service: "postgresql", Host: "pg.internal", Port: 5432, Database: "reports", Source: "ConnectionStrings:Reporting"}},
		{Name: "Cache", URL: "redis.internal:6379,abortConnect=false",
			Endpoint: &Endpoint{Service: "redis", Host: "redis.internal", Port: 6379, Source: "ConnectionStrings:Cache"}},
		{Name: "Local", URL: `Data Source=.\SQLEXPRESS;Initial Catalog=Dev;Integrated Security=True`,
			Endpoint: &Endpoint{Service: "sqlserver", Host: "localhost", Port: 1433, Database: "Dev", Source: "ConnectionStrings:Local"}},
	}
	if !reflect.DeepEqual(f.DataSources, wantDS) {
		t.Errorf("DataSources =\n%+v\nwant\n%+v", f.DataSources, wantDS)
	}

	var eps []string
	for _, e := range f.Endpoints {
		eps = append(eps, e.Service+"@"+e.Host+" "+e.Source)
	}
	want := []string{
		"sqlserver@sql.internal ConnectionStrings:Default",
		"postgresql@pg.internal ConnectionStrings:Reporting",
		"redis@redis.internal ConnectionStrings:Cache",
		"sqlserver@localhost ConnectionStrings:Local",
		"https@shop.example.com Jwt:Issuer",
		"https@payments.internal Services:Payments",
	}
	if !reflect.DeepEqual(eps, want) {
		t.Errorf("Endpoints =\n%q\nwant (Kestrel's own address excluded)\n%q", eps, want)
	}
}

func TestParseAppSettingsErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[1, 2]", "parsing appsettings.json: line 1: the top-level value must be an object"},
		{"{\n  \"a\": 1\n  \"b\": 2\n}", "parsing appsettings.json: line 3: "},
		{"{\n  \"a\": /* open\n}", "parsing appsettings.json: line 2: comment is not closed"},
		{"{\"a\": 1", "parsing appsettings.json: line 1: unexpected end of input"},
		{"{} {}", "parsing appsettings.json: line 1: unexpected data after the top-level object"},
		{"{\n\n\"a\": tru }", "parsing appsettings.json: line 3: "},
	}
	for _, tc := range tests {
		_, err := Parse(KindAppSettingsJSON, []byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want prefix %q", tc.in, err, tc.want)
		}
	}
	// Empty and comment-only files are empty configurations.
	for _, in := range []string{"", "  \n", "// nothing\n", "\xef\xbb\xbf{}"} {
		if _, err := Parse(KindAppSettingsJSON, []byte(in)); err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}

const webConfig = `<?xml version="1.0" encoding="utf-8"?>
<configuration xmlns:xdt="http://schemas.microsoft.com/XML-Document-Transform">
  <configSections>
    <sectionGroup name="applicationSettings" type="System.Configuration.ApplicationSettingsGroup, System">
      <section name="Shop.Properties.Settings" type="System.Configuration.ClientSettingsSection, System" />
    </sectionGroup>
  </configSections>
  <connectionStrings>
    <clear />
    <add name="ShopDb" providerName="System.Data.SqlClient"
         connectionString="Data Source=sql01.corp.local;Initial Catalog=Shop;User ID=shopweb;Password=W3b&amp;Pw!;MultipleActiveResultSets=True" />
    <add name="Auth" providerName="MySql.Data.MySqlClient"
         connectionString="Server=mysql.corp.local;Database=auth;Uid=auth;Pwd=authpw;" />
    <add name="Audit" providerName="Npgsql"
         connectionString="Server=pg.corp.local;Database=audit;Integrated Security=true" />
  </connectionStrings>
  <appSettings file="secrets.config">
    <add key="PaymentApiUrl" value="https://pay.example.com/v2" />
    <add key="PaymentApiKey" value="pk_9f8e7d6c" />
    <add key="PageSize" value="25" />
  </appSettings>
  <applicationSettings>
    <Shop.Properties.Settings>
      <setting name="SmtpPassword" serializeAs="String">
        <value>smtp-pw</value>
      </setting>
      <setting name="InventoryServiceUrl" serializeAs="String">
        <value>http://inventory.corp.local:8080/api</value>
      </setting>
    </Shop.Properties.Settings>
  </applicationSettings>
  <system.web>
    <compilation debug="false" targetFramework="4.8" />
    <machineKey validationKey="A1B2C3D4E5F6" decryptionKey="0F1E2D3C4B5A" validation="HMACSHA256" decryption="AES" />
    <identity impersonate="true" userName="CORP\svc_shop" password="svcPw" />
  </system.web>
  <system.net>
    <mailSettings>
      <smtp from="shop@example.com">
        <network host="smtp.corp.local" port="587" userName="shop" password="mailPw" />
      </smtp>
    </mailSettings>
  </system.net>
</configuration>`

func TestParseWebConfig(t *testing.T) {
	f := mustParse(t, KindWebConfig, webConfig)

	wantDS := []DataSource{
		{Name: "ShopDb", Driver: "System.Data.SqlClient",
			URL:      "Data Source=sql01.corp.local;Initial Catalog=Shop;User ID=shopweb;MultipleActiveResultSets=True",
			Username: "shopweb",
			Endpoint: &Endpoint{Service: "sqlserver", Host: "sql01.corp.local", Port: 1433, Database: "Shop", Source: "connectionStrings/add[ShopDb]/@connectionString"}},
		{Name: "Auth", Driver: "MySql.Data.MySqlClient",
			URL:      "Server=mysql.corp.local;Database=auth;Uid=auth;",
			Username: "auth",
			Endpoint: &Endpoint{Service: "mysql", Host: "mysql.corp.local", Port: 3306, Database: "auth", Source: "connectionStrings/add[Auth]/@connectionString"}},
		{Name: "Audit", Driver: "Npgsql",
			URL:      "Server=pg.corp.local;Database=audit;Integrated Security=true",
			Endpoint: &Endpoint{Service: "postgresql", Host: "pg.corp.local", Port: 5432, Database: "audit", Source: "connectionStrings/add[Audit]/@connectionString"}},
	}
	if !reflect.DeepEqual(f.DataSources, wantDS) {
		t.Errorf("DataSources =\n%+v\nwant\n%+v", f.DataSources, wantDS)
	}

	secrets := secretsByKey(f)
	want := map[string]Secret{
		"connectionStrings/add[ShopDb]/@connectionString": {
			Value:   "Data Source=sql01.corp.local;Initial Catalog=Shop;User ID=shopweb;Password=W3b&amp;Pw!;MultipleActiveResultSets=True",
			Decoded: "Data Source=sql01.corp.local;Initial Catalog=Shop;User ID=shopweb;Password=W3b&Pw!;MultipleActiveResultSets=True",
			Reason:  ReasonConnStringPasswd},
		"connectionStrings/add[Auth]/@connectionString": {
			Value: "Server=mysql.corp.local;Database=auth;Uid=auth;Pwd=authpw;", Reason: ReasonConnStringPasswd},
		"appSettings/add[PaymentApiKey]/@value":                                    {Value: "pk_9f8e7d6c", Reason: ReasonName},
		"applicationSettings/Shop.Properties.Settings/setting[SmtpPassword]/value": {Value: "smtp-pw", Reason: ReasonName},
		"system.web/machineKey/@validationKey":                                     {Value: "A1B2C3D4E5F6", Reason: ReasonName},
		"system.web/machineKey/@decryptionKey":                                     {Value: "0F1E2D3C4B5A", Reason: ReasonName},
		"system.web/identity/@password":                                            {Value: "svcPw", Reason: ReasonName},
		"system.net/mailSettings/smtp/network/@password":                           {Value: "mailPw", Reason: ReasonName},
	}
	if len(f.Secrets) != len(want) {
		t.Errorf("got %d secrets, want %d: %+v", len(f.Secrets), len(want), f.Secrets)
	}
	for k, w := range want {
		w.Key = k
		if secrets[k] != w {
			t.Errorf("secret %s = %+v, want %+v", k, secrets[k], w)
		}
	}

	set := settingsByKey(f)
	if s := set["appSettings/add[PaymentApiUrl]/@value"]; s.Value != "https://pay.example.com/v2" {
		t.Errorf("appSettings value = %+v", s)
	}
	if s := set["appSettings/add[PageSize]/@value"]; s.Value != "25" {
		t.Errorf("appSettings value = %+v", s)
	}
	if s := set["connectionStrings/add[Audit]/@connectionString"]; s.Secret || s.Value == "" {
		t.Errorf("a connection string without password is shown: %+v", s)
	}
	if s := set["applicationSettings/Shop.Properties.Settings/setting[SmtpPassword]/value"]; !s.Secret {
		t.Errorf("applicationSettings secret setting = %+v", s)
	}

	var eps []string
	for _, e := range f.Endpoints {
		eps = append(eps, e.Service+"@"+e.Host)
	}
	if got := strings.Join(eps, " "); got != "sqlserver@sql01.corp.local mysql@mysql.corp.local postgresql@pg.corp.local https@pay.example.com http@inventory.corp.local smtp@smtp.corp.local" {
		t.Errorf("Endpoints = %s", got)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "secrets.config") {
		t.Errorf("Warnings = %q, want one about appSettings file=", f.Warnings)
	}

	out := Redact([]byte(webConfig), f.Secrets, func(s Secret) string { return "${HOIST_SECRET}" })
	g, err := Parse(KindWebConfig, out)
	if err != nil {
		t.Fatalf("redacted web.config does not parse: %v", err)
	}
	if len(g.Secrets) != 0 {
		t.Errorf("secrets left after redaction: %+v", g.Secrets)
	}
}

func TestDetectKind(t *testing.T) {
	tests := map[string]Kind{
		"/opt/tomcat/conf/server.xml":                   KindTomcatServer,
		"/etc/tomcat10/context.xml":                     KindTomcatContext,
		"/opt/app/META-INF/context.xml":                 KindTomcatContext,
		"/opt/tomcat/conf/Catalina/localhost/shop.xml":  KindTomcatContext,
		"/etc/tomcat10/Catalina/localhost/examples.xml": KindTomcatContext,
		"/opt/tomcat/conf/tomcat-users.xml":             KindTomcatUsers,
		"/app/config/application.properties":            KindSpringProps,
		"/app/application-prod.properties":              KindSpringProps,
		"BOOT-INF/classes/bootstrap.properties":         KindSpringProps,
		"/app/application.yml":                          KindSpringYAML,
		"/app/application-dev.yaml":                     KindSpringYAML,
		"/app/bootstrap.yml":                            KindSpringYAML,
		"/srv/shop/appsettings.json":                    KindAppSettingsJSON,
		"/srv/shop/appsettings.Production.json":         KindAppSettingsJSON,
		"/srv/shop/web.config":                          KindWebConfig,
		"/srv/shop/Web.config":                          KindWebConfig,
		"/srv/shop/Web.Release.config":                  KindWebConfig,
		"/srv/tool/Tool.exe.config":                     KindWebConfig,
		"/opt/tomcat/conf/catalina.properties":          KindJavaProperties,
		"/opt/app/WEB-INF/classes/db.properties":        KindJavaProperties,
	}
	for p, want := range tests {
		if got, ok := DetectKind(p); !ok || got != want {
			t.Errorf("DetectKind(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
	for _, p := range []string{
		"/opt/tomcat/conf/web.xml",
		"/opt/app/WEB-INF/web.xml",
		"/opt/app/pom.xml",
		"/srv/shop/package.json",
		"/app/config.yml",
		"/opt/tomcat/conf/logging.xml",
		"",
	} {
		if got, ok := DetectKind(p); ok {
			t.Errorf("DetectKind(%q) = %q, want none", p, got)
		}
	}
}
