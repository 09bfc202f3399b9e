package fhirtest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Golden compares got with the golden file at path, ignoring white space
// at either end, and reports the first line that differs. With update (a
// package's -update flag) it rewrites the file instead.
func Golden(tb testing.TB, path string, got []byte, update bool) {
	tb.Helper()
	got = bytes.TrimSpace(got)
	if update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if want = bytes.TrimSpace(want); !bytes.Equal(got, want) {
		tb.Errorf("output differs from %s (go test -update rewrites it; review the diff): %s", path, firstDiff(got, want))
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n- " + strings.TrimSpace(wl[i]) + "\n+ " + strings.TrimSpace(gl[i])
		}
	}
	return "one is a prefix of the other: " + strconv.Itoa(len(gl)) + " lines, want " + strconv.Itoa(len(wl))
}
