// Package schedule reads EventBridge schedule expressions — cron(...),
// rate(...) and at(...) — and says when they next fire (in UTC).
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Expression is a parsed schedule expression.
type Expression interface {
	// Next is the first firing time strictly after t; zero when none.
	Next(t time.Time) time.Time
	String() string
}

// Parse reads cron(min hour dom month dow year), rate(N unit) or
// at(yyyy-mm-ddThh:mm:ss). Units are minute(s), hour(s), day(s) as in AWS,
// and second(s) as a local extension for quick loops.
func Parse(expr string) (Expression, error) {
	e := strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(e, "rate(") && strings.HasSuffix(e, ")"):
		return parseRate(expr, e[5:len(e)-1])
	case strings.HasPrefix(e, "cron(") && strings.HasSuffix(e, ")"):
		return parseCron(expr, e[5:len(e)-1])
	case strings.HasPrefix(e, "at(") && strings.HasSuffix(e, ")"):
		t, err := time.Parse("2006-01-02T15:04:05", e[3:len(e)-1])
		if err != nil {
			return nil, fmt.Errorf("schedule %q: at() takes yyyy-mm-ddThh:mm:ss (UTC)", expr)
		}
		return at{t.UTC(), expr}, nil
	}
	return nil, fmt.Errorf("schedule %q: use cron(minutes hours day-of-month month day-of-week year), rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss)", expr)
}

type at struct {
	t   time.Time
	src string
}

func (a at) Next(t time.Time) time.Time {
	if a.t.After(t) {
		return a.t
	}
	return time.Time{}
}
func (a at) String() string { return a.src }

type rate struct {
	every time.Duration
	src   string
}

// Rates fire on multiples of the period since the Unix epoch, so every
// restart of the runtime keeps the same rhythm.
func (r rate) Next(t time.Time) time.Time {
	n := t.UnixNano()/int64(r.every) + 1
	return time.Unix(0, n*int64(r.every)).UTC()
}
func (r rate) String() string { return r.src }

func parseRate(src, body string) (Expression, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return nil, fmt.Errorf("schedule %q: rate(VALUE UNIT), such as rate(5 minutes)", src)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return nil, fmt.Errorf("schedule %q: rate value %q must be a positive whole number", src, f[0])
	}
	unit := map[string]time.Duration{
		"second": time.Second, "seconds": time.Second, "minute": time.Minute, "minutes": time.Minute,
		"hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}[f[1]]
	if unit == 0 {
		return nil, fmt.Errorf("schedule %q: rate unit %q: minute(s), hour(s), day(s) or second(s)", src, f[1])
	}
	if (n == 1) != !strings.HasSuffix(f[1], "s") {
		return nil, fmt.Errorf("schedule %q: write rate(1 %s) or rate(%d %ss), as AWS requires", src, strings.TrimSuffix(f[1], "s"), max(n, 2), strings.TrimSuffix(f[1], "s"))
	}
	return rate{time.Duration(n) * unit, src}, nil
}

type cron struct {
	min, hour, dom, month, dow, year []bool
	domAny, dowAny                   bool
	src                              string
}

var months = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var days = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

func parseCron(src, body string) (Expression, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("schedule %q: cron() takes six fields: minutes hours day-of-month month day-of-week year", src)
	}
	c := &cron{src: src}
	var err error
	fields := []struct {
		name     string
		s        string
		lo, hi   int
		names    map[string]int
		dst      *[]bool
		question bool
	}{
		{"minutes", f[0], 0, 59, nil, &c.min, false},
		{"hours", f[1], 0, 23, nil, &c.hour, false},
		{"day-of-month", f[2], 1, 31, nil, &c.dom, true},
		{"month", f[3], 1, 12, months, &c.month, false},
		{"day-of-week", f[4], 1, 7, days, &c.dow, true},
		{"year", f[5], 1970, 2199, nil, &c.year, false},
	}
	for _, fl := range fields {
		if fl.s == "?" {
			if !fl.question {
				return nil, fmt.Errorf("schedule %q: '?' only fits day-of-month or day-of-week", src)
			}
			*fl.dst = nil
			continue
		}
		if *fl.dst, err = parseField(fl.s, fl.lo, fl.hi, fl.names); err != nil {
			return nil, fmt.Errorf("schedule %q: %s: %v", src, fl.name, err)
		}
	}
	c.domAny, c.dowAny = f[2] == "?", f[4] == "?"
	if c.domAny == c.dowAny {
		return nil, fmt.Errorf("schedule %q: exactly one of day-of-month and day-of-week must be '?'", src)
	}
	return c, nil
}

func parseField(s string, lo, hi int, names map[string]int) ([]bool, error) {
	set := make([]bool, hi+1)
	for _, part := range strings.Split(s, ",") {
		step := 1
		if b, st, ok := strings.Cut(part, "/"); ok {
			n, err := strconv.Atoi(st)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("step %q", st)
			}
			part, step = b, n
		}
		from, to := lo, hi
		switch {
		case part == "*":
		case strings.ContainsAny(part, "LW#"):
			return nil, fmt.Errorf("%q: L, W and # are not supported by the local runtime", part)
		default:
			a, b, isRange := strings.Cut(part, "-")
			var err error
			if from, err = value(a, names); err != nil {
				return nil, err
			}
			to = from
			if isRange {
				if to, err = value(b, names); err != nil {
					return nil, err
				}
			} else if step > 1 {
				to = hi
			}
		}
		if from < lo || to > hi || from > to {
			return nil, fmt.Errorf("%q is outside %d-%d", part, lo, hi)
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

func value(s string, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

func (c *cron) String() string { return c.src }

func (c *cron) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	end := t.AddDate(5, 0, 0)
	for t.Before(end) {
		if t.Year() >= len(c.year) || !c.year[t.Year()] {
			t = time.Date(t.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
			if t.Year() >= len(c.year) {
				return time.Time{}
			}
			continue
		}
		if !c.month[int(t.Month())] {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		dayOK := (c.domAny || c.dom[t.Day()]) && (c.dowAny || c.dow[int(t.Weekday())+1])
		if !dayOK {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.hour[t.Hour()] {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, time.UTC)
			continue
		}
		if !c.min[t.Minute()] {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}
