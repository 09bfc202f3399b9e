package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
)

// Version is the software version reported in the CapabilityStatement.
const Version = "0.1.0"

// capabilityStatement describes exactly what this server does: every R4
// type with its interactions, and the search parameters of the indexed
// types (from the same registry the indexes are built from). It is composed
// as JSON and passed through the codec, which validates it as R4.
func capabilityStatement(c *codec.Codec, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	q := func(s string) string { out, _ := json.Marshal(s); return string(out) }
	fmt.Fprintf(&b, `{"resourceType":"CapabilityStatement","status":"active","date":%s,"kind":"instance",`, q(now.UTC().Format("2006-01-02")))
	fmt.Fprintf(&b, `"software":{"name":"Relais","version":%s},"implementation":{"description":"Relais FHIR R4 gateway"},`, q(Version))
	b.WriteString(`"fhirVersion":"4.0.1","format":["application/fhir+json","json"],"rest":[{"mode":"server",`)
	b.WriteString(`"security":{"service":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/restful-security-service","code":"SMART-on-FHIR"}]}],`)
	b.WriteString(`"description":"Bearer JWT (ES256, RS256, EdDSA) with SMART v1/v2 user/, patient/ and system/ scopes. Writes follow the write policy served at /admin/write-policy; update-as-create is for system/ scopes."},"resource":[`)
	for i, typ := range resource.Types() {
		if i > 0 {
			b.WriteByte(',')
		}
		writeResourceCapability(&b, q, typ)
	}
	b.WriteString(`],"interaction":[{"code":"transaction"},{"code":"batch"},{"code":"history-system"}]}]}`)
	m, err := c.Decode(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("capability statement: %w", err)
	}
	return c.Encode(m)
}

func writeResourceCapability(b *bytes.Buffer, q func(string) string, typ string) {
	fmt.Fprintf(b, `{"type":%s,"interaction":[`, q(typ))
	for i, in := range []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"} {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, `{"code":%s}`, q(in))
	}
	b.WriteString(`],"versioning":"versioned-update","readHistory":true,"updateCreate":true,"conditionalCreate":true,`)
	b.WriteString(`"conditionalUpdate":true,"conditionalDelete":"single"`)
	params := search.Params(typ)
	var incs []string
	for _, p := range params {
		if p.Kind == search.Reference {
			incs = append(incs, typ+":"+p.Name)
		}
	}
	if len(incs) > 0 {
		b.WriteString(`,"searchInclude":[`)
		for i, s := range incs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(q(s))
		}
		b.WriteString(`]`)
	}
	b.WriteString(`,"searchParam":[{"name":"_id","type":"token"}`)
	for _, p := range params {
		fmt.Fprintf(b, `,{"name":%s,"type":%s}`, q(p.Name), q(p.Kind.String()))
	}
	b.WriteString(`]}`)
}
