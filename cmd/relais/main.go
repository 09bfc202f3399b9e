// Command relais is the Relais gateway: one binary with subcommands.
//
//	relais serve   serve the FHIR API (and the MLLP listener when configured)
//	relais convert print the FHIR Bundle an HL7 v2, CDA or assessment file maps to
//	relais token   print a development token that `serve --dev` accepts
//	relais client  register SMART backend-service clients, sign their assertions
//	relais certs   create development keys and certificates
//	relais backup  write a consistent copy of a stopped server's database
//	relais directory import a community directory export into a stopped server's database
//	relais version print the version
//
// main only turns flags into configuration and calls the packages that act.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"serve":     serve,
	"convert":   convert,
	"token":     token,
	"client":    client,
	"certs":     certs,
	"backup":    backup,
	"audit":     auditCmd,
	"directory": directoryCmd,
	"version":   version,
}

const usage = `usage: relais <command> [flags]

commands:
  serve    serve the FHIR API            (relais serve -h for flags)
  convert  map HL7 v2/CDA/assessment files to FHIR Bundles, no server (relais convert -h)
  token    print a development token     (relais token -h)
  client   add, list backend-service clients; jwks, assertion for one (relais client)
  certs    create development keys/certs (relais certs -h)
  backup   copy a stopped server's database to stdout (relais backup -h)
  audit    verify a stopped server's audit log offline (relais audit verify --data DIR [--checkpoint FILE])
  directory import a directory export (Bundle/NDJSON) into a stopped server's database (relais directory)
  version  print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "relais:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// newLogger logs to stderr as text at the given level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
