package extract

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/appconfig"
)

// TestRedactConfigRoundTrip redacts config files the way Extract does and
// checks that no secret is left and that rendering gives back exactly what
// the application reads, whatever quoting or escaping the file uses.
func TestRedactConfigRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		kind appconfig.Kind
		data string
	}{
		{"properties escapes", appconfig.KindSpringProps, "db.password=pa\\:ss\\u00e9word\napi.token = tokenval99\n# api.token=tokenval99 in a comment\n"},
		{"properties leading space", appconfig.KindJavaProperties, "store.password=\\ spaced-secret\\\\x\n"},
		{"json escapes", appconfig.KindAppSettingsJSON, `{"ConnectionStrings":{"Db":"Server=x;Password=p\u0041ss-1234;"},"ApiKey":"k\"ey-5678\\n"}`},
		{"xml entities", appconfig.KindTomcatUsers, `<tomcat-users><user username="a" password="p&amp;w&lt;x&quot;9"/></tomcat-users>`},
		{"web.config", appconfig.KindWebConfig, `<configuration><connectionStrings><add name="Db" connectionString="Server=db;User Id=u;Password=wc-secret-42;"/></connectionStrings><appSettings><add key="Api.Key" value="wc-api-key-43"/></appSettings></configuration>`},
		{"yaml plain", appconfig.KindSpringYAML, "spring:\n  datasource:\n    password: plainSecret1   # the db password\n    url: postgres://u:urlpass99@db.example/x\n"},
		{"yaml quoted", appconfig.KindSpringYAML, "a:\n  token: \"dq\\\"Secret\\\\1\"\n  secret: 'sq''Secret2'\n"},
		{"yaml block", appconfig.KindSpringYAML, "app:\n  apikey: |\n    blockSecret3\n  other: 1\n"},
		{"yaml multiline block", appconfig.KindSpringYAML, "app:\n  private-key: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n    -----END PRIVATE KEY-----\n  other: 1\n"},
		{"yaml flow", appconfig.KindSpringYAML, "db: {user: u, password: flowSecret4}\n"},
		{"yaml profiles", appconfig.KindSpringYAML, "spring:\n  datasource:\n    password: devSecret5\n---\nspring:\n  config:\n    activate:\n      on-profile: prod\n  datasource:\n    password: prodSecret6\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := appconfig.Parse(c.kind, []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Secrets) == 0 {
				t.Fatalf("no secrets found in the test input")
			}
			values := discover.Secrets{}
			var locs []discover.SecretLocation
			for _, s := range f.Secrets {
				ref := "app/config/x#" + s.Key
				if old, ok := values[ref]; ok && old != s.Plain() {
					ref += "#2"
				}
				values[ref] = s.Plain()
				locs = append(locs, discover.SecretLocation{Key: s.Key, Ref: ref})
			}
			out, secrets, _, err := redactConfig("/x", c.kind, []byte(c.data), locs, values, "app")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range f.Secrets {
				if bytes.Contains(out, []byte(s.Value)) || bytes.Contains(out, []byte(s.Plain())) {
					t.Errorf("secret %s (%q) left in:\n%s", s.Key, s.Plain(), out)
				}
			}
			if len(secrets) == 0 || !bytes.Contains(out, []byte("{{hoist-secret:")) {
				t.Fatalf("nothing redacted:\n%s", out)
			}
			// Where YAML would read "{{" as a flow mapping, the placeholder
			// is quoted.
			if c.kind == appconfig.KindSpringYAML && bytes.Contains(out, []byte(": {{hoist-secret:")) {
				t.Errorf("unquoted placeholder at the start of a scalar:\n%s", out)
			}
			rendered, err := Render(out, secrets, values)
			if err != nil {
				t.Fatal(err)
			}
			back, err := appconfig.Parse(c.kind, rendered)
			if err != nil {
				t.Fatalf("rendered file does not parse: %v\n%s", err, rendered)
			}
			for i, s := range f.Secrets {
				if back.Secrets[i].Key != s.Key || back.Secrets[i].Plain() != s.Plain() {
					t.Errorf("rendered %s = %q, want %q", s.Key, back.Secrets[i].Plain(), s.Plain())
				}
			}
		})
	}
}

// A redaction that would change what the app reads is refused, naming the
// file, rather than archived.
func TestRedactConfigRefusesWhatItCannotRender(t *testing.T) {
	// The secret starts a plain scalar that goes on after it: quoting the
	// placeholder alone would change the value.
	data := "app:\n  password: hunter22 and more\n"
	f, err := appconfig.Parse(appconfig.KindSpringYAML, []byte(data))
	if err != nil || len(f.Secrets) == 0 {
		t.Skipf("the parser does not see this as a secret (%v)", err)
	}
	values := discover.Secrets{}
	var locs []discover.SecretLocation
	for _, s := range f.Secrets {
		values["r#"+s.Key] = s.Plain()
		locs = append(locs, discover.SecretLocation{Key: s.Key, Ref: "r#" + s.Key})
	}
	out, _, _, err := redactConfig("/srv/app/application.yml", appconfig.KindSpringYAML, []byte(data), locs, values, "app")
	if err == nil {
		// Redacting the whole scalar is fine too, as long as it renders back.
		if bytes.Contains(out, []byte("hunter22")) {
			t.Errorf("secret left in %s", out)
		}
		return
	}
	if !strings.Contains(err.Error(), "/srv/app/application.yml") {
		t.Errorf("err = %v, want it to name the file", err)
	}
}

func TestEncodeSecret(t *testing.T) {
	for _, c := range []struct {
		enc, in, want string
	}{
		{EncodingVerbatim, `a"b\c`, `a"b\c`},
		{EncodingProperties, " a\\b\né", `\ a\\b\n\u00e9`},
		{EncodingJSON, "a\"b\\c\n<", `a\"b\\c\n<`},
		{EncodingXML, `a&b<c"d'`, `a&amp;b&lt;c&quot;d&apos;`},
		{EncodingYAMLDouble, "a\"b\\c\n", `a\"b\\c\n`},
		{EncodingYAMLSingle, "it's", "it''s"},
	} {
		got, err := EncodeSecret(RedactedSecret{Ref: "r", Encoding: c.enc}, c.in)
		if err != nil || got != c.want {
			t.Errorf("%s(%q) = %q, %v; want %q", c.enc, c.in, got, err, c.want)
		}
	}
	if got, _ := EncodeSecret(RedactedSecret{Encoding: EncodingYAMLBlock, Indent: 4}, "l1\nl2\n"); got != "l1\n    l2" {
		t.Errorf("yaml block: %q", got)
	}
	if _, err := EncodeSecret(RedactedSecret{Encoding: "rot13"}, "x"); err == nil {
		t.Errorf("unknown encoding accepted")
	}
	if _, err := Render([]byte("x={{hoist-secret:a/b}}"), []RedactedSecret{{Ref: "a/b", Encoding: EncodingVerbatim}}, nil); err == nil || !strings.Contains(err.Error(), "a/b") {
		t.Errorf("rendering without a value: %v", err)
	}
}

func TestScannerSkipsPlaceholders(t *testing.T) {
	// A secret value that also occurs inside a reference ("orders") must
	// not be replaced inside the placeholder.
	s := newScanner([]secretValue{{ref: "app/config/srv/orders/a.yml#pw", value: []byte("orders"), encoding: EncodingVerbatim}})
	in := []byte("x=" + Placeholder("app/config/srv/orders/a.yml#pw") + " y=orders")
	out, occ := s.redact(in)
	want := "x=" + Placeholder("app/config/srv/orders/a.yml#pw") + " y=" + Placeholder("app/config/srv/orders/a.yml#pw")
	if string(out) != want || len(occ) != 1 {
		t.Errorf("got %s (%d), want %s", out, len(occ), want)
	}
	if short := newScanner([]secretValue{{ref: "r", value: []byte("abc")}}); len(short.vals) != 0 {
		t.Errorf("values shorter than %d bytes must not be scanned for", minScanLen)
	}
}

func TestSecretsInAnalysisValues(t *testing.T) {
	s := newScanner([]secretValue{
		{ref: "a/env/SHORT", value: []byte("orders")},
		{ref: "a/env/LONG", value: []byte("long-secret-value")},
	})
	doc := `{"path": "/srv/orders/app.jar", "env": [{"name": "X", "value": "orders"}], "cmd": ["--token=long-secret-value"]}`
	got := s.inJSONValues([]byte(doc))
	if strings.Join(got, ",") != "a/env/LONG,a/env/SHORT" {
		t.Errorf("got %v", got)
	}
	if got := s.inJSONValues([]byte(`{"path": "/srv/orders/app.jar", "orders": 1}`)); len(got) != 0 {
		t.Errorf("a short secret inside a path or a key was flagged: %v", got)
	}
}
