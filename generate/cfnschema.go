package generate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	cfnschema "github.com/awslabs/goformation/v7/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"sigs.k8s.io/yaml"
)

// The CloudFormation JSON schema goformation/v7 ships
// (schema/cloudformation.schema.json, as the Go string
// schema.CloudformationSchema). It types every property with its literal
// type, but a template may put an intrinsic function ({"Ref": ...},
// {"Fn::GetAtt": ...}) wherever a value goes, so before compiling, every
// typed subschema becomes "that type, or an intrinsic function". Resources
// are validated one by one against their type's definition, which gives
// errors at the exact property instead of "matches none of 1,400 types".
const schemaURL = "https://hoist.invalid/cloudformation.schema.json"

type cfnValidator struct {
	top  map[string]any // the schema without its definitions
	defs map[string]any // every definition, intrinsics allowed
	// names are the resource types.
	names map[string]bool

	mu    sync.Mutex
	cache map[string]*compiledSet
}

// compiledSet is the schema compiled for one set of resource types: only
// their definitions and those they refer to, which is much faster than
// compiling all of CloudFormation.
type compiledSet struct {
	root  *jsonschema.Schema
	types map[string]*jsonschema.Schema
}

var (
	cfnOnce sync.Once
	cfnV    *cfnValidator
	cfnErr  error
)

func cloudFormationValidator() (*cfnValidator, error) {
	cfnOnce.Do(func() { cfnV, cfnErr = newCFNValidator() })
	return cfnV, cfnErr
}

const intrinsicDef = "hoistIntrinsic"

func newCFNValidator() (*cfnValidator, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(cfnschema.CloudformationSchema))
	if err != nil {
		return nil, fmt.Errorf("reading goformation's CloudFormation schema: %w", err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("goformation's CloudFormation schema is not an object")
	}
	// The schema names itself with the draft-04 meta-schema's URL, which
	// would shadow the meta-schema; it gets an ID of its own.
	delete(top, "$id")
	defs, _ := top["definitions"].(map[string]any)
	if defs == nil {
		return nil, fmt.Errorf("goformation's CloudFormation schema has no definitions")
	}
	delete(top, "definitions")
	names := map[string]bool{}
	for k, v := range defs {
		defs[k] = allowIntrinsics(v)
		if strings.Contains(k, "::") && !strings.Contains(k, ".") {
			names[k] = true
		}
	}
	defs[intrinsicDef] = map[string]any{
		"type":          "object",
		"minProperties": 1,
		"maxProperties": 1,
		"patternProperties": map[string]any{
			"^(Ref|Condition|Fn::[A-Za-z0-9]+)$": map[string]any{},
		},
		"additionalProperties": false,
	}
	// The root checks the template's sections; resources are checked
	// one by one against their type's definition.
	if props, ok := top["properties"].(map[string]any); ok {
		if res, ok := props["Resources"].(map[string]any); ok {
			res["patternProperties"] = map[string]any{"^[a-zA-Z0-9]+$": map[string]any{"type": "object", "required": []any{"Type"}, "properties": map[string]any{"Type": map[string]any{"type": "string"}}}}
		}
	}
	return &cfnValidator{top: top, defs: defs, names: names, cache: map[string]*compiledSet{}}, nil
}

// compile compiles the schema for a set of resource types.
func (v *cfnValidator) compile(types []string) (*compiledSet, error) {
	sort.Strings(types)
	key := strings.Join(types, ",")
	v.mu.Lock()
	defer v.mu.Unlock()
	if cs, ok := v.cache[key]; ok {
		return cs, nil
	}
	// The definitions the root and the types need, transitively.
	need := map[string]bool{}
	var queue []string
	addRefs := func(x any) {
		collectRefs(x, func(name string) {
			if !need[name] {
				need[name] = true
				queue = append(queue, name)
			}
		})
	}
	addRefs(v.top)
	for _, t := range types {
		if !need[t] {
			need[t] = true
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		addRefs(v.defs[n])
	}
	doc := map[string]any{}
	for k, x := range v.top {
		doc[k] = x
	}
	defs := map[string]any{}
	for n := range need {
		if d, ok := v.defs[n]; ok {
			defs[n] = d
		}
	}
	doc["definitions"] = defs
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	url := schemaURL + "?types=" + key
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("loading the CloudFormation schema: %w", err)
	}
	root, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compiling the CloudFormation schema: %w", err)
	}
	cs := &compiledSet{root: root, types: map[string]*jsonschema.Schema{}}
	for _, t := range types {
		s, err := c.Compile(url + "#/definitions/" + strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
		if err != nil {
			return nil, fmt.Errorf("compiling the CloudFormation schema of %s: %w", t, err)
		}
		cs.types[t] = s
	}
	v.cache[key] = cs
	return cs, nil
}

// collectRefs calls f with the definition named by every local $ref in x.
func collectRefs(x any, f func(string)) {
	switch y := x.(type) {
	case map[string]any:
		for k, sub := range y {
			if k == "$ref" {
				if s, ok := sub.(string); ok && strings.HasPrefix(s, "#/definitions/") {
					f(strings.ReplaceAll(strings.ReplaceAll(strings.TrimPrefix(s, "#/definitions/"), "~1", "/"), "~0", "~"))
				}
				continue
			}
			collectRefs(sub, f)
		}
	case []any:
		for _, sub := range y {
			collectRefs(sub, f)
		}
	}
}

// allowIntrinsics rewrites a subschema so that an intrinsic function is
// accepted wherever a typed value is.
func allowIntrinsics(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch k {
			case "properties", "patternProperties", "definitions":
				if m, ok := sub.(map[string]any); ok {
					for pk, pv := range m {
						m[pk] = allowIntrinsics(pv)
					}
				}
			case "items", "additionalProperties", "not":
				if _, ok := sub.(map[string]any); ok {
					x[k] = allowIntrinsics(sub)
				}
			case "anyOf", "oneOf", "allOf":
				if l, ok := sub.([]any); ok {
					for i := range l {
						l[i] = allowIntrinsics(l[i])
					}
				}
			}
		}
		if _, typed := x["type"]; typed {
			return map[string]any{"anyOf": []any{x, map[string]any{"$ref": "#/definitions/" + intrinsicDef}}}
		}
		return x
	}
	return v
}

// validateTemplate checks a template (JSON or YAML) against the schema.
func validateTemplate(file string, data []byte) []Problem {
	p := &problems{file: file}
	js := data
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			p.add("", "fix the YAML", "does not parse: %v", err)
			return p.list
		}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		p.add("", "fix the JSON", "does not parse: %v", err)
		return p.list
	}
	v, err := cloudFormationValidator()
	if err != nil {
		p.add("", "", "%v", err)
		return p.list
	}
	top, _ := inst.(map[string]any)
	resources, _ := top["Resources"].(map[string]any)
	ids := make([]string, 0, len(resources))
	typeSet := map[string]bool{}
	for id, r := range resources {
		ids = append(ids, id)
		if m, ok := r.(map[string]any); ok {
			if typ, ok := m["Type"].(string); ok && v.names[typ] {
				typeSet[typ] = true
			}
		}
	}
	sort.Strings(ids)
	types := make([]string, 0, len(typeSet))
	for t := range typeSet {
		types = append(types, t)
	}
	cs, err := v.compile(types)
	if err != nil {
		p.add("", "", "%v", err)
		return p.list
	}
	if err := cs.root.Validate(inst); err != nil {
		schemaProblems(p, "", err)
	}
	for _, id := range ids {
		r, _ := resources[id].(map[string]any)
		typ, _ := r["Type"].(string)
		s, ok := cs.types[typ]
		if !ok {
			p.add("Resources."+id+".Type", "use a resource type CloudFormation has, such as AWS::ECS::Service", "%q is not a CloudFormation resource type", typ)
			continue
		}
		if err := s.Validate(r); err != nil {
			schemaProblems(p, "Resources."+id, err)
		}
	}
	checkReferences(p, top)
	return p.list
}

var english = message.NewPrinter(language.English)

// schemaProblems flattens a validation error to its leaves, leaving out the
// alternative "or an intrinsic function" added above.
func schemaProblems(p *problems, prefix string, err error) {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		p.add(prefix, "", "%v", err)
		return
	}
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if strings.Contains(e.SchemaURL, intrinsicDef) {
			return
		}
		if len(e.Causes) == 0 {
			field := prefix
			for _, t := range e.InstanceLocation {
				if field != "" {
					field += "."
				}
				field += t
			}
			msg := e.ErrorKind.LocalizedString(english)
			if k := field + msg; !seen[k] {
				seen[k] = true
				p.add(field, "see the property in the CloudFormation resource reference", "%s", msg)
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
}

// checkReferences finds Ref and Fn::GetAtt targets that name neither a
// resource nor a parameter nor a pseudo parameter: the schema cannot.
func checkReferences(p *problems, top map[string]any) {
	known := map[string]bool{}
	for _, sec := range []string{"Resources", "Parameters"} {
		m, _ := top[sec].(map[string]any)
		for k := range m {
			known[k] = true
		}
	}
	var bad []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["Ref"].(string); ok && len(x) == 1 && !known[r] && !strings.HasPrefix(r, "AWS::") {
				bad = append(bad, path+": Ref "+r)
			}
			if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
				if r, ok := ga[0].(string); ok && !known[r] {
					bad = append(bad, path+": Fn::GetAtt "+r)
				}
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	for _, sec := range []string{"Resources", "Outputs"} {
		walk(sec, top[sec])
	}
	for _, b := range bad {
		field, msg, _ := strings.Cut(b, ": ")
		p.add(field, "name a resource or parameter of the template", "%s refers to nothing in the template", msg)
	}
}

// templateFiles renders a template as YAML and JSON.
func templateFiles(name string, t interface {
	JSON() ([]byte, error)
}) (yml, js []byte, err error) {
	js, err = t.JSON()
	if err != nil {
		return nil, nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "  "); err != nil {
		return nil, nil, err
	}
	buf.WriteByte('\n')
	js = buf.Bytes()
	yml, err = yaml.JSONToYAML(js)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering %s as YAML: %w", name, err)
	}
	return yml, js, nil
}
