package er7

import (
	"strings"
	"testing"
)

// TestIsASCII: a byte of 0x80 or more is found at every position, by the
// eight-byte loop as by the tail loop.
func TestIsASCII(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 20; n++ {
		ascii := strings.Repeat("a", n)
		if !isASCII([]byte(ascii)) || !isASCIIString(ascii) {
			t.Errorf("%d ASCII bytes: not ASCII", n)
		}
		for i := range n {
			for _, c := range []byte{0x80, 0xC3, 0xFF} {
				b := []byte(ascii)
				b[i] = c
				if isASCII(b) || isASCIIString(string(b)) {
					t.Errorf("%d bytes with %#x at %d: ASCII", n, c, i)
				}
			}
		}
	}
}
