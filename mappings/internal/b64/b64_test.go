package b64

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	want := []byte("Document médical au format CDA")
	padded := base64.StdEncoding.EncodeToString(want)
	for _, in := range []string{
		padded,
		base64.RawStdEncoding.EncodeToString(want), // as the ANS examples send it
		padded[:20] + "\r\n" + padded[20:],
		" " + padded + "\t\n",
	} {
		got, err := Decode(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Decode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"QQ=A", "Q", "QQ==QQ==", "Q!Q=", "QUJD\x00"} {
		if got, err := Decode(in); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", in, got)
		}
	}
	if got, err := Decode(""); err != nil || len(got) != 0 {
		t.Errorf("Decode(\"\") = %q, %v", got, err)
	}
}

// FuzzDecode: whatever the text, Decode does not panic; it agrees with
// the standard padded decoding wherever that one succeeds, and what it
// decodes comes back from its own unpadded encoding.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "QQ==", "QQ", "UEsDBA\r\nAA", "PENsaW5pY2FsRG9jdW1lbnQ+", "QQ=A"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := Decode(string(text))
		clean := bytes.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, text)
		if std, serr := base64.StdEncoding.DecodeString(string(clean)); serr == nil && (err != nil || !bytes.Equal(got, std)) {
			t.Fatalf("Decode(%q) = %q, %v; the padded decoding gives %q", text, got, err, std)
		}
		if err != nil {
			return
		}
		if back, err := Decode(base64.RawStdEncoding.EncodeToString(got)); err != nil || !bytes.Equal(back, got) {
			t.Fatalf("Decode(%q) = %q, which does not come back: %q, %v", text, got, back, err)
		}
	})
}
