package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // --source-timezone works on hosts without a zone database

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auditlog"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/gateway/routing"
	"github.com/relais-health/relais/gateway/server"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data", "./data", "data directory (holds "+server.DBFile+" and the token endpoint's key "+auth.IssuingKeyFile+")")
	fs.StringVar(&cfg.BaseURL, "base-url", "", "public base URL (default: from each request)")
	fs.BoolVar(&cfg.Dev, "dev", false, "trust the development signing key under ./"+auth.DevKeyDir+" (created if absent)")
	fs.BoolVar(&cfg.Demo, "demo", false, "load the demo directory and patient, print a token and curl examples")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM); with --tls-key serves HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&cfg.JWTKeyFile, "jwt-key", "", "PEM file of public keys trusted to sign bearer tokens")
	fs.StringVar(&cfg.JWTIssuer, "jwt-issuer", "", "required token issuer (iss)")
	fs.StringVar(&cfg.JWTAudience, "jwt-audience", "", "required token audience (aud)")
	fs.Int64Var(&cfg.MaxBody, "max-body", 16<<20, "largest accepted request body (and MLLP message), in bytes")
	fs.StringVar(&cfg.MLLPAddr, "mllp-addr", "", "HL7 v2 MLLP listen address, e.g. 0.0.0.0:2575 (default: no MLLP listener)")
	fs.StringVar(&cfg.MLLPTLSCert, "mllp-tls-cert", "", "MLLP TLS certificate (PEM); with --mllp-tls-key serves MLLP over TLS")
	fs.StringVar(&cfg.MLLPTLSKey, "mllp-tls-key", "", "MLLP TLS private key (PEM)")
	fs.StringVar(&cfg.MLLPClientCA, "mllp-client-ca", "", "CA certificates (PEM) that MLLP client certificates must chain to; requires them")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "listen address serving only GET /metrics, without a token, e.g. 127.0.0.1:9464 (default: none; the API serves /metrics to system tokens)")
	fs.DurationVar(&cfg.AuditCheckpointInterval, "audit-checkpoint-interval", auditlog.DefaultInterval, "how often the audit log's checkpoint is signed (POST /admin/audit/checkpoint signs one on demand)")
	fs.StringVar(&cfg.AuditWitness, "audit-witness", "", "URL each signed audit checkpoint is POSTed to (JSON), so that a truncated log is detected")
	fs.Func("audit-retention", "how long each kind of audit entry is kept before its body is pruned (the tree keeps its hash), over the defaults disclosure=6y,decision=6y,change=6y,security=1y,ingest=1y; e.g. security=90d; 0 keeps a kind for ever", func(v string) (err error) {
		cfg.AuditRetention, err = auditlog.ParseRetention(v)
		return err
	})
	fs.Func("source-timezone", "IANA time zone (e.g. Europe/Paris) of the HL7 v2 and CDA times sent without a UTC offset, summer time included (default: an HL7 v2 message's own MSH-7 offset, else UTC)", func(v string) (err error) {
		cfg.SourceZone, err = time.LoadLocation(v)
		return err
	})
	fs.DurationVar(&cfg.HL7ACKRetention, "hl7-ack-retention", ingest.DefaultACKRetention, "how long HL7 v2 ACKs are kept to answer resends (negative: for ever)")
	fs.DurationVar(&cfg.TaskTimeout, "task-timeout", routing.DefaultTaskTimeout, "how long a routing Task's recipient has to answer before the next candidate is asked")
	fs.DurationVar(&cfg.RouteInterval, "route-interval", server.DefaultRouteInterval, "how often finished stays are routed along their pathway, unanswered Tasks timed out and those of recipients who left the directory handed over (negative: routing only on demand, POST /fhir/Encounter/{id}/$route)")
	fs.DurationVar(&cfg.DeliveryGiveUp, "delivery-give-up", delivery.DefaultGiveUp, "how long a Subscription notification is retried before it is a dead letter (the Subscription goes to error; GET /admin/delivery/dead-letters)")
	fs.BoolVar(&cfg.EndpointAllowList, "endpoint-allow-list", false, "send notifications only to the address of an active Endpoint of the directory, or below it")
	fs.Var((*prefixList)(&cfg.AllowEndpointNetworks), "allow-endpoint-network", "a network (CIDR, e.g. 10.20.0.0/16) Subscription endpoints may be in although private, loopback or otherwise special-purpose, over plain HTTP too; repeatable")
	cfg.InitialMmapSize = store.DefaultInitialMmapSize
	fs.Var((*byteSize)(&cfg.InitialMmapSize), "initial-mmap", "address space mapped for the database at start, e.g. 1GiB, 64MiB (growing past it remaps, which waits for open reads)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	gcPercent := fs.Int("gc-percent", server.DefaultGCPercent, "garbage collector target (GOGC), unless GOGC is set in the environment")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkFlags(fs); err != nil {
		return err
	}
	if _, set := os.LookupEnv("GOGC"); !set && *gcPercent > 0 {
		debug.SetGCPercent(*gcPercent)
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	cfg.Logger = log
	var srv *server.Server
	cfg.Ready = func(addr string) {
		log.Info("listening", "addr", addr)
		if cfg.Demo && srv.DevKey() != nil {
			tok, err := srv.DevKey().Mint(auth.MintOptions{Scope: "system/*.cruds"})
			if err == nil {
				scheme := "http"
				if cfg.TLSCert != "" {
					scheme = "https"
				}
				fmt.Fprint(stdout, demo.Banner(scheme+"://"+addr, tok, os.Args[0]))
			}
		}
	}
	if srv, err = server.New(cfg); err != nil {
		return err
	}
	return srv.Run(ctx)
}

// checkFlags refuses the numbers the server would not take as given: it
// takes 0 for the default and a negative value for the default or a
// meaning of its own, so that --task-timeout 0 or -1h, or --max-body 0,
// ran with the default without a word. Every problem is listed.
func checkFlags(fs *flag.FlagSet) error {
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "max-body":
			if n := f.Value.(flag.Getter).Get().(int64); n <= 0 {
				errs = append(errs, fmt.Errorf("--max-body %d: want a positive number of bytes", n))
			}
		case "task-timeout", "delivery-give-up", "audit-checkpoint-interval":
			if d := f.Value.(flag.Getter).Get().(time.Duration); d <= 0 {
				errs = append(errs, fmt.Errorf("--%s %v: want a positive duration, such as 30m or 24h", f.Name, d))
			}
		case "hl7-ack-retention", "route-interval":
			if d := f.Value.(flag.Getter).Get().(time.Duration); d == 0 {
				errs = append(errs, fmt.Errorf("--%s 0: want a positive duration, or a negative one for %s", f.Name, negativeMeans[f.Name]))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid options: %w", err)
	}
	return nil
}

// negativeMeans says what a negative value of a duration flag asks for.
var negativeMeans = map[string]string{
	"hl7-ack-retention": "ever (ACKs never pruned)",
	"route-interval":    "routing on demand only",
}

// prefixList is a repeatable flag.Value of CIDR networks.
type prefixList []netip.Prefix

func (p *prefixList) String() string { return fmt.Sprint([]netip.Prefix(*p)) }

func (p *prefixList) Set(s string) error {
	n, err := netip.ParsePrefix(s)
	if err != nil {
		return errors.New("want a network in CIDR notation, such as 10.20.0.0/16 or fd00::/8")
	}
	*p = append(*p, n.Masked())
	return nil
}

// byteSize is a flag.Value for sizes in bytes: a whole number with an
// optional KiB, MiB or GiB suffix.
type byteSize int

func (b *byteSize) String() string { return strconv.Itoa(int(*b)) }

func (b *byteSize) Set(s string) error {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > math.MaxInt/mult {
		return errors.New("want a positive size such as 1GiB, 64MiB or 32768")
	}
	*b = byteSize(n * mult)
	return nil
}
