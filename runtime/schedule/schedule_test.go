package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	base := time.Date(2026, 11, 23, 13, 7, 30, 0, time.UTC) // a Monday
	for _, tc := range []struct {
		expr string
		want string
	}{
		{"rate(5 minutes)", "2026-11-23T13:10:00Z"},
		{"rate(1 hour)", "2026-11-23T14:00:00Z"},
		{"rate(10 seconds)", "2026-11-23T13:07:40Z"},
		{"cron(0 12 * * ? *)", "2026-11-24T12:00:00Z"},
		{"cron(15 13 ? * MON-FRI *)", "2026-11-23T13:15:00Z"},
		{"cron(0/20 * * * ? *)", "2026-11-23T13:20:00Z"},
		{"cron(0 8 1 * ? *)", "2026-12-01T08:00:00Z"},
		{"cron(0 0 ? * SUN *)", "2026-11-29T00:00:00Z"},
		{"cron(30 9 29 FEB ? *)", "2028-02-29T09:30:00Z"},
		{"cron(0 10 ? * 2,6 2026)", "2026-11-27T10:00:00Z"},
		{"at(2026-12-24T18:00:00)", "2026-12-24T18:00:00Z"},
		{"at(2020-01-01T00:00:00)", ""},
		{"cron(0 0 1 1 ? 2020)", ""},
	} {
		e, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got := ""
		if n := e.Next(base); !n.IsZero() {
			got = n.Format(time.RFC3339)
		}
		if got != tc.want {
			t.Errorf("%s after %s: %s, want %s", tc.expr, base.Format(time.RFC3339), got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"every 5 minutes":      "use cron(",
		"rate(5 minute)":       "rate(5 minutes)",
		"rate(1 minutes)":      "rate(1 minute)",
		"rate(0 minutes)":      "positive",
		"rate(5 weeks)":        "unit",
		"cron(0 12 * * *)":     "six fields",
		"cron(0 12 * * * *)":   "exactly one",
		"cron(0 12 ? * ? *)":   "exactly one",
		"cron(61 12 * * ? *)":  "outside",
		"cron(0 12 L * ? *)":   "not supported",
		"cron(0 12 ? * 2#1 *)": "not supported",
		"cron(0 12 * FOO ? *)": "not a number",
		"at(tomorrow)":         "yyyy-mm-dd",
		"cron(0 ? * * ? *)":    "'?' only",
		"cron(0/0 12 * * ? *)": "step",
	} {
		_, err := Parse(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", expr, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"rate(5 minutes)", "cron(0 12 * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)", "at(2026-01-01T00:00:00)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if n := e.Next(base); !n.IsZero() && !n.After(base) {
			t.Errorf("%s: next %s is not after %s", s, n, base)
		}
	})
}
