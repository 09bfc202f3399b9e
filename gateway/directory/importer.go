package directory

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
)

// ImportTypes are the resource types a directory import takes: the
// directory's, whose logical references its writes resolve.
var ImportTypes = identity.DirectoryTypes

// ImportBatch is how many resources one transaction of an import writes:
// large enough to share fsyncs, small enough that a failed batch is cheap
// to find.
const ImportBatch = 500

// Parser parses and validates one resource (codec.Codec.Decode).
type Parser interface {
	Decode(b []byte) (proto.Message, error)
}

// Writer is the store's transaction API an import writes through.
type Writer interface {
	TransactionWith(ctx context.Context, entries []store.TxEntry, o store.TxOptions) ([]store.TxResult, error)
	Read(typ, id string) (*store.Record, error)
	ClaimOwner(typ, system, value string) (string, error)
	View(fn func(r *store.Snapshot) error) error
	PutIdentityReviews(ctx context.Context, vs ...store.IdentityReview) error
}

// claimAttempts bounds how often a batch is written again when a feed
// claimed one of its identifiers between the check and the write.
const claimAttempts = 3

// Summary counts what an import did. Refused maps a PHI-free reason to
// how many resources it refused. Merged lists the Organizations it merged
// into stored ones ("Organization/x into Organization/y"), Reviews how
// many conflicts it listed for review (GET /admin/identity/review).
type Summary struct {
	Read, Created, Updated, Unchanged int
	Refused                           map[string]int
	Merged                            []string
	Reviews                           int
}

// RefusedTotal is the number of resources refused.
func (s Summary) RefusedTotal() int {
	n := 0
	for _, v := range s.Refused {
		n += v
	}
	return n
}

func (s Summary) String() string {
	out := fmt.Sprintf("created %d, updated %d, unchanged %d, refused %d, merged %d", s.Created, s.Updated, s.Unchanged, s.RefusedTotal(), len(s.Merged))
	reasons := make([]string, 0, len(s.Refused))
	for r := range s.Refused {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		out += fmt.Sprintf("\n  refused %d: %s", s.Refused[r], r)
	}
	for _, m := range s.Merged {
		out += "\n  merged " + m
	}
	if s.Reviews > 0 {
		out += fmt.Sprintf("\n  listed for review %d: GET /admin/identity/review", s.Reviews)
	}
	return out
}

// Import reads a directory export from r, a FHIR Bundle (of any type: its
// entries' resources are taken) or NDJSON (one resource a line), and
// stores its resources of ImportTypes by PUT, ImportBatch at a time,
// keeping unchanged ones as they are: importing the same file twice
// writes nothing the second time. A resource without an id gets one from
// its identifiers (DeriveID); one without either, of another type, or
// invalid is refused and counted. References between the file's entries
// by fullUrl (urn:uuid:…, R4 bundle.html#references) are resolved to the
// ids the entries are stored as, across batches; a resource naming a
// urn:uuid no entry has, or one that was refused, is refused. An
// Organization whose FINESS, SIRET or SIREN a stored one holds under
// another id (the same establishment from another source) is merged into
// it, the file's references following, or listed for review when their
// identifiers disagree (identity.Directory). progress, when not nil, is
// called after each batch. Logical references are resolved as each batch
// is written (identity.ResolveLogical); a resource stored earlier, by an
// earlier batch or import, that waits for one this import stores, or that
// names an Organization it merged, is linked by the identity.Linker the
// store follows.
func Import(ctx context.Context, w Writer, c *codec.Codec, r io.Reader, progress func(Summary)) (Summary, error) {
	im := &importer{ctx: ctx, w: w, p: c, res: identity.New(c, nil), progress: progress, s: Summary{Refused: map[string]int{}},
		inBatch: map[string]bool{}, orgIDs: map[[2]string]bool{}, local: newLocalRefs(), merged: map[string]bool{}}
	if err := w.View(func(r *store.Snapshot) error {
		var err error
		im.aliases, err = im.res.Aliases(r)
		return err
	}); err != nil {
		return im.s, err
	}
	if err := eachResource(r, im.read); err != nil {
		return im.s, err
	}
	for _, wt := range im.local.unresolved() {
		im.s.Refused[wt.Type+" with a reference to a urn:uuid that no entry of the file has as its fullUrl"]++
	}
	return im.s, im.flush()
}

// importer is the state of one import: the batch being gathered, the
// file's references by fullUrl and the Organizations merged.
type importer struct {
	ctx      context.Context
	w        Writer
	p        Parser
	res      *identity.Resolver
	progress func(Summary)
	s        Summary
	batch    []store.TxEntry
	inBatch  map[string]bool    // "Type/id" of the batch's entries
	orgIDs   map[[2]string]bool // national identifiers of the batch's Organizations
	local    *localRefs
	aliases  map[string]string // "Organization/x" merged into "Organization/y"
	merged   map[string]bool   // Summary.Merged, as a set
}

// read takes one resource of the file, fullURL its entry's fullUrl.
func (im *importer) read(raw []byte, fullURL string) error {
	im.s.Read++
	e, why := entryOf(im.p, raw)
	urn := entryURN(fullURL, e.ID)
	if why != "" {
		im.s.Refused[why]++
		for _, wt := range im.local.refuse(urn) {
			im.s.Refused[wt.Type+" with a reference to an entry of the file that was refused"]++
		}
		return nil
	}
	localize(e, fullURL)
	if to, ok := im.aliases[e.Type+"/"+e.ID]; ok {
		// merged into another by an earlier import: it is that one
		im.noteMerge(e.Type+"/"+e.ID, to)
		_, e.ID, _ = strings.Cut(to, "/")
		resource.SetID(e.Resource, e.ID)
	}
	if im.local.supersede(e.Type + "/" + e.ID) {
		// Its earlier copy still waited for an entry: this one replaces it.
		im.s.Refused["replaced by a later copy of the same resource in the file"]++
	}
	ready, refused := im.local.add(urn, e)
	for _, r := range refused {
		im.s.Refused[r.Type+" with a reference to an entry of the file that was refused"]++
	}
	for _, r := range ready {
		if err := im.queue(r); err != nil {
			return err
		}
	}
	return nil
}

// queue adds e, its references by fullUrl resolved, to the batch.
func (im *importer) queue(e store.TxEntry) error {
	key := e.Type + "/" + e.ID
	ids := organizationIDs(e)
	if im.inBatch[key] || slices.ContainsFunc(ids, func(k [2]string) bool { return im.orgIDs[k] }) {
		// A later copy replaces the earlier one; a second Organization
		// with an identifier of one in the batch merges into it once it
		// is stored.
		if err := im.flush(); err != nil {
			return err
		}
	}
	im.inBatch[key] = true
	for _, k := range ids {
		im.orgIDs[k] = true
	}
	im.batch = append(im.batch, e)
	if len(im.batch) >= ImportBatch {
		return im.flush()
	}
	return nil
}

// organizationIDs are the national identifiers of e when it is an
// Organization.
func organizationIDs(e store.TxEntry) [][2]string {
	if e.Type != "Organization" {
		return nil
	}
	var out [][2]string
	for _, id := range resource.Identifiers(e.Resource) {
		out = append(out, identity.NationalIDs(e.Type, id.GetSystem().GetValue(), id.GetValue().GetValue())...)
	}
	return out
}

// flush writes the batch, its references to the Organizations merged so
// far pointed at those they were merged into.
func (im *importer) flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	identity.Redirect(im.batch, im.aliases)
	if err := im.write(); err != nil {
		return err
	}
	im.batch, im.inBatch, im.orgIDs = im.batch[:0], map[string]bool{}, map[[2]string]bool{}
	if im.progress != nil {
		im.progress(im.s)
	}
	return nil
}

// noteMerge lists in the summary, once, that the Organization from was
// merged into to.
func (im *importer) noteMerge(from, to string) {
	if m := from + " into " + to; !im.merged[m] {
		im.merged[m] = true
		im.s.Merged = append(im.s.Merged, m)
	}
}

// write resolves the batch's Organizations (identity.Directory: merged
// into the stored ones their identifiers name, logical references
// resolved) and stores it, counting what it did: a version equal to the
// one read before is unchanged (TxOptions.KeepUnchanged kept it).
func (im *importer) write() error {
	for attempt := 1; ; attempt++ {
		var res *identity.Result
		if err := im.w.View(func(r *store.Snapshot) error {
			var err error
			res, err = im.res.Resolve(r, im.batch, identity.Directory)
			return err
		}); err != nil {
			return err
		}
		entries := res.Entries
		before := make([]uint64, len(entries))
		for i, e := range entries {
			if rec, err := im.w.Read(e.Type, e.ID); err == nil && !rec.Deleted {
				before[i] = rec.Version
			}
		}
		if err := claim(im.w, entries); err != nil {
			return err
		}
		results, err := im.w.TransactionWith(im.ctx, entries, store.TxOptions{KeepUnchanged: true})
		if store.IsClaimed(err) && attempt < claimAttempts {
			continue // claimed meanwhile: resolved again, that holder keeps it
		}
		if err != nil {
			return fmt.Errorf("directory import: batch of %d: %w", len(entries), err)
		}
		im.count(results, before)
		if err := im.w.PutIdentityReviews(im.ctx, res.Reviews...); err != nil {
			return err
		}
		im.s.Reviews += len(res.Reviews)
		for _, from := range slices.Sorted(maps.Keys(res.Moved)) {
			im.aliases[from] = res.Moved[from]
			im.noteMerge(from, res.Moved[from])
		}
		return nil
	}
}

// count adds results to the summary.
func (im *importer) count(results []store.TxResult, before []uint64) {
	for i, r := range results {
		switch {
		case r.Record != nil && before[i] != 0 && r.Record.Version == before[i]:
			im.s.Unchanged++
		case before[i] == 0:
			im.s.Created++
		default:
			im.s.Updated++
		}
	}
}

// claim sets the claims of the Practitioners among entries: their
// national identifiers (identity.NationalIDs) that no other resource
// holds, so that a feed naming one later links to the imported resource
// (gateway/identity). One held by another resource stays its holder's: an
// import does not merge Practitioners. (Its Organizations' claims are
// identity.Directory's.)
func claim(w Writer, entries []store.TxEntry) error {
	taken := map[[3]string]string{} // by this batch
	for i := range entries {
		e := &entries[i]
		if e.Type != "Practitioner" {
			continue
		}
		e.Claims = e.Claims[:0]
		for _, id := range resource.Identifiers(e.Resource) {
			for _, n := range identity.NationalIDs(e.Type, id.GetSystem().GetValue(), id.GetValue().GetValue()) {
				k := [3]string{e.Type, n[0], n[1]}
				if other, ok := taken[k]; ok && other != e.ID {
					continue
				}
				owner, err := w.ClaimOwner(e.Type, n[0], n[1])
				if err != nil {
					return err
				}
				if owner == "" || owner == e.ID {
					taken[k] = e.ID
					e.Claims = append(e.Claims, store.Claim{Type: e.Type, System: n[0], Value: n[1]})
				}
			}
		}
	}
	return nil
}

// entryOf parses one resource into a PUT, or says why it is refused.
func entryOf(p Parser, raw []byte) (store.TxEntry, string) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return store.TxEntry{}, "not a JSON object"
	}
	if !slices.Contains(ImportTypes, head.ResourceType) {
		return store.TxEntry{}, "resource type not part of a directory: " + head.ResourceType
	}
	res, err := p.Decode(raw)
	if err != nil {
		return store.TxEntry{}, "invalid " + head.ResourceType
	}
	id := resource.ID(res)
	if id == "" {
		if id = DeriveID(head.ResourceType, resource.Identifiers(res)); id == "" {
			return store.TxEntry{}, head.ResourceType + " without id or identifier"
		}
		resource.SetID(res, id)
	}
	if !store.ValidID(id) {
		return store.TxEntry{}, "invalid id"
	}
	return store.TxEntry{Method: "PUT", Type: head.ResourceType, ID: id, Resource: res}, ""
}

// localize makes relative the absolute references of e, an entry whose
// fullUrl is fullURL, to the server that exported it: a directory exported
// by a FHIR server names its resources by their URL on it (R4
// bundle.html#references, "https://ror.example/fhir/Organization/o1"),
// which is the resource "Organization/o1" of that server (R4
// references.html: a relative reference is relative to the service base
// URL), so here. The base is what fullURL has before e's own "Type/id";
// a reference to another server stays as it is.
func localize(e store.TxEntry, fullURL string) {
	base, ok := strings.CutSuffix(fullURL, e.Type+"/"+e.ID)
	if !ok || base == "" || !strings.Contains(base, "://") {
		return
	}
	resource.WalkReferences(e.Resource, func(ref *dtpb.Reference) {
		u, ok := ref.Reference.(*dtpb.Reference_Uri)
		if !ok {
			return
		}
		rest, ok := strings.CutPrefix(u.Uri.GetValue(), base)
		if typ, id, _ := strings.Cut(rest, "/"); ok && resource.Known(typ) && store.ValidID(id) {
			resource.SetRefString(ref, typ+"/"+id)
		}
	})
}

// nationalPrefixes name the identifier systems a derived id is read from
// first, national registries before the others: RPPS and IDNPS for
// Practitioners, FINESS, SIRET and IDNST for Organizations (the systems
// gateway/identity matches on).
var nationalPrefixes = []struct{ system, prefix string }{
	{identity.RPPS, "rpps"}, {identity.IDNPS, "idnps"},
	{identity.FINESS, "finess"}, {identity.SIRET, "siret"}, {identity.IDNST, "idnst"},
}

var plainValue = regexp.MustCompile(`^[A-Za-z0-9.\-]{1,48}$`)

// DeriveID gives a resource without an id a deterministic one from its
// identifiers: "<registry>-<value>" for a national identifier (e.g.
// "rpps-10003456789"), else "<type>-" and a hash of the first identifier's
// system and value (a ROR id, a software's local id). "" when it has no
// identifier with both a system and a value.
func DeriveID(typ string, ids []*dtpb.Identifier) string {
	for _, n := range nationalPrefixes {
		for _, id := range ids {
			if id.GetSystem().GetValue() == n.system && plainValue.MatchString(id.GetValue().GetValue()) {
				return n.prefix + "-" + id.GetValue().GetValue()
			}
		}
	}
	for _, id := range ids {
		sys, val := id.GetSystem().GetValue(), id.GetValue().GetValue()
		if sys != "" && val != "" {
			sum := sha256.Sum256([]byte(sys + "|" + val))
			return strings.ToLower(typ) + "-" + hex.EncodeToString(sum[:16])
		}
	}
	return ""
}

// eachResource calls fn with each resource of a Bundle or of NDJSON.
func eachResource(r io.Reader, fn func(raw []byte, fullURL string) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	first, err := firstByte(br)
	if err != nil {
		return err
	}
	if first != '{' {
		return fmt.Errorf("directory import: not JSON")
	}
	// A Bundle is one object spanning the file; NDJSON has one per line.
	// Look at the first line, without reading it: if it is a whole object
	// that is not a Bundle, the file is NDJSON. A first line longer than
	// the reader's buffer is a Bundle written on one line (an NDJSON line
	// is one directory resource), streamed like any other.
	ahead, err := br.Peek(br.Size())
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	if i := bytes.IndexByte(ahead, '\n'); i >= 0 || err == io.EOF {
		line := ahead
		if i >= 0 {
			line = ahead[:i]
		}
		if kind := objectKind(line); kind != "" && kind != "Bundle" {
			return eachLine(br, fn)
		}
	}
	return eachEntry(json.NewDecoder(br), fn)
}

var errNotBundle = errors.New("directory import: neither a Bundle nor NDJSON")

// eachEntry calls fn with the resource of each entry of the Bundle dec
// reads, as the entries are read: a national directory export runs to
// hundreds of megabytes, and only the batch being written is held. A
// Bundle whose entries come before its resourceType (JSON objects are
// unordered, RFC 8259 section 4) has them held until it is known to be a
// Bundle. Entries read before a syntax error are imported (each batch is
// its own transaction, and importing again is idempotent); the error says
// how many were read.
func eachEntry(dec *json.Decoder, fn func(raw []byte, fullURL string) error) error {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errNotBundle
	}
	bundle := false
	type entry struct {
		resource json.RawMessage
		fullURL  string
	}
	var held []entry // entries seen before resourceType
	entries := 0
	fail := func(err error) error {
		return fmt.Errorf("directory import: the Bundle is not valid JSON after %d entries: %w", entries, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		switch t {
		case "resourceType":
			var rt string
			if err := dec.Decode(&rt); err != nil || rt != "Bundle" {
				return errNotBundle
			}
			bundle = true
			for _, e := range held {
				if err := fn(e.resource, e.fullURL); err != nil {
					return err
				}
			}
			held = nil
		case "entry":
			t, err := dec.Token()
			if err == nil && t == nil {
				continue // "entry": null, no entries
			}
			if err != nil || t != json.Delim('[') {
				return fail(errors.New("entry is not an array"))
			}
			for dec.More() {
				var e struct {
					FullURL  string          `json:"fullUrl"`
					Resource json.RawMessage `json:"resource"`
					Search   struct {
						Mode string `json:"mode"`
					} `json:"search"`
				}
				if err := dec.Decode(&e); err != nil {
					return fail(err)
				}
				entries++
				switch {
				case len(e.Resource) == 0 || string(e.Resource) == "null":
				case e.Search.Mode == "outcome":
					// An OperationOutcome about the search a searchset page
					// answers (R4 bundle.html, Bundle.entry.search.mode
					// "outcome"): no part of the directory, nor refused.
				case bundle:
					if err := fn(e.Resource, e.FullURL); err != nil {
						return err
					}
				default:
					held = append(held, entry{e.Resource, e.FullURL})
				}
			}
			if _, err := dec.Token(); err != nil { // ]
				return fail(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return fail(err)
	}
	if !bundle {
		return errNotBundle
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("content after the Bundle"))
	}
	return nil
}

func eachLine(br *bufio.Reader, fn func(raw []byte, fullURL string) error) error {
	for {
		line, err := br.ReadBytes('\n')
		if t := bytes.TrimSpace(line); len(t) > 0 {
			if ferr := fn(t, ""); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// objectKind is the resourceType of line when it is one whole JSON object.
func objectKind(line []byte) string {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(line, &head) != nil {
		return ""
	}
	return head.ResourceType
}

// firstByte skips a byte order mark (codec.WithoutBOM) and white space
// before the first byte, and returns that byte unread.
func firstByte(br *bufio.Reader) (byte, error) {
	if bom, err := br.Peek(len(codec.ByteOrderMark)); err == nil && string(bom) == codec.ByteOrderMark {
		_, _ = br.Discard(len(codec.ByteOrderMark))
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("directory import: empty input")
		}
		if b != ' ' && b != '\n' && b != '\r' && b != '\t' {
			return b, br.UnreadByte()
		}
	}
}
