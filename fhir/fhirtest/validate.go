// Package fhirtest holds test helpers shared by the packages that produce FHIR.
package fhirtest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RunValidator runs ../shared/tools/fhir-validate/validate.sh over dir and
// fails t when any file is invalid. Tests of mappings call it on their golden
// output; it lives here so every mapping validates the same way.
func RunValidator(t testing.TB, dir string) {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "..", "shared", "tools", "fhir-validate", "validate.sh")
	out, err := exec.Command("bash", script, dir, "--max-issues", "20").CombinedOutput()
	if err != nil {
		t.Fatalf("FHIR validation failed: %v\n%s", err, out)
	}
	t.Logf("%s", lastLine(out))
}

func lastLine(b []byte) string {
	s := string(b)
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}
