// Package b64 decodes the base64 that documents and messages embed: a CDA
// ED with representation="B64" (CDA R2, data types ED) and an HL7 v2 ED
// whose encoding (OBX-5.4, HL7 table 0299) is Base64. Both mappings read
// it the same way, here.
//
// Senders wrap the text in lines and not all of them pad it: the ANS's own
// examples of CDA documents sent in HL7 v2 (CI-SIS "Transmission de
// documents CDA en HL7 v2") leave out the final "=". RFC 4648 section 3.2
// lets an encoding omit the padding where the length is known, as it is
// here, so white space is dropped and the padding is optional; any other
// byte outside the alphabet is an error.
package b64

import (
	"bytes"
	"encoding/base64"
)

// Decode returns the bytes encoded in text: white space (space, tab, CR,
// LF) ignored, the padding optional.
func Decode(text string) ([]byte, error) {
	clean := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			clean = append(clean, c)
		}
	}
	clean = bytes.TrimRight(clean, "=")
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	return out[:n], err
}
