package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/relais-health/relais/gateway/auditlog"
)

// auditCmd runs the audit log's offline tools: relais audit verify.
func auditCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: relais audit verify --data DIR [--checkpoint FILE] [--key FILE]")
		return errors.New("unknown audit command")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory (of a stopped server, or a backup's)")
	cpFile := fs.String("checkpoint", "", "a checkpoint (JSON, as GET /admin/audit/checkpoint serves it) kept elsewhere: detects truncation")
	keyFile := fs.String("key", "", "the checkpoint verification key, kept elsewhere (the JSON GET /admin/audit/key serves, or its note verifier key); default: the data directory's")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var pub ed25519.PublicKey
	if *keyFile != "" {
		k, err := auditlog.ReadKey(*keyFile)
		if err != nil {
			return err
		}
		pub = k
	}
	var cp *auditlog.Checkpoint
	if *cpFile != "" {
		c, err := auditlog.ReadCheckpoint(*cpFile)
		if err != nil {
			return err
		}
		cp = &c
	}
	rep, problems, err := auditlog.Verify(*data, cp, pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tree size %d, root %s; %d entries checked, %d pruned (leaf hash kept)\n",
		rep.TreeSize, base64.StdEncoding.EncodeToString(rep.Root), rep.Entries, rep.Pruned)
	if len(problems) == 0 {
		fmt.Fprintln(stdout, "ok: the audit log verifies")
		return nil
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	return fmt.Errorf("audit log does not verify: %s", problems[0])
}
