package assessment

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/relais-health/relais/fhir/outcome"
)

// The JSON Schemas of the inputs, published with the package (schema/) and
// compiled once. Their $id is under schemaBase.
//
//go:embed schema/*.schema.json
var schemaFiles embed.FS

const schemaBase = "https://relais-health.github.io/schema/assessment/"

// Schema names.
const (
	aggirSchema = "aggir.schema.json"
	needsSchema = "needs-assessment.schema.json"
)

// schemas compiles every schema once; the result is immutable and safe for
// concurrent use.
var schemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	entries, err := schemaFiles.ReadDir("schema")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := schemaFiles.ReadFile("schema/" + e.Name())
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", e.Name(), err)
		}
		if err := c.AddResource(schemaBase+e.Name(), doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", e.Name(), err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{aggirSchema, needsSchema} {
		s, err := c.Compile(schemaBase + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
})

// validate checks input against the named schema. A failure is an
// *outcome.Error of kind Invalid with one issue per problem, each naming the
// field path ("needs[2].priority").
func validate(name string, input []byte) error {
	all, err := schemas()
	if err != nil {
		return fmt.Errorf("assessment schemas: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
	if err != nil {
		return invalidJSON(err)
	}
	err = all[name].Validate(doc)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return invalid("input does not match its schema", schemaIssues(ve)...)
	}
	return err
}

var printer = message.NewPrinter(language.English)

// schemaIssues flattens a validation error tree into one issue per leaf.
func schemaIssues(ve *jsonschema.ValidationError) []outcome.Issue {
	var out []outcome.Issue
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, leafIssues(e)...)
	}
	walk(ve)
	slices.SortStableFunc(out, func(a, b outcome.Issue) int { return strings.Compare(a.Path, b.Path) })
	return slices.CompactFunc(out, func(a, b outcome.Issue) bool { return a == b })
}

// leafIssues names the exact field: a missing or unexpected property is
// reported at its own path, not at the object holding it.
func leafIssues(e *jsonschema.ValidationError) []outcome.Issue {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		var out []outcome.Issue
		for _, m := range k.Missing {
			out = append(out, issue(fieldPath(append(slices.Clone(loc), m)), "required field is missing"))
		}
		return out
	case *kind.AdditionalProperties:
		var out []outcome.Issue
		for _, p := range k.Properties {
			out = append(out, issue(fieldPath(append(slices.Clone(loc), p)), "unknown field"))
		}
		return out
	}
	return []outcome.Issue{issue(fieldPath(loc), e.ErrorKind.LocalizedString(printer))}
}

// fieldPath renders a JSON location as dotted fields with [i] for array
// indexes: ["needs","2","priority"] -> "needs[2].priority". The root is "$".
func fieldPath(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	if b.Len() == 0 {
		return "$"
	}
	return b.String()
}
