package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The import command end to end on a stopped server's data directory: the
// summary on stdout, a progress line on stderr, and a second run that
// changes nothing.
func TestDirectoryImport(t *testing.T) {
	data := t.TempDir()
	const file = "../../gateway/directory/testdata/directory.json"
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"directory", "import", "--data", data, file}, &out, &errs); err != nil {
		t.Fatalf("%v: %s", err, errs.String())
	}
	if !strings.HasPrefix(out.String(), "created 15, updated 0, unchanged 0, refused 2, merged 0\n") {
		t.Errorf("summary: %q", out.String())
	}
	if !strings.Contains(errs.String(), "directory import: 17 read, 15 created") {
		t.Errorf("progress: %q", errs.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"directory", "import", "--data", data, file}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "created 0, updated 0, unchanged 15, refused 2, merged 0\n") {
		t.Errorf("second summary: %q", out.String())
	}
	if err := run(context.Background(), []string{"directory", "import", "--data", data + "/missing", file}, &out, &errs); err == nil {
		t.Error("a missing data directory was accepted")
	}
}
