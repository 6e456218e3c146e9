package generate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // schedules name IANA zones; do not depend on the host's zoneinfo
)

// Cron is the schedule in the five-field cron form Kubernetes CronJobs and
// the local runtime use. Notes say what the five fields cannot express
// (a year, a rate that does not divide an hour or a day evenly).
func (s *Schedule) Cron() (cron string, notes []string, err error) {
	return ParseScheduleExpression(s.Expression, false)
}

var (
	cronExprRe = regexp.MustCompile(`^cron\((.*)\)$`)
	rateExprRe = regexp.MustCompile(`^rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)$`)
	atExprRe   = regexp.MustCompile(`^at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\)$`)
	cronFldRe  = regexp.MustCompile(`^[0-9A-Za-z*?,/#LW-]+$`)
)

var dayNames = map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

// ParseScheduleExpression checks an EventBridge schedule expression
// (cron(...) with six fields, or rate(...); at(...) only when allowAt) and
// translates it to five-field cron. An at() expression has no cron form and
// returns "".
func ParseScheduleExpression(expr string, allowAt bool) (string, []string, error) {
	if atExprRe.MatchString(expr) {
		if !allowAt {
			return "", nil, fmt.Errorf("%q: at() runs once; use cron() or rate()", expr)
		}
		if _, err := time.Parse("2006-01-02T15:04:05", expr[3:len(expr)-1]); err != nil {
			return "", nil, fmt.Errorf("%q: %v", expr, err)
		}
		return "", nil, nil
	}
	if m := rateExprRe.FindStringSubmatch(expr); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 || n > 100000 {
			return "", nil, fmt.Errorf("%q: the rate must be a positive number", expr)
		}
		unit := strings.TrimSuffix(m[2], "s")
		if (n == 1) != (m[2] == unit) {
			return "", nil, fmt.Errorf("%q: EventBridge wants %q for 1 and the plural otherwise", expr, unit)
		}
		var notes []string
		switch unit {
		case "minute":
			if n == 1 {
				return "* * * * *", nil, nil
			}
			if n < 60 {
				if 60%n != 0 {
					notes = append(notes, fmt.Sprintf("%s restarts its count every hour in cron form (*/%d)", expr, n))
				}
				return fmt.Sprintf("*/%d * * * *", n), notes, nil
			}
			if n%60 == 0 {
				return rateHours(expr, n/60)
			}
			return "", nil, fmt.Errorf("%q: every %d minutes has no cron form; use a divisor or multiple of 60", expr, n)
		case "hour":
			return rateHours(expr, n)
		default:
			if n == 1 {
				return "0 0 * * *", nil, nil
			}
			notes = append(notes, fmt.Sprintf("%s restarts its count every month in cron form (*/%d)", expr, n))
			if n > 31 {
				return "", nil, fmt.Errorf("%q: every %d days has no cron form", expr, n)
			}
			return fmt.Sprintf("0 0 */%d * *", n), notes, nil
		}
	}
	m := cronExprRe.FindStringSubmatch(expr)
	if m == nil {
		return "", nil, fmt.Errorf("%q is neither cron(...) nor rate(N minutes|hours|days)", expr)
	}
	f := strings.Fields(m[1])
	if len(f) != 6 {
		return "", nil, fmt.Errorf("%q: cron() takes six fields (minutes hours day-of-month month day-of-week year), got %d", expr, len(f))
	}
	for i, v := range f {
		if !cronFldRe.MatchString(v) {
			return "", nil, fmt.Errorf("%q: field %d (%s) holds characters cron does not allow", expr, i+1, v)
		}
	}
	if (f[2] == "?") == (f[4] == "?") {
		return "", nil, fmt.Errorf("%q: exactly one of day-of-month and day-of-week must be '?'", expr)
	}
	if err := checkRange(f[0], 0, 59, "minutes"); err != nil {
		return "", nil, fmt.Errorf("%q: %v", expr, err)
	}
	if err := checkRange(f[1], 0, 23, "hours"); err != nil {
		return "", nil, fmt.Errorf("%q: %v", expr, err)
	}
	var notes []string
	for i, v := range f[:5] {
		if strings.ContainsAny(v, "LW#") {
			return "", nil, fmt.Errorf("%q: field %d (%s) uses L, W or #, which five-field cron cannot express; use explicit days", expr, i+1, v)
		}
	}
	if f[5] != "*" {
		notes = append(notes, fmt.Sprintf("%s: the year field %s has no cron form; the five-field schedule runs every year", expr, f[5]))
	}
	dom := f[2]
	if dom == "?" {
		dom = "*"
	}
	dow := f[4]
	if dow == "?" {
		dow = "*"
	} else {
		conv, err := convertDow(dow)
		if err != nil {
			return "", nil, fmt.Errorf("%q: %v", expr, err)
		}
		dow = conv
	}
	return strings.Join([]string{f[0], f[1], dom, f[3], dow}, " "), notes, nil
}

func rateHours(expr string, n int) (string, []string, error) {
	if n == 1 {
		return "0 * * * *", nil, nil
	}
	if n < 24 {
		var notes []string
		if 24%n != 0 {
			notes = append(notes, fmt.Sprintf("%s restarts its count every day in cron form (*/%d)", expr, n))
		}
		return fmt.Sprintf("0 */%d * * *", n), notes, nil
	}
	if n%24 == 0 {
		days := n / 24
		if days == 1 {
			return "0 0 * * *", nil, nil
		}
		if days <= 31 {
			return fmt.Sprintf("0 0 */%d * *", days), []string{fmt.Sprintf("%s restarts its count every month in cron form", expr)}, nil
		}
	}
	return "", nil, fmt.Errorf("%q: every %d hours has no cron form", expr, n)
}

// checkRange checks the numbers of a minutes or hours field.
func checkRange(field string, lo, hi int, what string) error {
	for _, part := range strings.Split(field, ",") {
		part, _, _ = strings.Cut(part, "/")
		for _, n := range strings.Split(part, "-") {
			if n == "*" || n == "" {
				continue
			}
			v, err := strconv.Atoi(n)
			if err != nil || v < lo || v > hi {
				return fmt.Errorf("%s field %q: %s is not %d to %d", what, field, n, lo, hi)
			}
		}
	}
	return nil
}

// convertDow turns EventBridge days of week (1-7 = SUN-SAT, or names) into
// cron's (0-6 = SUN-SAT).
func convertDow(field string) (string, error) {
	var out []string
	for _, part := range strings.Split(field, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		var ends []string
		for _, e := range strings.Split(rng, "-") {
			if e == "*" {
				ends = append(ends, e)
				continue
			}
			if v, ok := dayNames[strings.ToUpper(e)]; ok {
				ends = append(ends, strconv.Itoa(v))
				continue
			}
			v, err := strconv.Atoi(e)
			if err != nil || v < 1 || v > 7 {
				return "", fmt.Errorf("day-of-week %q: %s is not 1-7 or SUN-SAT", field, e)
			}
			ends = append(ends, strconv.Itoa(v-1))
		}
		s := strings.Join(ends, "-")
		if hasStep {
			s += "/" + step
		}
		out = append(out, s)
	}
	return strings.Join(out, ","), nil
}

func validTimezone(tz string) bool {
	if tz == "" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}
