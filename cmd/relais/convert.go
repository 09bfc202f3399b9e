package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// convert prints the transaction Bundle each input maps to, as the server
// would store it, without a server. With --out, one Bundle per input goes to
// DIR/<input name>.json. An input that cannot be accepted is reported on
// stderr with the mapping's reasons, the others are still converted, and
// the command fails.
func convert(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "input format: "+formatList())
	out := fs.String("out", "", "write one Bundle per input into this directory (x.hl7 -> DIR/x.json) instead of stdout")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: relais convert --from %s [--out DIR] FILE...\n", formatList())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	f := ingest.Format(*from)
	if !knownFormat(f) {
		fs.Usage()
		return fmt.Errorf("--from must be one of %s", formatList())
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return errors.New("no input file")
	}
	if err := prepareOut(*out, files); err != nil {
		return err
	}
	c, err := codec.New()
	if err != nil {
		return err
	}
	opts := ingest.Options{Codec: c}
	failed := 0
	for _, file := range files {
		if err := convertFile(c, f, opts, file, *out, stdout, stderr); err != nil {
			failed++
			fmt.Fprintf(stderr, "%s: %v\n", file, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs not converted", failed, len(files))
	}
	return nil
}

func convertFile(c *codec.Codec, f ingest.Format, opts ingest.Options, file, outDir string, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	res, err := ingest.Map(f, data, opts)
	if err != nil {
		return refusal(err)
	}
	js, err := c.EncodeIndent(res.Bundle)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	js = append(js, '\n')
	if n := len(res.Issues); n > 0 {
		fmt.Fprintf(stderr, "%s: %d warnings (content not mapped; listed in the Bundle's OperationOutcome)\n", file, n)
	}
	if outDir == "" {
		_, err = stdout.Write(js)
		return err
	}
	return os.WriteFile(outName(outDir, file), js, 0o644)
}

// refusal explains why an input was refused: the mapping's issues with
// their locations.
func refusal(err error) error {
	var ee *er7.Error
	if errors.As(err, &ee) {
		where := ee.Loc.String()
		if where == "" {
			where = "message"
		}
		return fmt.Errorf("refused: %s: %s (HL7 condition %d %s)", where, ee.Reason, ee.Condition, ee.Condition.Text())
	}
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		return fmt.Errorf("refused: %w", err)
	}
	lines := []string{"refused: " + oe.Summary}
	for _, is := range oe.Issues {
		line := "  " + string(is.Severity)
		if is.Path != "" {
			line += " at " + is.Path
		}
		lines = append(lines, line+": "+is.Text)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// outName is DIR/<name without extension>.json.
func outName(dir, file string) string {
	base := filepath.Base(file)
	return filepath.Join(dir, strings.TrimSuffix(base, filepath.Ext(base))+".json")
}

// prepareOut creates the output directory and refuses two inputs that
// would write the same file.
func prepareOut(dir string, files []string) error {
	if dir == "" {
		return nil
	}
	seen := map[string]string{}
	for _, f := range files {
		n := outName(dir, f)
		if prev, ok := seen[n]; ok {
			return fmt.Errorf("%s and %s would both be written to %s", prev, f, n)
		}
		seen[n] = f
	}
	return os.MkdirAll(dir, 0o755)
}

func knownFormat(f ingest.Format) bool {
	for _, k := range ingest.Formats {
		if f == k {
			return true
		}
	}
	return false
}

func formatList() string {
	names := make([]string, len(ingest.Formats))
	for i, f := range ingest.Formats {
		names[i] = string(f)
	}
	return strings.Join(names, "|")
}
