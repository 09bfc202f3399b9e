package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/server"
)

const clientUsage = `usage: relais client <command> [flags]

commands:
  add        register a backend-service client in a stopped server's database; prints its id
  list       list the registered clients of a stopped server's database
  jwks       print the public JWK Set of a client's private key, to register it
  assertion  print a client assertion signed with a client's private key, for POST /auth/token
`

// client manages SMART backend-service clients.
func client(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"add": clientAdd, "list": clientList, "jwks": clientJWKS, "assertion": clientAssertion,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprint(stderr, clientUsage)
		return errors.New("want a subcommand: add, list, jwks or assertion")
	}
	return sub[args[0]](ctx, args[1:], stdout, stderr)
}

// openStopped opens the database of a stopped server; a running one holds
// the file lock, and the error then says what to do instead (running).
func openStopped(data, running string) (*store.Store, error) {
	// A mistyped --data must not create an empty database to register in.
	if _, err := os.Stat(data); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	c, err := codec.New()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(data, server.DBFile), store.Options{Codec: c})
	return st, whenRunning(err, running)
}

// whenRunning adds to err, when another process holds the database's
// lock, what to do while the server runs.
func whenRunning(err error, running string) error {
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("%w: %s", err, running)
	}
	return err
}

func clientAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory")
	var reg auth.Registration
	fs.StringVar(&reg.Name, "name", "", "the client's name, for operators")
	jwks := fs.String("jwks", "", "file of the client's JWK Set (public keys only)")
	fs.StringVar(&reg.Scope, "scope", "", `SMART scopes it may be granted, e.g. "system/Task.rs system/Patient.r"`)
	fs.StringVar(&reg.FHIRUser, "fhir-user", "", "fhirUser its tokens carry, e.g. PractitionerRole/123")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *jwks == "" {
		return errors.New("--jwks is required")
	}
	var err error
	if reg.JWKS, err = os.ReadFile(*jwks); err != nil {
		return err
	}
	st, err := openStopped(*data, "register with POST /admin/clients, or stop it first")
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := auth.RegisterClient(ctx, st, reg, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, c.ID)
	return nil
}

func clientList(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := openStopped(*data, "list with GET /admin/clients, or stop it first")
	if err != nil {
		return err
	}
	defer st.Close()
	cs, err := st.Clients()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPE\tFHIRUSER\tCREATED")
	for _, c := range cs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Scope, c.FHIRUser, c.Created.Format(time.RFC3339))
	}
	return w.Flush()
}

func clientJWKS(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client jwks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "the client's private key (PEM)")
	kid := fs.String("kid", "", "key id to put in the JWK")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := auth.LoadSigningKey(*keyFile)
	if err != nil {
		return err
	}
	jwk, err := auth.PublicJWK(key.Public(), *kid)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"keys": []any{jwk}})
}

func clientAssertion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client assertion", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "the client's private key (PEM)")
	var o auth.AssertionOptions
	fs.StringVar(&o.ClientID, "client-id", "", "the client's id (iss and sub)")
	fs.StringVar(&o.Audience, "aud", "", "the token endpoint's URL, e.g. http://127.0.0.1:8080/auth/token")
	fs.StringVar(&o.KeyID, "kid", "", "kid header (default: none)")
	fs.DurationVar(&o.TTL, "ttl", auth.MaxAssertionLifetime, "lifetime (at most 5m)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := auth.LoadSigningKey(*keyFile)
	if err != nil {
		return err
	}
	raw, err := auth.SignAssertion(key, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, raw)
	return nil
}
