package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../gateway/ingest/testdata/"

// bundleTypes decodes a transaction Bundle and counts its entries by type.
func bundleTypes(t *testing.T, js []byte) map[string]int {
	t.Helper()
	var b struct {
		ResourceType, Type string
		Entry              []struct {
			Request  struct{ Method string }
			Resource struct{ ResourceType string }
		}
	}
	if err := json.Unmarshal(js, &b); err != nil {
		t.Fatalf("not a JSON Bundle: %v", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "transaction" {
		t.Fatalf("%s of type %s, want a transaction Bundle", b.ResourceType, b.Type)
	}
	out := map[string]int{}
	for _, e := range b.Entry {
		if e.Request.Method != "PUT" {
			t.Errorf("entry method %q", e.Request.Method)
		}
		out[e.Resource.ResourceType]++
	}
	return out
}

func TestConvert(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, file string
		want       string // a resource type that must be in the Bundle
	}{
		{"hl7v2", "pam-fr-a03.hl7", "Encounter"},
		{"hl7v2", "mdm-t02-cda.hl7", "Composition"},
		{"cda", "cisis-ldl-ses.xml", "Composition"},
		{"fhir", "../../mappings/fhirdoc/testdata/discharge-summary.json", "DocumentReference"},
		{"fhir", "../../../shared/corpus/fhir/r4-Bundle-father.json", "AllergyIntolerance"},
		{"aggir", "aggir-variables.json", "QuestionnaireResponse"},
		{"assessment", "needs-minimal.json", "ServiceRequest"},
		{"assessment", "tddui-qualifiers.json", "Observation"},
	}
	for _, tc := range tests {
		t.Run(tc.from+"/"+tc.file, func(t *testing.T) {
			t.Parallel()
			var out, errs bytes.Buffer
			file := tc.file
			if !strings.HasPrefix(file, "../") {
				file = fixtures + file
			}
			if err := run(context.Background(), []string{"convert", "--from", tc.from, file}, &out, &errs); err != nil {
				t.Fatalf("%v\n%s", err, errs.String())
			}
			if got := bundleTypes(t, out.Bytes()); got[tc.want] == 0 {
				t.Errorf("no %s in %v", tc.want, got)
			}
			if !bytes.Contains(out.Bytes(), []byte("\n  ")) {
				t.Error("output is not indented")
			}
		})
	}
}

// TestConvertOut: one Bundle per input named after it; a refused input
// makes the command fail with its reasons but does not stop the others.
func TestConvertOut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.hl7")
	if err := os.WriteFile(bad, []byte("MSH|^~\\&|A|B|C|D|20260301||SIU^S12^SIU_S12|X1|P|2.5\rPID|1||1^^^H^PI\r"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"convert", "--from", "hl7v2", "--out", out,
		fixtures + "pam-fr-a03.hl7", bad, fixtures + "mdm-t02-cda.hl7"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "1 of 3") {
		t.Fatalf("err %v, want 1 of 3 inputs refused", err)
	}
	if !strings.Contains(stderr.String(), "broken.hl7: refused: MSH-9") || !strings.Contains(stderr.String(), "condition 200") {
		t.Errorf("stderr lacks the reason: %s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout used with --out: %q", stdout.String())
	}
	for _, name := range []string{"pam-fr-a03.json", "mdm-t02-cda.json"} {
		js, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		bundleTypes(t, js)
	}
	if _, err := os.Stat(filepath.Join(out, "broken.json")); !os.IsNotExist(err) {
		t.Errorf("a Bundle was written for the refused input: %v", err)
	}
}

func TestConvertRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // in the error or stderr
	}{
		{"invalid assessment", []string{"--from", "assessment", fixtures + "needs-invalid.json"}, "needs[1].priority"},
		{"not cda", []string{"--from", "cda", fixtures + "needs-minimal.json"}, "refused"},
		{"wrong format for file", []string{"--from", "aggir", fixtures + "needs-minimal.json"}, "refused"},
		{"unknown format", []string{"--from", "pdf", fixtures + "needs-minimal.json"}, "--from must be one of hl7v2|cda|fhir|aggir|assessment"},
		{"no file", []string{"--from", "cda"}, "no input file"},
		{"missing file", []string{"--from", "cda", "nope.xml"}, "no such file"},
		{"same output name", []string{"--from", "hl7v2", "--out", t.TempDir(), fixtures + "pam-fr-a03.hl7", "./" + fixtures + "pam-fr-a03.hl7"}, "would both be written"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"convert"}, tc.args...), &stdout, &stderr)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Errorf("error %q, stderr %q; want %q", err, stderr.String(), tc.want)
			}
		})
	}
}
