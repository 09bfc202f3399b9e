package codec

import (
	"errors"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

// TestDecodeStrict checks that Decode refuses what jsonformat would accept
// but alter, and accepts a valid surrogate pair.
func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	c := MustNew()
	tests := []struct {
		name, in, path string
	}{
		{"lone high surrogate", `{"resourceType":"Patient","name":[{"family":"\ud800"}]}`, "Patient.name[0].family"},
		{"lone low surrogate", `{"resourceType":"Patient","name":[{"family":"\udc00"}]}`, "Patient.name[0].family"},
		{"duplicate key", `{"resourceType":"Observation","status":"final","code":{"text":"a","text":"b"}}`, "Observation.code"},
		{"duplicate key in an entry", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","active":true,"active":false}}]}`, "Bundle.entry[0].resource"},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\"}]}", "Patient.name[0].family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Decode([]byte(tt.in))
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Invalid {
				t.Fatalf("want an Invalid outcome error, got %v", err)
			}
			if got := oe.Issues[0].Path; got != tt.path {
				t.Errorf("path %q, want %q", got, tt.path)
			}
		})
	}
	m, err := c.Decode([]byte(`{"resourceType":"Patient","name":[{"family":"\ud83d\ude00"}]}`))
	if err != nil {
		t.Fatalf("valid surrogate pair: %v", err)
	}
	out, _ := c.Encode(m)
	if !strings.Contains(string(out), "😀") {
		t.Errorf("surrogate pair not decoded: %s", out)
	}
}
