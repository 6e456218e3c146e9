package appconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseAppSettings parses an ASP.NET Core appsettings*.json. Like .NET's
// JSON configuration provider it allows // and /* */ comments and
// trailing commas, and flattens the document into ":"-separated keys
// (Logging:LogLevel:Default, Servers:0). ConnectionStrings:NAME entries
// become data sources.
func parseAppSettings(data []byte) (*File, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	clean, err := stripJSONComments(data)
	if err != nil {
		return nil, fmt.Errorf("parsing appsettings.json: %w", err)
	}
	p := jsonParser{data: clean, dec: json.NewDecoder(bytes.NewReader(clean))}
	p.dec.UseNumber()
	if len(bytes.TrimSpace(clean)) > 0 {
		if err := p.document(); err != nil {
			return nil, fmt.Errorf("parsing appsettings.json: %w", p.locate(err))
		}
	}
	b := &builder{f: &File{}}
	for _, kv := range p.kvs {
		b.setting(kv.key, kv.key, kv.val)
		prefix, name, ok := strings.Cut(kv.key, ":")
		if !ok || !strings.EqualFold(prefix, "ConnectionStrings") || strings.Contains(name, ":") {
			continue
		}
		b.connectionString(name, kv.key, kv.val.text, "")
	}
	return b.f, nil
}

// connectionString records a .NET connection string as a data source.
func (b *builder) connectionString(name, key, cs, provider string) {
	ds := DataSource{Name: name, Driver: provider, URL: StripCredentials(cs), Username: connUser(cs)}
	if ep, ok := parseEndpoint(cs, provider); ok {
		ep.Source = key
		ds.Endpoint = &ep
	}
	b.f.DataSources = append(b.f.DataSources, ds)
}

type jsonParser struct {
	data []byte
	dec  *json.Decoder
	kvs  []keyValue
}

// document reads the top-level object and makes sure nothing follows it.
func (p *jsonParser) document() error {
	tok, err := p.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("the top-level value must be an object")
	}
	if err := p.object("", 0); err != nil {
		return err
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("unexpected data after the top-level object")
		}
		return err
	}
	return nil
}

func (p *jsonParser) object(prefix string, depth int) error {
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key is not a string")
		}
		if prefix != "" {
			key = prefix + ":" + key
		}
		if err := p.value(key, depth+1); err != nil {
			return err
		}
	}
	_, err := p.dec.Token() // '}'
	return err
}

func (p *jsonParser) value(key string, depth int) error {
	if depth > 1000 {
		return fmt.Errorf("nesting deeper than 1000 levels")
	}
	start := p.dec.InputOffset()
	tok, err := p.dec.Token()
	if err != nil {
		return err
	}
	end := p.dec.InputOffset()
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return p.object(key, depth)
		case '[':
			for i := 0; p.dec.More(); i++ {
				if err := p.value(key+":"+strconv.Itoa(i), depth+1); err != nil {
					return err
				}
			}
			_, err := p.dec.Token() // ']'
			return err
		}
		return fmt.Errorf("unexpected %q", t)
	case string:
		raw := bytes.TrimLeft(p.data[start:end], " \t\r\n:,")
		v := value{text: t, raw: t}
		if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
			v.raw = string(raw[1 : len(raw)-1])
		}
		p.kvs = append(p.kvs, keyValue{key: key, val: v})
	case json.Number:
		p.kvs = append(p.kvs, keyValue{key: key, val: plainValue(t.String())})
	case bool:
		p.kvs = append(p.kvs, keyValue{key: key, val: plainValue(strconv.FormatBool(t))})
	case nil:
		p.kvs = append(p.kvs, keyValue{key: key, val: plainValue("")})
	}
	return nil
}

// locate adds the line to a JSON error.
func (p *jsonParser) locate(err error) error {
	off := p.dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("unexpected end of input")
		off = int64(len(p.data))
	}
	if off > int64(len(p.data)) {
		off = int64(len(p.data))
	}
	line := 1 + bytes.Count(p.data[:off], []byte("\n"))
	return fmt.Errorf("line %d: %w", line, err)
}

// stripJSONComments blanks out comments and trailing commas, keeping every
// other byte (and every newline) where it was, so offsets and line numbers
// still point into the original file.
func stripJSONComments(data []byte) ([]byte, error) {
	out := append([]byte(nil), data...)
	inString := false
	for i := 0; i < len(out); i++ {
		c := out[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			for i < len(out) && out[i] != '\n' {
				out[i] = ' '
				i++
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			end := bytes.Index(out[i+2:], []byte("*/"))
			if end < 0 {
				line := 1 + bytes.Count(data[:i], []byte("\n"))
				return nil, fmt.Errorf("line %d: comment is not closed", line)
			}
			for j := i; j < i+2+end+2; j++ {
				if out[j] != '\n' {
					out[j] = ' '
				}
			}
			i += end + 3
		}
	}
	// Trailing commas: a comma followed only by white space before } or ].
	inString = false
	for i := 0; i < len(out); i++ {
		c := out[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		if c != ',' {
			continue
		}
		j := i + 1
		for j < len(out) && (out[j] == ' ' || out[j] == '\t' || out[j] == '\r' || out[j] == '\n') {
			j++
		}
		if j < len(out) && (out[j] == '}' || out[j] == ']') {
			out[i] = ' '
		}
	}
	return out, nil
}
