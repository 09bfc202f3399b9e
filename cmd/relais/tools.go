package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/api"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/devcert"
	"github.com/relais-health/relais/gateway/server"
)

// token prints a development token signed with ./certs' dev key.
func token(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o auth.MintOptions
	fs.StringVar(&o.Scope, "scope", "system/*.cruds", "space-separated SMART scopes")
	fs.StringVar(&o.FHIRUser, "fhir-user", "", "fhirUser claim, e.g. PractitionerRole/123")
	fs.StringVar(&o.Subject, "subject", "", "sub claim (default: fhir-user, else the dev client id)")
	fs.DurationVar(&o.TTL, "ttl", time.Hour, "lifetime")
	as := fs.String("as", "", "a demo identity, which sets --fhir-user and --scope: "+demoNames())
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *as != "" {
		id, ok := demo.IdentityNamed(*as)
		if !ok {
			return fmt.Errorf("token: no demo identity %q (one of %s)", *as, demoNames())
		}
		o.FHIRUser, o.Scope = id.FHIRUser, id.Scope
	}
	k, err := auth.LoadOrCreateDevKey(auth.DevKeyDir)
	if err != nil {
		return err
	}
	tok, err := k.Mint(o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// certs creates development keys and certificates.
func certs(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", auth.DevKeyDir, "output directory")
	force := fs.Bool("force", false, "recreate every file, the JWT key included")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := devcert.GenerateWith(*dir, devcert.Options{Overwrite: *force})
	if err != nil {
		return err
	}
	for _, f := range res.Created {
		fmt.Fprintln(stdout, "created", filepath.Join(*dir, f))
	}
	for _, f := range res.Kept {
		fmt.Fprintln(stdout, "kept   ", filepath.Join(*dir, f))
	}
	return nil
}

// backup copies the database of a stopped server to stdout. A running
// server holds the file lock: use GET /admin/backup instead.
func backup(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := codec.New()
	if err != nil {
		return err
	}
	// A backup of a database that is not there is an error, not a copy of
	// an empty one made for the occasion (a mistyped --data would give a
	// backup that restores nothing). Nor does it upgrade the file: the
	// backup an operator takes before an upgrade would be of the upgraded
	// file, and the file upgraded before the server runs.
	st, err := store.Open(filepath.Join(*data, server.DBFile), store.Options{Codec: c, Existing: true, NoUpgrade: true})
	if errors.Is(err, store.ErrUpgradeNeeded) {
		return fmt.Errorf("%w; relais serve upgrades it, a backup leaves it as it is: to keep a copy from before the upgrade, copy the data directory of the stopped server (cp -a), or back it up with the relais that wrote it", err)
	}
	if err != nil {
		return whenRunning(err, "use GET /admin/backup")
	}
	defer st.Close()
	// Backup waits for the accepted HL7 v2 messages to be written, which
	// only a server does: a stopped one's would never be, and the wait
	// would end, 10 s later, in a "try again" that never succeeds.
	queued, _, err := st.InboxCounts()
	if err != nil {
		return err
	}
	if queued > 0 {
		return fmt.Errorf("%d accepted HL7 v2 messages are not written to the database yet (they are in %s.inbox): start relais serve once to write them, stop it, then back up", queued, server.DBFile)
	}
	_, err = st.Backup(stdout)
	return err
}

func version(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "relais", api.Version)
	return nil
}

// demoNames lists the demo identities.
func demoNames() string {
	names := make([]string, len(demo.Identities))
	for i, id := range demo.Identities {
		names[i] = id.Name
	}
	return strings.Join(names, ", ")
}
