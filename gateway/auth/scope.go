package auth

import "strings"

// Op is a FHIR interaction class as SMART scopes name them.
type Op uint8

// The operations, in the order of the SMART v2 permission letters c r u d s.
const (
	Create Op = iota
	Read
	Update
	Delete
	Search
)

const opLetters = "cruds"

func (o Op) String() string {
	switch o {
	case Create:
		return "create"
	case Read:
		return "read"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Search:
		return "search"
	}
	return "unknown"
}

// Ops is a set of operations, one bit per Op.
type Ops uint8

// Has reports whether op is in the set.
func (s Ops) Has(op Op) bool { return s&(1<<op) != 0 }

// String renders the set as SMART v2 permission letters, e.g. "rs".
func (s Ops) String() string {
	var b strings.Builder
	for i := range len(opLetters) {
		if s.Has(Op(i)) {
			b.WriteByte(opLetters[i])
		}
	}
	return b.String()
}

// Operation sets of the SMART v1 permissions.
const (
	opsRead  = 1<<Read | 1<<Search
	opsWrite = 1<<Create | 1<<Update | 1<<Delete
	opsAll   = opsRead | opsWrite
)

// Context is the SMART scope context. The values are ordered from the
// narrowest to the broadest, so the largest granting context wins.
type Context uint8

// The scope contexts.
const (
	ContextPatient Context = iota + 1 // patient/: only the launch patient's data
	ContextUser                       // user/: what the user may see
	ContextSystem                     // system/: backend service, no user
)

func (c Context) String() string {
	switch c {
	case ContextPatient:
		return "patient"
	case ContextUser:
		return "user"
	case ContextSystem:
		return "system"
	}
	return "unknown"
}

func parseContext(s string) (Context, bool) {
	switch s {
	case "patient":
		return ContextPatient, true
	case "user":
		return ContextUser, true
	case "system":
		return ContextSystem, true
	}
	return 0, false
}

// Scope is one SMART resource scope, such as user/Task.rs.
type Scope struct {
	Context      Context
	ResourceType string // a resource type name, or "*" for all
	Ops          Ops
}

// String renders s in SMART v2 syntax.
func (s Scope) String() string {
	return s.Context.String() + "/" + s.ResourceType + "." + s.Ops.String()
}

// Scopes is the set of resource scopes a token grants.
type Scopes []Scope

// ParseScopes parses a space-separated OAuth scope string. It keeps the
// SMART resource scopes, v2 (system/*.cruds, user/Task.rs, patient/Observation.r)
// and v1 (.read = rs, .write = cud, .* = cruds), and ignores everything else
// (openid, fhirUser, launch, offline_access, malformed scopes).
//
// SMART v2 granular scopes with a query (patient/Observation.rs?category=...)
// are ignored too: granting them without the query would widen access, and
// the query restrictions are not enforced here.
//
// See https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html.
func ParseScopes(s string) Scopes {
	var out Scopes
	for _, f := range strings.Fields(s) {
		if sc, ok := ParseScope(f); ok {
			out = append(out, sc)
		}
	}
	return out
}

// ParseScope parses one SMART resource scope; ok is false for anything else.
func ParseScope(s string) (sc Scope, ok bool) {
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Scope{}, false
	}
	c, ok := parseContext(ctx)
	if !ok {
		return Scope{}, false
	}
	rt, perm, ok := strings.Cut(rest, ".")
	if !ok || !validResourceType(rt) {
		return Scope{}, false
	}
	ops, ok := parsePermissions(perm)
	if !ok {
		return Scope{}, false
	}
	return Scope{Context: c, ResourceType: rt, Ops: ops}, true
}

// parsePermissions accepts the v1 words and the v2 letters, which must be a
// non-empty subsequence of "cruds" (each letter once, in that order).
func parsePermissions(p string) (Ops, bool) {
	switch p {
	case "read":
		return opsRead, true
	case "write":
		return opsWrite, true
	case "*":
		return opsAll, true
	case "":
		return 0, false
	}
	var ops Ops
	next := 0
	for i := range len(p) {
		j := strings.IndexByte(opLetters[next:], p[i])
		if j < 0 {
			return 0, false
		}
		next += j + 1
		ops |= 1 << (next - 1)
	}
	return ops, true
}

// validResourceType accepts "*" and names shaped like FHIR resource types
// (an upper-case letter, then letters). Whether the type exists is for the
// caller to decide; a scope for an unknown type simply never matches.
func validResourceType(rt string) bool {
	if rt == "*" {
		return true
	}
	if rt == "" || len(rt) > 64 || rt[0] < 'A' || rt[0] > 'Z' {
		return false
	}
	for i := 1; i < len(rt); i++ {
		c := rt[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// Allows reports whether any scope permits op on resourceType.
func (ss Scopes) Allows(resourceType string, op Op) bool {
	_, ok := ss.Grant(resourceType, op)
	return ok
}

// Grant returns the broadest context (system, then user, then patient) whose
// scopes permit op on resourceType. A patient-context grant means the caller
// may only touch the launch patient's data; enforcing that is the caller's job.
func (ss Scopes) Grant(resourceType string, op Op) (Context, bool) {
	var best Context
	for _, s := range ss {
		if s.Context > best && s.Ops.Has(op) && (s.ResourceType == "*" || s.ResourceType == resourceType) {
			best = s.Context
		}
	}
	return best, best != 0
}

// Has reports whether any scope is of context c.
func (ss Scopes) Has(c Context) bool {
	for _, s := range ss {
		if s.Context == c {
			return true
		}
	}
	return false
}

// String renders the scopes in SMART v2 syntax, space-separated.
func (ss Scopes) String() string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}
