package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Bar is one row of a horizontal bar chart. A row with Segments draws them
// stacked (Value is then their sum).
type Bar struct {
	Label    string
	Value    float64
	Class    string // CSS class of the bar: hoist, baseline, ...
	Segments []Segment
	// Note is printed after the bar instead of the formatted value.
	Note string
}

// Segment is one part of a stacked bar.
type Segment struct {
	Label string
	Value float64
}

// palette colours stacked segments in turn (also used in the legend).
var palette = []string{"#2f6fb0", "#3f9b6e", "#d08a2c", "#9a5bb5", "#c4504b", "#4aa3b5", "#7a7f2e", "#b5657a"}

// BarChart draws an inline SVG horizontal bar chart. Labels are escaped;
// format prints a value in the chart's unit. The SVG has a title and a
// description for screen readers and scales to the page's width.
func BarChart(title string, bars []Bar, format func(float64) string) string {
	const (
		width  = 760.0
		valueW = 150.0
		rowH   = 26.0
		barH   = 16.0
		top    = 8.0
	)
	// The label column fits the longest label (about 6.6 px a character
	// at 12 px), within limits that leave the bars room.
	longest := 0
	for _, b := range bars {
		longest = max(longest, len([]rune(b.Label)))
	}
	labelW := math.Min(400, math.Max(140, float64(longest)*6.6+12))
	maxV := 0.0
	for _, b := range bars {
		v := b.Value
		if len(b.Segments) > 0 {
			v = 0
			for _, s := range b.Segments {
				v += s.Value
			}
		}
		maxV = math.Max(maxV, v)
	}
	if maxV <= 0 {
		maxV = 1
	}
	plotW := width - labelW - valueW
	// Legend rows for the segments of stacked bars.
	var legend []string
	seen := map[string]int{}
	for _, b := range bars {
		for _, s := range b.Segments {
			if _, ok := seen[s.Label]; !ok {
				seen[s.Label] = len(legend)
				legend = append(legend, s.Label)
			}
		}
	}
	legendRows := (len(legend) + 2) / 3
	height := top + float64(len(bars))*rowH + 8 + float64(legendRows)*20
	var b strings.Builder
	fmt.Fprintf(&b, `<figure><figcaption>%s</figcaption>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %.0f %.0f" xmlns="http://www.w3.org/2000/svg" aria-labelledby="%s">`, width, height, "t"+chartID(title))
	fmt.Fprintf(&b, `<title id="t%s">%s</title>`, chartID(title), html.EscapeString(title))
	for i, bar := range bars {
		y := top + float64(i)*rowH
		fmt.Fprintf(&b, `<text class="lbl" x="%.0f" y="%.1f" text-anchor="end">%s</text>`, labelW-8, y+barH-3, html.EscapeString(bar.Label))
		x := labelW
		total := bar.Value
		if len(bar.Segments) > 0 {
			total = 0
			for _, s := range bar.Segments {
				w := s.Value / maxV * plotW
				fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.0f" fill="%s"><title>%s: %s</title></rect>`, x, y, w, barH, palette[seen[s.Label]%len(palette)], html.EscapeString(s.Label), html.EscapeString(format(s.Value)))
				x += w
				total += s.Value
			}
		} else {
			w := bar.Value / maxV * plotW
			cls := bar.Class
			if cls == "" {
				cls = "hoist"
			}
			fmt.Fprintf(&b, `<rect class="bar %s" x="%.2f" y="%.1f" width="%.2f" height="%.0f"><title>%s: %s</title></rect>`, cls, x, y, w, barH, html.EscapeString(bar.Label), html.EscapeString(format(bar.Value)))
			x += w
		}
		note := bar.Note
		if note == "" {
			note = format(total)
		}
		fmt.Fprintf(&b, `<text class="val" x="%.2f" y="%.1f">%s</text>`, x+6, y+barH-3, html.EscapeString(note))
	}
	for i, l := range legend {
		col, row := i%3, i/3
		x := labelW + float64(col)*(plotW+valueW)/3
		y := top + float64(len(bars))*rowH + 8 + float64(row)*20
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"></rect><text class="lbl" x="%.1f" y="%.1f">%s</text>`, x, y, palette[i%len(palette)], x+16, y+10, html.EscapeString(l))
	}
	b.WriteString(`</svg></figure>`)
	return b.String()
}

// chartID makes an id fragment from a title.
func chartID(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func bytesFmt(v float64) string { return HumanBytes(int64(v)) }

func secondsFmt(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.0f ms", v*1000)
	}
	return fmt.Sprintf("%.2f s", v)
}
