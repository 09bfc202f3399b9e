package auth

import (
	"context"
	"strings"
	"testing"
)

func TestParseFHIRUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"PractitionerRole/123", "PractitionerRole/123"},
		{"Practitioner/rpps-10003456789", "Practitioner/rpps-10003456789"},
		{"Organization/finess.750712184", "Organization/finess.750712184"},
		{"https://relais.example/fhir/PractitionerRole/123", "PractitionerRole/123"},
		{"https://relais.example/fhir/PractitionerRole/123/", "PractitionerRole/123"},
		{"http://localhost:8080/fhir/Practitioner/abc/_history/3", "Practitioner/abc"},
		{"PractitionerRole/123/_history/2", "PractitionerRole/123"},
		{"https://relais.example/Organization/o1", "Organization/o1"},
		{"Patient/123", "Patient/123"},
		{"RelatedPerson/1", "RelatedPerson/1"},
		{"https://relais.example/fhir/Patient/123", "Patient/123"},
		{"PractitionerRole/", ""},
		{"PractitionerRole", ""},
		{"/PractitionerRole/1", ""},
		{"fhir/PractitionerRole/1", ""}, // relative with a base: ambiguous
		{"PractitionerRole/a b", ""},
		{"PractitionerRole/a_b", ""},
		{"PractitionerRole/" + strings.Repeat("a", 65), ""},
		{"PractitionerRole/" + strings.Repeat("a", 64), "PractitionerRole/" + strings.Repeat("a", 64)},
		{"https://relais.example/fhir/PractitionerRole/1?x=y", ""},
		{"https://relais.example/fhir/PractitionerRole/1#frag", ""},
		{"https:///PractitionerRole/1", ""},
		{"practitionerrole/1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := ParseFHIRUser(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("ParseFHIRUser(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, ok := FromContext(ctx); ok {
		t.Fatal("principal in an empty context")
	}
	p := &Principal{Subject: "s"}
	got, ok := FromContext(NewContext(ctx, p))
	if !ok || got != p {
		t.Errorf("FromContext = %v, %v", got, ok)
	}
	if _, ok := FromContext(NewContext(ctx, nil)); ok {
		t.Error("nil principal reported present")
	}
}

func FuzzParseFHIRUser(f *testing.F) {
	for _, s := range []string{"PractitionerRole/1", "https://h/fhir/Practitioner/x/_history/2", "Patient/1", "a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFHIRUser(s)
		if err != nil {
			return
		}
		// A normalised reference is its own normal form.
		again, err := ParseFHIRUser(got)
		if err != nil || again != got {
			t.Fatalf("ParseFHIRUser(%q) = %q, which normalises to %q, %v", s, got, again, err)
		}
	})
}

func TestFHIRUserServer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"PractitionerRole/1":                                        "",
		"https://relais.example/fhir/PractitionerRole/1":            "https://relais.example/fhir",
		"https://relais.example/fhir/PractitionerRole/1/_history/3": "https://relais.example/fhir",
		"http://127.0.0.1:8080/fhir/Organization/o":                 "http://127.0.0.1:8080/fhir",
		"https://relais.example/PractitionerRole/1":                 "https://relais.example",
	} {
		if got := FHIRUserServer(in); got != want {
			t.Errorf("FHIRUserServer(%q) = %q, want %q", in, got, want)
		}
	}
}
