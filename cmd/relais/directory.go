package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/identity"
)

const directoryUsage = `usage: relais directory <command> [flags]

commands:
  import   load a directory export (FHIR Bundle or NDJSON) into a stopped server's database
`

// directoryCmd manages the community directory.
func directoryCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(stderr, directoryUsage)
		return errors.New("want a subcommand: import")
	}
	return directoryImport(ctx, args[1:], stdout, stderr)
}

func directoryImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("directory import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: relais directory import --data DIR FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one file")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := codec.New()
	if err != nil {
		return err
	}
	st, err := openStopped(*data, "stop it first")
	if err != nil {
		return err
	}
	defer st.Close()
	// Roles stored earlier that wait for a resource of this file (by
	// FINESS, RPPS...) are linked as it is written.
	st.Follow(identity.NewLinker(c))
	s, err := directory.Import(ctx, st, c, f, func(s directory.Summary) {
		fmt.Fprintf(stderr, "directory import: %d read, %d created, %d updated, %d unchanged, %d refused, %d merged\n",
			s.Read, s.Created, s.Updated, s.Unchanged, s.RefusedTotal(), len(s.Merged))
	})
	fmt.Fprintln(stdout, s)
	return err
}
