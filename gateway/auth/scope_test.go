package auth

import "testing"

func TestParseScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // Scope.String(), "" when not a resource scope
	}{
		// SMART v2
		{"system/*.cruds", "system/*.cruds"},
		{"user/Task.rs", "user/Task.rs"},
		{"patient/Observation.r", "patient/Observation.r"},
		{"user/Task.cu", "user/Task.cu"},
		{"system/Patient.s", "system/Patient.s"},
		{"user/Task.crud", "user/Task.crud"},
		// SMART v1
		{"user/CarePlan.read", "user/CarePlan.rs"},
		{"system/Task.write", "system/Task.cud"},
		{"patient/*.*", "patient/*.cruds"},
		{"system/*.read", "system/*.rs"},
		// not resource scopes, or malformed: ignored
		{"openid", ""},
		{"fhirUser", ""},
		{"launch", ""},
		{"launch/patient", ""},
		{"offline_access", ""},
		{"user/Task.sr", ""},              // letters out of order
		{"user/Task.rr", ""},              // repeated letter
		{"user/Task.x", ""},               // unknown letter
		{"user/Task.", ""},                // no permissions
		{"user/Task", ""},                 // no dot
		{"user/task.rs", ""},              // not a resource type name
		{"user/.rs", ""},                  // empty type
		{"admin/Task.rs", ""},             // unknown context
		{"User/Task.rs", ""},              // contexts are lower case
		{"user/Task.Read", ""},            // v1 words are lower case
		{"user/Task.rs?status=ready", ""}, // granular query: unsupported, so not granted
		{"user/Task.rs.extra", ""},
		{"user/Ta-sk.rs", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseScope(tt.in)
			if ok != (tt.want != "") || (ok && got.String() != tt.want) {
				t.Errorf("ParseScope(%q) = %v, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	got := ParseScopes("  openid fhirUser\tuser/Task.rs launch/patient  patient/Observation.read system/Bad.q ")
	if want := "user/Task.rs patient/Observation.rs"; got.String() != want {
		t.Errorf("ParseScopes = %q, want %q", got, want)
	}
	if ParseScopes("") != nil {
		t.Error("ParseScopes(\"\") is not empty")
	}
}

func TestScopesAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scopes string
		rt     string
		op     Op
		want   bool
	}{
		{"system/*.cruds", "Patient", Delete, true},
		{"system/*.cruds", "Task", Search, true},
		{"user/Task.rs", "Task", Read, true},
		{"user/Task.rs", "Task", Search, true},
		{"user/Task.rs", "Task", Update, false},
		{"user/Task.rs", "Task", Create, false},
		{"user/Task.rs", "CarePlan", Read, false},
		{"user/Task.rs user/Task.u", "Task", Update, true},
		{"user/Task.read", "Task", Search, true},
		{"user/Task.read", "Task", Delete, false},
		{"user/Task.write", "Task", Delete, true},
		{"user/Task.write", "Task", Read, false},
		{"user/Task.write", "Task", Search, false},
		{"patient/*.*", "Observation", Create, true},
		{"patient/Observation.r", "Observation", Search, false},
		{"openid fhirUser", "Task", Read, false},
		{"", "Task", Read, false},
		{"user/Task.rs?status=ready", "Task", Read, false},
		{"user/*.r", "*", Read, true}, // a literal "*" type only matches wildcard scopes
		{"user/Task.r", "*", Read, false},
	}
	for _, tt := range tests {
		if got := ParseScopes(tt.scopes).Allows(tt.rt, tt.op); got != tt.want {
			t.Errorf("%q Allows(%s, %v) = %v, want %v", tt.scopes, tt.rt, tt.op, got, tt.want)
		}
	}
}

func TestScopesGrant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scopes string
		rt     string
		op     Op
		want   Context
	}{
		{"patient/Observation.rs user/Observation.r", "Observation", Read, ContextUser},
		{"patient/Observation.rs user/Observation.r", "Observation", Search, ContextPatient},
		{"patient/*.rs system/Task.r user/*.r", "Task", Read, ContextSystem},
		{"patient/*.rs system/Task.r user/*.r", "CarePlan", Read, ContextUser},
		{"user/Task.r", "Task", Update, 0},
	}
	for _, tt := range tests {
		got, ok := ParseScopes(tt.scopes).Grant(tt.rt, tt.op)
		if got != tt.want || ok != (tt.want != 0) {
			t.Errorf("%q Grant(%s, %v) = %v, %v; want %v", tt.scopes, tt.rt, tt.op, got, ok, tt.want)
		}
	}
}

func TestPrincipalIsSystem(t *testing.T) {
	t.Parallel()
	for scopes, want := range map[string]bool{
		"system/Task.r":                true,
		"user/*.cruds patient/*.cruds": false,
		"openid system/Bad":            false,
		"":                             false,
	} {
		p := &Principal{Scopes: ParseScopes(scopes)}
		if got := p.IsSystem(); got != want {
			t.Errorf("IsSystem(%q) = %v, want %v", scopes, got, want)
		}
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"system/*.cruds", "user/Task.rs openid", "patient/Observation.read", "user/Task.rs?x=1", "a/b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sc := range ParseScopes(s) {
			// Every parsed scope renders to a v2 scope that parses back the same.
			back, ok := ParseScope(sc.String())
			if !ok || back != sc || sc.Ops == 0 {
				t.Fatalf("scope %+v from %q does not round-trip: %+v %v", sc, s, back, ok)
			}
		}
	})
}
