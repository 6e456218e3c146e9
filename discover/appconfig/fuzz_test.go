package appconfig

import (
	"encoding/json"
	"strings"
	"testing"
)

// fuzzParse checks, for any input, that Parse does not panic, that errors
// say what was being parsed, and that no secret it finds leaks into the
// parts of File that are written to analysis.json or survives Redact.
func fuzzParse(f *testing.F, kind Kind) {
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(kind, data)
		if err != nil {
			if file != nil {
				t.Fatalf("Parse returned both a file and error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "parsing ") {
				t.Fatalf("error %q does not say what was being parsed", err)
			}
			return
		}
		checkInvariants(t, file, data)
		for _, s := range file.Secrets {
			if !strings.Contains(string(data), s.Value) {
				found := false
				for _, w := range file.Warnings {
					if strings.Contains(w, s.Key) {
						found = true
					}
				}
				if !found {
					t.Errorf("secret %s is not in the file and no warning says so", s.Key)
				}
			}
		}
		if _, err := json.Marshal(file); err != nil {
			t.Fatalf("File does not marshal: %v", err)
		}
	})
}

func FuzzParseServerXML(f *testing.F)   { fuzzParse(f, KindTomcatServer) }
func FuzzParseContextXML(f *testing.F)  { fuzzParse(f, KindTomcatContext) }
func FuzzParseTomcatUsers(f *testing.F) { fuzzParse(f, KindTomcatUsers) }
func FuzzParseProperties(f *testing.F)  { fuzzParse(f, KindSpringProps) }
func FuzzParseYAML(f *testing.F)        { fuzzParse(f, KindSpringYAML) }
func FuzzParseAppSettings(f *testing.F) { fuzzParse(f, KindAppSettingsJSON) }
func FuzzParseWebConfig(f *testing.F)   { fuzzParse(f, KindWebConfig) }

func FuzzParseEndpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		ep, ok := ParseEndpoint(s)
		if ok {
			if ep.Host == "" || ep.Service == "" {
				t.Fatalf("ParseEndpoint(%q) = %+v: recognised without host or service", s, ep)
			}
			if ep.Port < 0 || ep.Port > 65535 {
				t.Fatalf("ParseEndpoint(%q): port %d", s, ep.Port)
			}
			if ep.Source != "" {
				t.Fatalf("ParseEndpoint(%q) set Source", s)
			}
		} else if ep != (Endpoint{}) {
			t.Fatalf("ParseEndpoint(%q) = %+v, false: want the zero Endpoint", s, ep)
		}
		stripped := StripCredentials(s)
		if len(stripped) > len(s) {
			t.Fatalf("StripCredentials(%q) = %q grew", s, stripped)
		}
	})
}

func FuzzClassifySetting(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value string) {
		secrets := ClassifySetting(key, value)
		for _, s := range secrets {
			if s.Value == "" || !strings.Contains(value, s.Value) {
				t.Fatalf("ClassifySetting(%q, %q): secret %q is not part of the value", key, value, s.Value)
			}
			if s.Key != key || s.Reason == "" {
				t.Fatalf("ClassifySetting(%q, %q): secret %+v", key, value, s)
			}
		}
		out := string(Redact([]byte(value), secrets, func(Secret) string { return "\x00" }))
		for _, s := range secrets {
			if !strings.Contains("\x00", s.Value) && strings.Contains(out, s.Value) {
				t.Fatalf("Redact(%q) = %q still holds %q", value, out, s.Value)
			}
		}
		// A value whose credentials are stripped is no longer a secret
		// by its credentials.
		for _, s := range secrets {
			if s.Reason == ReasonURLCredentials || s.Reason == ReasonConnStringPasswd {
				for _, again := range ClassifySetting("x", StripCredentials(value)) {
					if again.Reason == s.Reason {
						t.Fatalf("StripCredentials(%q) = %q still has %s", value, StripCredentials(value), s.Reason)
					}
				}
			}
		}
	})
}
