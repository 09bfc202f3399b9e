package hl7v2

import "testing"

// TestMediaType: an ED's type of data (HL7 table 0191) and subtype (table
// 0291) give the registered media type of the format they name, or
// application/octet-stream and false when they name none Relais can tell.
func TestMediaType(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ, sub, want string
		known          bool
	}{
		{"AP", "PDF", "application/pdf", true},
		{"TEXT", "PDF", "application/pdf", true}, // a PDF is one whatever the type says
		{"IM", "JPEG", "image/jpeg", true},
		{"SI", "jpg", "image/jpeg", true},
		{"TEXT", "XML", "text/xml", true},
		{"text", "XML", "text/xml", true}, // the CI-SIS volet's MDM form
		{"AP", "XML", "application/xml", true},
		{"", "XML", "application/xml", true},
		{"FT", "RTF", "text/rtf", true},
		{"AP", "RTF", "application/rtf", true},
		{"NS", "Octet-stream", "application/octet-stream", true},
		{"AP", "", "application/octet-stream", true},
		{"TX", "", "text/plain", true},
		{"image", "svg+xml", "image/svg+xml", true},
		{"multipart", "mixed", "multipart/mixed", true},
		{"IM", "PICT", "application/octet-stream", false},
		{"IM", "", "application/octet-stream", false},
		{"SD", "FAX", "application/octet-stream", false},
		{"", "", "application/octet-stream", false},
		{"multipart", "", "application/octet-stream", false},
		{"image", "x/y", "application/octet-stream", false},
		{"im", "jpeg2", "application/octet-stream", false},
	} {
		if got, known := mediaType(c.typ, c.sub); got != c.want || known != c.known {
			t.Errorf("mediaType(%q, %q) = %q, %v; want %q, %v", c.typ, c.sub, got, known, c.want, c.known)
		}
	}
}
