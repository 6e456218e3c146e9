package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"path/filepath"
	"strings"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate/diff"
)

//go:embed report.css
var css string

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"highlight": func(lang, src string) template.HTML { return template.HTML(Highlight(lang, src)) },
	"bytes":     HumanBytes,
	"css":       func() template.CSS { return template.CSS(css) },
	"layers":    layerChart,
	"imageVs":   imageVsBaselines,
	"benchSize": benchSizeChart,
	"benchTime": benchTimeChart,
	"summary":   diff.Summary,
	"diffRows":  diffRows,
	"verdict":   func(s string) string { return strings.ReplaceAll(s, " ", "-") },
	"join":      strings.Join,
	"count":     func(r *Report, v string) int { return r.Count(v) },
	"add":       func(a, b int) int { return a + b },
}).Parse(pageTemplate))

// Render writes the report as one self-contained HTML page. The finished
// page goes through the masker once more, so a secret value that reached
// any field escaped or not is hidden all the same.
func Render(w io.Writer, r *Report, m *diff.Masker) error {
	var buf bytes.Buffer
	if err := page.Execute(&buf, r); err != nil {
		return fmt.Errorf("rendering the report: %w", err)
	}
	_, err := io.WriteString(w, m.String(buf.String()))
	return err
}

// Result says what Write wrote.
type Result struct {
	Path      string         `json:"path"`
	Apps      map[string]int `json:"apps"`
	Blocked   []string       `json:"blocked,omitempty"`
	Attention []string       `json:"attention,omitempty"`
	Ready     []string       `json:"ready,omitempty"`
}

// Path is where the report for these apps goes by default: WORKSPACE/
// report.html for the whole workspace, APP/report.html for one app.
func Path(ws discover.Workspace, ids []string) string {
	if len(ids) == 1 {
		return filepath.Join(ws.AppDir(ids[0]), "report.html")
	}
	return filepath.Join(ws.Dir, "report.html")
}

// Write builds the report and writes it to out (Path when empty).
func Write(o Options, out string) (*Result, error) {
	r, m, err := Build(o)
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = Path(o.Workspace, o.IDs)
	}
	var buf bytes.Buffer
	if err := Render(&buf, r, m); err != nil {
		return nil, err
	}
	if err := discover.WriteFileAtomic(out, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("writing the report to %s: %w", out, err)
	}
	res := &Result{Path: out, Apps: map[string]int{Ready: 0, Attention: 0, Blocked: 0}}
	for _, a := range r.Apps {
		res.Apps[a.Fitness]++
		switch a.Fitness {
		case Blocked:
			res.Blocked = append(res.Blocked, a.ID)
		case Attention:
			res.Attention = append(res.Attention, a.ID)
		default:
			res.Ready = append(res.Ready, a.ID)
		}
	}
	return res, nil
}

// layerChart draws the app's image layers.
func layerChart(a *App) template.HTML {
	var bars []Bar
	for _, l := range a.Layers {
		bars = append(bars, Bar{Label: l.Name, Value: float64(l.Size), Note: fmt.Sprintf("%s, %d files", HumanBytes(l.Size), l.Files)})
	}
	return template.HTML(BarChart("Image layers of "+a.ID, bars, bytesFmt))
}

// imageVsBaselines stacks the app's layers against the baselines
// hoist-bench measured (unpacked sizes).
func imageVsBaselines(a *App, b *Bench) template.HTML {
	if b == nil || len(a.Layers) == 0 {
		return ""
	}
	var segs []Segment
	for _, l := range a.Layers {
		segs = append(segs, Segment{Label: l.Name, Value: float64(l.Size)})
	}
	label := a.ID + " (this image)"
	if !a.LayersComplete {
		label = a.ID + " (app layers only, no runtime yet)"
	}
	bars := []Bar{{Label: label, Segments: segs}}
	for _, r := range b.Results {
		if strings.HasPrefix(r.Metric, "image size, unpacked") && r.BaselineValue > 0 {
			name, _, _ := strings.Cut(r.Baseline, ":")
			bars = append(bars, Bar{Label: "baseline: " + name + " (hoist-bench)", Value: r.BaselineValue, Class: "baseline"})
		}
	}
	if len(bars) == 1 {
		return ""
	}
	return template.HTML(BarChart("Image of "+a.ID+" against the baselines, unpacked", bars, bytesFmt))
}

func benchSizeChart(b *Bench) template.HTML {
	var bars []Bar
	hoistDone := map[string]bool{}
	for _, r := range b.Results {
		if !strings.HasPrefix(r.Metric, "image size") {
			continue
		}
		kind := strings.TrimPrefix(r.Metric, "image size, ")
		if !hoistDone[kind] {
			hoistDone[kind] = true
			bars = append(bars, Bar{Label: "hoist, " + kind, Value: r.Value})
		}
		if r.BaselineValue > 0 {
			name, _, _ := strings.Cut(r.Baseline, ":")
			bars = append(bars, Bar{Label: name + ", " + kind, Value: r.BaselineValue, Class: "baseline"})
		}
	}
	if len(bars) == 0 {
		return ""
	}
	return template.HTML(BarChart("Image sizes against the baselines", bars, bytesFmt))
}

func benchTimeChart(b *Bench) template.HTML {
	var bars []Bar
	for _, r := range b.Results {
		if !strings.HasSuffix(r.Hoist, " s") && !strings.Contains(r.Hoist, ": ") {
			continue
		}
		if strings.HasPrefix(r.Metric, "image size") || strings.HasPrefix(r.Metric, "layers") {
			continue
		}
		label := r.Metric
		if strings.HasPrefix(r.Metric, "start to") {
			label += ", container"
		}
		bars = append(bars, Bar{Label: label, Value: r.Value})
		if r.BaselineValue > 0 && strings.HasPrefix(r.Metric, "start to") {
			bars = append(bars, Bar{Label: r.Metric + ", host process", Value: r.BaselineValue, Class: "baseline"})
		}
	}
	if len(bars) == 0 {
		return ""
	}
	return template.HTML(BarChart("Build and start times", bars, secondsFmt))
}

// diffRows renders one file's hunks as table rows.
func diffRows(f diff.FileDiff) template.HTML {
	var b strings.Builder
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprint(n)
	}
	for _, h := range f.Hunks {
		fmt.Fprintf(&b, `<tr class="hunk"><td></td><td></td><td>%s</td></tr>`, html.EscapeString(h.Header()))
		for _, e := range h.Edits {
			cls := "ctx"
			switch e.Op {
			case diff.Delete:
				cls = "del"
			case diff.Insert:
				cls = "ins"
			}
			fmt.Fprintf(&b, `<tr class="%s"><td class="ln">%s</td><td class="ln">%s</td><td>%s%s</td></tr>`, cls, num(e.Old), num(e.New), e.Op.String(), html.EscapeString(e.Line))
		}
	}
	return template.HTML(markSecretsHTML(b.String()))
}

// markSecretsHTML gives masks in already escaped HTML their class.
func markSecretsHTML(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "[secret ")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], " hidden]")
		if j < 0 {
			break
		}
		j += i + len(" hidden]")
		b.WriteString(s[:i])
		b.WriteString(`<span class="x">` + s[i:j] + `</span>`)
		s = s[j:]
	}
	b.WriteString(s)
	return b.String()
}

// WriteFile is a helper for tests and tools: the report as a string.
func renderString(r *Report, m *diff.Masker) (string, error) {
	var buf bytes.Buffer
	err := Render(&buf, r, m)
	return buf.String(), err
}
