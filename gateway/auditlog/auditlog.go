// Package auditlog signs and publishes checkpoints of the store's audit
// log (a Merkle tree in the style of RFC 6962 / RFC 9162, fhir/store
// audit.go), sends them to a witness, and verifies a log offline.
//
// # Checkpoints
//
// A checkpoint commits to the log's first TreeSize entries. The signed
// bytes are a C2SP checkpoint note body
// (https://c2sp.org/tlog-checkpoint), with one extension line for the
// time:
//
//	<origin>\n
//	<tree size, decimal>\n
//	<root hash, standard base64>\n
//	time <RFC 3339 UTC, seconds>\n
//
// signed with Ed25519 (RFC 8032) over exactly those bytes. The key ID is
// C2SP signed-note's (https://c2sp.org/signed-note): the first 4 bytes of
// SHA-256(origin || 0x0A || 0x01 || public key), hex here. Checkpoint.Note
// is the whole signed note (the body, a blank line, and "— <origin>
// base64(keyhash || signature)"), which note verifiers (such as
// golang.org/x/mod/sumdb/note) read with the verifier key Relais serves.
//
// # Caveats
//
// The key lives in the data directory next to the database: someone who
// can rewrite the database can sign a rewritten log. Checkpoints held
// elsewhere (a witness, an auditor's copy) are what detect that.
package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/store"
)

// KeyFile is the file, in the data directory, of the Ed25519 key that
// signs checkpoints (PKCS #8 "PRIVATE KEY", mode 0600), created on the
// server's first start.
const KeyFile = "relais.audit-key.pem"

// DefaultInterval is how often a checkpoint is signed when Config.Interval
// is zero.
const DefaultInterval = time.Hour

// Config configures a Log.
type Config struct {
	Store   *store.Store // required
	DataDir string       // holds KeyFile (required)
	// Origin is the log's name, the checkpoint's first line (default
	// "relais/audit").
	Origin string
	// Interval between automatic checkpoints (Run; default 1 h).
	Interval time.Duration
	// Witness, when set, is the URL each checkpoint is POSTed to (as
	// JSON, Checkpoint).
	Witness string
	// Retention per kind (default DefaultRetention()); Run prunes every
	// PruneInterval (default 1 h).
	Retention     Retention
	PruneInterval time.Duration
	Client        *http.Client
	Now           func() time.Time
	Logger        *slog.Logger
}

// Checkpoint is a signed checkpoint as Relais serves and stores it.
type Checkpoint struct {
	Origin    string    `json:"origin"`
	TreeSize  uint64    `json:"treeSize"`
	RootHash  []byte    `json:"rootHash"` // base64
	Time      time.Time `json:"time"`
	KeyID     string    `json:"keyId"`
	Signature []byte    `json:"signature"` // base64, Ed25519 over Body
	Note      string    `json:"note"`
}

// Body is the signed bytes of c.
func (c *Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\ntime %s\n", c.Origin, c.TreeSize,
		base64.StdEncoding.EncodeToString(c.RootHash), c.Time.UTC().Format(time.RFC3339))
}

// Verify checks c's signature with pub.
func (c *Checkpoint) Verify(pub ed25519.PublicKey) error {
	if c.KeyID != KeyID(c.Origin, pub) {
		return errors.New("checkpoint: signed by another key")
	}
	if !ed25519.Verify(pub, c.Body(), c.Signature) {
		return errors.New("checkpoint: bad signature")
	}
	return nil
}

// KeyID is the C2SP signed-note key ID of pub under name, in hex.
func KeyID(name string, pub ed25519.PublicKey) string {
	return hex.EncodeToString(keyHash(name, pub))
}

func keyHash(name string, pub ed25519.PublicKey) []byte {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', 0x01})
	h.Write(pub)
	return h.Sum(nil)[:4]
}

// Log signs checkpoints of a store's audit log.
type Log struct {
	cfg Config
	key ed25519.PrivateKey
	pub ed25519.PublicKey
}

// New loads (or creates) the checkpoint key and returns the Log.
func New(cfg Config) (*Log, error) {
	if cfg.Store == nil || cfg.DataDir == "" {
		return nil, errors.New("auditlog: Store and DataDir are required")
	}
	if cfg.Origin == "" {
		cfg.Origin = "relais/audit"
	}
	if cfg.Retention == nil {
		cfg.Retention = DefaultRetention()
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = time.Hour
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key, err := LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	l := &Log{cfg: cfg, key: key, pub: key.Public().(ed25519.PublicKey)}
	// A database restored into a data directory without its KeyFile (a
	// backup holds the database only) gets a new key here: the checkpoints
	// it keeps no longer verify with the data directory's key, and relais
	// audit verify reports them, as it would a forged key. Said at the
	// start, not found by the auditor months later.
	if c, ok, err := l.Latest(); err == nil && ok && c.Verify(l.pub) != nil {
		cfg.Logger.Warn("the audit checkpoints kept in the database were signed with another key than "+KeyFile+
			" (a database restored without its data directory's key?): restore that key beside it, or verify the older checkpoints with their public key (relais audit verify --key)",
			"checkpoint_key", c.KeyID, "key", KeyID(cfg.Origin, l.pub))
	}
	return l, nil
}

// LoadOrCreateKey loads dir/KeyFile, creating it if absent.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	if b, err := os.ReadFile(path); err == nil {
		return parseKey(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return parseKey(b)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, err
	}
	return priv, f.Sync()
}

func parseKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("audit key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("audit key: not Ed25519")
	}
	return priv, nil
}

// PublicKey is the checkpoint verification key: the origin, the key ID,
// the raw key (base64), and a C2SP note verifier key
// ("<origin>+<keyid>+base64(0x01 || key)").
func (l *Log) PublicKey() map[string]string {
	return map[string]string{
		"origin": l.cfg.Origin, "keyId": KeyID(l.cfg.Origin, l.pub), "algorithm": "Ed25519",
		"publicKey": base64.StdEncoding.EncodeToString(l.pub),
		"verifierKey": l.cfg.Origin + "+" + KeyID(l.cfg.Origin, l.pub) + "+" +
			base64.StdEncoding.EncodeToString(append([]byte{0x01}, l.pub...)),
	}
}

// Checkpoint signs a checkpoint of the log as it is now, keeps it in the
// store and sends it to the witness (a failure to reach the witness is
// logged, not returned: the checkpoint is kept and signed).
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	size, root, err := l.cfg.Store.AuditTree()
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Origin: l.cfg.Origin, TreeSize: size, RootHash: root, Time: l.cfg.Now().UTC().Truncate(time.Second),
		KeyID: KeyID(l.cfg.Origin, l.pub)}
	c.Signature = ed25519.Sign(l.key, c.Body())
	sig := append(keyHash(l.cfg.Origin, l.pub), c.Signature...)
	c.Note = string(c.Body()) + "\n\u2014 " + l.cfg.Origin + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
	js, err := json.Marshal(c)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := l.cfg.Store.PutAuditCheckpoint(ctx, size, c.Time, js); err != nil {
		return Checkpoint{}, err
	}
	if l.cfg.Witness != "" {
		if err := l.send(ctx, js); err != nil {
			l.cfg.Logger.WarnContext(ctx, "audit: witness not reached", "err", err, "treeSize", size)
		}
	}
	return c, nil
}

func (l *Log) send(ctx context.Context, js []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.cfg.Witness, bytes.NewReader(js))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := l.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return errors.New("witness answered " + strconv.Itoa(res.StatusCode))
	}
	return nil
}

// Latest returns the newest checkpoint kept; ok is false when none is.
func (l *Log) Latest() (c Checkpoint, ok bool, err error) {
	js, err := l.cfg.Store.LatestAuditCheckpoint()
	if err != nil || js == nil {
		return c, false, err
	}
	return c, true, json.Unmarshal(js, &c)
}

// Run signs a checkpoint every Interval (when the log grew) and prunes
// the entries past their retention a minute after it starts and then
// every PruneInterval, until ctx ends.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	prune := time.NewTimer(time.Minute)
	defer prune.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			if n, err := l.Prune(ctx); err != nil && ctx.Err() == nil {
				l.cfg.Logger.ErrorContext(ctx, "audit: entries past their retention not pruned", "err", err)
			} else if n > 0 {
				l.cfg.Logger.InfoContext(ctx, "audit: entries past their retention pruned", "entries", n)
			}
			prune.Reset(l.cfg.PruneInterval)
			continue
		case <-t.C:
		}
		size, _, err := l.cfg.Store.AuditTree()
		if err != nil || size == last {
			continue
		}
		if c, err := l.Checkpoint(ctx); err != nil {
			l.cfg.Logger.ErrorContext(ctx, "audit: checkpoint failed", "err", err)
		} else {
			last = c.TreeSize
		}
	}
}

// ReadCheckpoint reads a checkpoint file (JSON, as GET
// /admin/audit/checkpoint serves it).
func ReadCheckpoint(path string) (Checkpoint, error) {
	var c Checkpoint
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if strings.TrimSpace(c.Origin) == "" || len(c.RootHash) != sha256.Size {
		return c, fmt.Errorf("checkpoint %s: no origin or root hash", path)
	}
	return c, nil
}

// LoadOrCreateKeyReadOnly loads dir/KeyFile without creating it.
func LoadOrCreateKeyReadOnly(dir string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	return parseKey(b)
}
