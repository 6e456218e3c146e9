package appconfig

import (
	"strings"
	"testing"
)

func TestClassifySettingByName(t *testing.T) {
	secret := []struct{ key, value string }{
		{"PASSWORD", "hunter2"},
		{"DB_PASSWORD", "hunter2"},
		{"MYSQL_ROOT_PASSWORD", "hunter2"},
		{"spring.datasource.password", "hunter2"},
		{"dbPassword", "hunter2"},
		{"DBPassword", "hunter2"},
		{"keystorePass", "changeit"},
		{"truststorePass", "changeit"},
		{"certificateKeystorePassword", "changeit"},
		{"javax.net.ssl.keyStorePassword", "changeit"},
		{"server.ssl.key-store-password", "changeit"},
		{"DB_PASSWD", "x1"},
		{"DB_PWD", "x1"},
		{"DB_PASS", "x1"},
		{"jwt.secret", "abc"},
		{"CLIENT_SECRET", "abc"},
		{"Authentication:Google:ClientSecret", "abc"},
		{"GITHUB_TOKEN", "abc"},
		{"spring.cloud.vault.token", "abc"},
		{"API_KEY", "abc"},
		{"apiKey", "abc"},
		{"X-Api-Key", "abc"},
		{"APIKEY", "abc"},
		{"AWS_SECRET_ACCESS_KEY", "abc"},
		{"ACCESS_KEY", "abc"},
		{"PRIVATE_KEY", "abc"},
		{"Jwt:Key", "abc"},
		{"signingKey", "abc"},
		{"validationKey", "ABCDEF0123"},
		{"AZURE_CREDENTIALS", "{\"clientId\":\"x\"}"},
		{"REDIS_AUTH", "s3cr3t"},
		{"AUTHORIZATION", "Bearer abc.def"},
		{"password.0", "x"},
		{"DB_PASSWORD_VALUE", "x"},
		{"jasypt.encryptor.password", "x"},
		{"ssl.passphrase", "x"},
		// A literal default inside a placeholder is still a secret.
		{"spring.datasource.password", "${DB_PASSWORD:devpass}"},
	}
	for _, tc := range secret {
		got := ClassifySetting(tc.key, tc.value)
		if len(got) != 1 || got[0].Reason != ReasonName || got[0].Value != tc.value || got[0].Key != tc.key {
			t.Errorf("ClassifySetting(%q, %q) = %+v, want one secret by name", tc.key, tc.value, got)
		}
	}

	notSecret := []struct{ key, value string }{
		{"KEYBOARD_LAYOUT", "us"},
		{"TOKENIZER_MODE", "fast"},
		{"PWD", "/home/app"},
		{"OLDPWD", "/"},
		{"PASSWORD_FILE", "/run/secrets/db"},
		{"DB_PASSWORD_FILE", "/run/secrets/db"},
		{"spring.security.user.password-encoder", "bcrypt"},
		{"passwordEncoder", "bcrypt"},
		{"PASSWORD_MIN_LENGTH", "12"},
		{"TOKEN_URL", "https://auth.example.com/token"},
		{"token.expiry-seconds", "3600"},
		{"TOKEN_TTL", "60"},
		{"AWS_ACCESS_KEY_ID_FILE", "x"},
		{"PRIMARY_KEY", "id"},
		{"SORT_KEY", "name"},
		{"KEY", "value"},
		{"PASS_THROUGH", "yes"},
		{"BYPASS", "yes"},
		{"PASSPORT_NUMBER_FIELD", "p"},
		{"auth", "Container"},
		{"AUTH_TYPE", "basic"},
		{"REDIS_AUTH", "false"},
		{"AUTHOR", "me"},
		{"OAUTH_ENABLED", "true"},
		{"GOOGLE_APPLICATION_CREDENTIALS", "/etc/gcp/key.json"},
		{"ConnectionStrings__Default", "Server=db;Database=app;Integrated Security=true"},
		{"ConnectionStrings:Auth", "Server=db;Database=auth;Integrated Security=true"},
		{"SSO_AUTH", "https://sso.example.com/realms/corp"},
		{"spring.datasource.username", "app"},
		{"SECRETS_DIR", "/run/secrets"},
		{"K8S_SECRET_NAME", "db-creds"},
		// References to secrets kept elsewhere are not secrets.
		{"spring.datasource.password", "${DB_PASSWORD}"},
		{"DB_PASSWORD", "$DB_PASS"},
		{"DB_PASSWORD", "%DB_PASS%"},
		{"app.password", "#{environment['DB_PASSWORD']}"},
		{"DB_PASSWORD", ""},
		{"JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64"},
		{"PATH", "/usr/local/bin:/usr/bin"},
		{"LANG", "C.UTF-8"},
	}
	for _, tc := range notSecret {
		if got := ClassifySetting(tc.key, tc.value); len(got) != 0 {
			t.Errorf("ClassifySetting(%q, %q) = %+v, want no secret", tc.key, tc.value, got)
		}
	}
}

func TestClassifySettingByValue(t *testing.T) {
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name       string
		key, value string
		want       string // the secret's Value
		reason     string
	}{
		{"postgres URL", "DATABASE_URL", "postgres://app:s3cret@db.internal:5432/orders", "postgres://app:s3cret@db.internal:5432/orders", ReasonURLCredentials},
		{"redis URL password only", "REDIS_URL", "redis://:s3cret@cache:6379/0", "redis://:s3cret@cache:6379/0", ReasonURLCredentials},
		{"amqp URL", "spring.rabbitmq.addresses", "amqp://guest:guest@mq:5672/vhost", "amqp://guest:guest@mq:5672/vhost", ReasonURLCredentials},
		{"mongodb+srv", "spring.data.mongodb.uri", "mongodb+srv://u:p%40ss@cluster0.example.net/app", "mongodb+srv://u:p%40ss@cluster0.example.net/app", ReasonURLCredentials},
		{"mysql JDBC userinfo", "db.url", "jdbc:mysql://root:pw@db:3306/shop", "jdbc:mysql://root:pw@db:3306/shop", ReasonURLCredentials},
		{"jdbc password param", "spring.datasource.url", "jdbc:postgresql://db/app?user=app&password=s3cret&ssl=true", "jdbc:postgresql://db/app?user=app&password=s3cret&ssl=true", ReasonConnStringPasswd},
		{"sqlserver jdbc password", "url", "jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=Passw0rd!", "jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=Passw0rd!", ReasonConnStringPasswd},
		{"oracle thin user/pass", "url", "jdbc:oracle:thin:scott/tiger@//ora:1521/ORCL", "jdbc:oracle:thin:scott/tiger@//ora:1521/ORCL", ReasonURLCredentials},
		{"ado.net Password", "ConnectionStrings__Default", "Server=db;Database=app;User Id=sa;Password=Passw0rd!;", "Server=db;Database=app;User Id=sa;Password=Passw0rd!;", ReasonConnStringPasswd},
		{"ado.net Pwd", "ConnectionStrings:Shop", "Server=db;Uid=shop;Pwd=abc;", "Server=db;Uid=shop;Pwd=abc;", ReasonConnStringPasswd},
		{"quoted password", "cs", `Host=pg;Username=app;Password="a;b"`, `Host=pg;Username=app;Password="a;b"`, ReasonConnStringPasswd},
		{"JAAS", "spring.kafka.properties.sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="kpw";`, `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="kpw";`, ReasonConnStringPasswd},
		{"PEM in longer value", "CERTS", "cert\n" + pem + "\ntrailer", pem, ReasonPrivateKey},
		{"AWS access key id", "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", ReasonAWSAccessKey},
		{"AWS session key id", "some.key.id", "ASIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE", ReasonAWSAccessKey},
		{"AWS secret key with AWS name", "AWS_SECRET", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ReasonName},
		{"AWS secret key by value", "aws.credentials.sk", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ReasonAWSSecretKey},
		{"GitHub token", "SOME_VALUE", "ghp_" + strings.Repeat("a1B2", 9), "ghp_" + strings.Repeat("a1B2", 9), ReasonGitHubToken},
		{"Slack token", "NOTIFY", "xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij", ReasonSlackToken},
		{"Slack webhook", "HOOK", "https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/T000/B000/XXXX", ReasonSlackWebhook},
		{"JAVA_OPTS with -D password", "JAVA_OPTS", "-Xmx512m -Ddb.password=s3cret -Dfile.encoding=UTF-8", "s3cret", ReasonName},
		{"JAVA_OPTS with URL", "CATALINA_OPTS", "-Xmx1g -Ddb.url=postgres://u:pw@db/app -Dx=y", "postgres://u:pw@db/app", ReasonURLCredentials},
		{"JAVA_OPTS with jdbc password", "JAVA_OPTS", "-Xmx1g -Ddb.url=jdbc:postgresql://db/app?password=pw -Dx=y", "jdbc:postgresql://db/app?password=pw", ReasonConnStringPasswd},
		{"spring boot arg", "ARGS", "--server.port=8080 --spring.datasource.password=pw1", "pw1", ReasonName},
		{"redis options", "Redis", "cache:6379,password=pw,ssl=False", "cache:6379,password=pw,ssl=False", ReasonConnStringPasswd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifySetting(tc.key, tc.value)
			if len(got) != 1 {
				t.Fatalf("ClassifySetting(%q, %q) = %+v, want one secret", tc.key, tc.value, got)
			}
			if got[0].Value != tc.want || got[0].Reason != tc.reason || got[0].Key != tc.key {
				t.Errorf("got %+v, want Value %q Reason %q", got[0], tc.want, tc.reason)
			}
		})
	}
}

func TestClassifySettingValueNegatives(t *testing.T) {
	tests := []struct{ key, value string }{
		{"DATABASE_URL", "postgres://app@db:5432/orders"},
		{"DATABASE_URL", "postgres://db:5432/orders"},
		{"url", "jdbc:postgresql://db/app?user=app&ssl=true"},
		{"url", "jdbc:postgresql://db/app?password=${DB_PASSWORD}"},
		{"cs", "Server=db;Database=app;Integrated Security=true"},
		{"cs", "Server=db;Database=app;User Id=sa;Password=;"},
		{"HOME_PAGE", "https://example.com/login?next=/password-reset"},
		{"MAIL", "mailto:ops@example.com"},
		{"CONTACT", "http://example.com/u?email=a@b.com"},
		{"CERT", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
		{"ID", "AKIAshort"},
		{"AWS_REGION", "eu-west-1"},
		{"CHECKSUM", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{"JAVA_OPTS", "-Xmx512m -Dpassword.policy.enabled=true -Ddb.password=${DB_PASSWORD}"},
		{"LOG_PATTERN", "%d{yyyy-MM-dd HH:mm:ss} %-5level %logger{36} - %msg%n"},
	}
	for _, tc := range tests {
		if got := ClassifySetting(tc.key, tc.value); len(got) != 0 {
			t.Errorf("ClassifySetting(%q, %q) = %+v, want none", tc.key, tc.value, got)
		}
	}
}

func TestSplitWords(t *testing.T) {
	tests := map[string]string{
		"spring.datasource.password":   "spring datasource password",
		"dbPassword":                   "db password",
		"DBPassword":                   "db password",
		"X-Api-Key":                    "x api key",
		"ConnectionStrings__Default":   "connection strings default",
		"KEYBOARD_LAYOUT":              "keyboard layout",
		"password0":                    "password 0",
		"Resource[jdbc/Foo]/@password": "resource jdbc foo password",
	}
	for in, want := range tests {
		if got := strings.Join(splitWords(in), " "); got != want {
			t.Errorf("splitWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripCredentials(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/orders", "postgres://db:5432/orders"},
		{"redis://:pw@cache:6379", "redis://cache:6379"},
		{"jdbc:mysql://root:pw@db/shop?useSSL=false", "jdbc:mysql://db/shop?useSSL=false"},
		{"jdbc:postgresql://db/app?user=app&password=s3cret&ssl=true", "jdbc:postgresql://db/app?user=app&ssl=true"},
		{"jdbc:postgresql://db/app?password=s3cret&user=app", "jdbc:postgresql://db/app?user=app"},
		{"jdbc:postgresql://db/app?user=app&password=s3cret", "jdbc:postgresql://db/app?user=app"},
		{"jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=Passw0rd!", "jdbc:sqlserver://db:1433;databaseName=app;user=sa"},
		{"jdbc:sqlserver://db;password=x;databaseName=app", "jdbc:sqlserver://db;databaseName=app"},
		{"jdbc:oracle:thin:scott/tiger@//ora:1521/ORCL", "jdbc:oracle:thin:@//ora:1521/ORCL"},
		{"Server=db;Database=app;User Id=sa;Password=Passw0rd!;", "Server=db;Database=app;User Id=sa;"},
		{"Password=pw;Server=db", "Server=db"},
		{`Host=pg;Password="a;b";Database=x`, "Host=pg;Database=x"},
		{"Server=db; Pwd = abc ; Database=x", "Server=db; Database=x"},
		{"cache:6379,password=pw,ssl=False", "cache:6379,ssl=False"},
		{"http://example.com/x", "http://example.com/x"},
		// found by fuzzing: neighbouring pairs share a delimiter
		{"x PAssword=0;PAsswd=", "x "},
		{"Server=a;Password=1;Pwd=2", "Server=a"},
	}
	for _, tc := range tests {
		if got := StripCredentials(tc.in); got != tc.want {
			t.Errorf("StripCredentials(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	ph := func(s Secret) string {
		return "${" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s.Key)) + "}"
	}
	tests := []struct {
		name    string
		data    string
		secrets []Secret
		want    string
	}{
		{
			name:    "every occurrence",
			data:    "a.password=pw1\nb.password=pw1\n",
			secrets: []Secret{{Key: "a.password", Value: "pw1"}},
			want:    "a.password=${A_PASSWORD}\nb.password=${A_PASSWORD}\n",
		},
		{
			name: "longest first",
			data: "url=postgres://u:pw@db/x\npassword=pw\n",
			secrets: []Secret{
				{Key: "password", Value: "pw"},
				{Key: "url", Value: "postgres://u:pw@db/x"},
			},
			want: "url=${URL}\npassword=${PASSWORD}\n",
		},
		{
			name:    "empty values ignored",
			data:    "x=1",
			secrets: []Secret{{Key: "k", Value: ""}},
			want:    "x=1",
		},
		{
			name:    "no secrets",
			data:    "x=1",
			secrets: nil,
			want:    "x=1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Redact([]byte(tc.data), tc.secrets, ph)); got != tc.want {
				t.Errorf("Redact = %q, want %q", got, tc.want)
			}
		})
	}

	// A replacement that forms the secret again with its neighbours.
	got := Redact([]byte("aaX"), []Secret{{Key: "k", Value: "aX"}}, func(Secret) string { return "X" })
	if strings.Contains(string(got), "aX") {
		t.Errorf("Redact left the secret behind: %q", got)
	}
	// A placeholder containing a secret must not loop forever.
	got = Redact([]byte("e=1"), []Secret{{Key: "k", Value: "e"}}, func(Secret) string { return "[secret]" })
	if string(got) != "[secret]=1" {
		t.Errorf("Redact = %q, want %q", got, "[secret]=1")
	}
}
