package directory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	prrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// syntheticDirectory builds a directory of n PractitionerRoles over the
// whole commune table, each in an Organization of its own covering, like
// ROR entries do, its commune and a few neighbouring ones (70%), its
// département (25%) or its région (5%). Roles follow the weights of the
// professions in the community (nurses and GPs first); half the roles
// have opening hours; half state a capacity of 1 to 5 open Tasks
// (taken from i, not rng, so that the rest of the directory is the same
// as before capacities existed).
func syntheticDirectory(c *Communes, n int, rng *rand.Rand) []proto.Message {
	all := c.All()
	var pool []RoleCode
	for _, rc := range RoleCodes {
		w := 1
		switch rc.Role {
		case Nurse:
			w = 30
		case GP:
			w = 7
		case Physiotherapist:
			w = 15
		case Pharmacist:
			w = 10
		case HomeHelp:
			w = 3
		}
		for range w {
			pool = append(pool, rc)
		}
	}
	out := make([]proto.Message, 0, 2*n)
	for i := range n {
		home := all[rng.IntN(len(all))]
		org := &orgpb.Organization{Id: &dtpb.Id{Value: fmt.Sprintf("org-%d", i)}}
		switch p := rng.IntN(100); {
		case p < 70:
			at := slices.Index(all, home)
			for k := range 1 + rng.IntN(5) {
				if j := at + k; j < len(all) && all[j].Departement == home.Departement {
					org.Extension = append(org.Extension, tdExt(LevelCommune, all[j].Code))
				}
			}
		case p < 95:
			org.Extension = append(org.Extension, tdExt(LevelDepartement, home.Departement))
		default:
			org.Extension = append(org.Extension, tdExt(LevelRegion, home.Region))
		}
		rc := pool[rng.IntN(len(pool))]
		pr := &prrpb.PractitionerRole{
			Id:           &dtpb.Id{Value: fmt.Sprintf("role-%06d", i)},
			Active:       &dtpb.Boolean{Value: rng.IntN(20) != 0},
			Organization: resource.Ref("Organization", org.Id.Value),
			Code:         []*dtpb.CodeableConcept{codeable(rc.System, rc.Code)},
		}
		if rng.IntN(2) == 0 {
			pr.AvailableTime = []*prrpb.PractitionerRole_AvailableTime{{
				DaysOfWeek: []*prrpb.PractitionerRole_AvailableTime_DaysOfWeekCode{
					{Value: cpb.DaysOfWeekCode_MON}, {Value: cpb.DaysOfWeekCode_TUE}, {Value: cpb.DaysOfWeekCode_WED},
					{Value: cpb.DaysOfWeekCode_THU}, {Value: cpb.DaysOfWeekCode_FRI}},
				AvailableStartTime: &dtpb.Time{ValueUs: 8 * 3600e6},
				AvailableEndTime:   &dtpb.Time{ValueUs: 19 * 3600e6},
			}}
		}
		if i%2 == 0 {
			pr.Extension = append(pr.Extension, capacityExt(uint32(1+i%5)))
		}
		out = append(out, org, pr)
	}
	return out
}

func capacityExt(n uint32) *dtpb.Extension {
	return &dtpb.Extension{Url: &dtpb.Uri{Value: ExtOpenTaskCapacity},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_UnsignedInt{UnsignedInt: &dtpb.UnsignedInt{Value: n}}}}
}

func codeable(system, code string) *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: system}, Code: &dtpb.Code{Value: code}}}}
}

func tdExt(l Level, code string) *dtpb.Extension {
	sub := func(url string, cc *dtpb.CodeableConcept) *dtpb.Extension {
		return &dtpb.Extension{Url: &dtpb.Uri{Value: url}, Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_CodeableConcept{CodeableConcept: cc}}}
	}
	return &dtpb.Extension{
		Url: &dtpb.Uri{Value: ExtTerritorialDivision},
		Extension: []*dtpb.Extension{
			sub(subType, codeable("https://mos.esante.gouv.fr/NOS/JDV_J223-TypeDivisionTerritoriale-ROR/FHIR/JDV-J223-TypeDivisionTerritoriale-ROR", fmt.Sprint(int(l)))),
			sub(subCode, codeable("https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune", code)),
		},
	}
}

// BenchmarkCandidates chooses candidates for a random patient commune and
// pathway role in a directory of 50,000 roles over the ~35,000 communes,
// with the language and availability filters on. It reports the p50 and
// p99 of single calls (the target is p99 ≤ 1 ms). index: the index alone,
// no open Task counted. store: the path routing takes without a
// snapshot in its context (Directory.Candidates): a read transaction per
// query on a real store holding 30,000 Tasks of random roles, three in
// four open, whose counts the candidates stating a capacity are read.
func BenchmarkCandidates(b *testing.B) {
	c := communes(b)
	rng := rand.New(rand.NewPCG(1, 2))
	x := BuildIndex(1, syntheticDirectory(c, 50000, rng))
	all := c.All()
	roles := []Role{GP, Nurse, Physiotherapist, Pharmacist, HomeHelp, Cardiologist, CaseManager, SocialWorker}
	queries := make([]Query, 1024)
	at := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	for i := range queries {
		queries[i] = Query{
			Role:      roles[rng.IntN(len(roles))],
			Place:     Place{Territories: c.territories([]*Commune{all[rng.IntN(len(all))]})},
			Languages: []string{"fr"},
			At:        at,
		}
	}
	st := openStore(b)
	writeTasks(b, st, 30000, 50000, rand.New(rand.NewPCG(3, 4)))
	b.Run("index", func(b *testing.B) {
		benchCandidates(b, queries, func(q Query) ([]Candidate, error) {
			got, _, err := x.Candidates(q, nil)
			return got, err
		})
	})
	b.Run("store", func(b *testing.B) {
		benchCandidates(b, queries, func(q Query) (got []Candidate, err error) {
			err = st.View(func(r *store.Snapshot) error {
				got, _, err = x.Candidates(q, r)
				return err
			})
			return got, err
		})
	})
}

func benchCandidates(b *testing.B, queries []Query, candidates func(Query) ([]Candidate, error)) {
	durs := make([]time.Duration, 0, b.N)
	kept := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		got, err := candidates(queries[i%len(queries)])
		durs = append(durs, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		kept += len(got)
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(kept)/float64(b.N), "candidates/op")
}

// writeTasks stores n Tasks owned by random roles of syntheticDirectory's
// (role-000000 to role-<roles-1>), three in four in an open status.
func writeTasks(tb testing.TB, st *store.Store, n, roles int, rng *rand.Rand) {
	tb.Helper()
	statuses := []string{"requested", "accepted", "in-progress", "completed"}
	for done := 0; done < n; {
		var entries []store.TxEntry
		for ; done < n && len(entries) < 1000; done++ {
			js := fmt.Sprintf(`{"resourceType":"Task","id":"t%d","status":%q,"intent":"order","owner":{"reference":"PractitionerRole/role-%06d"}}`,
				done, statuses[rng.IntN(len(statuses))], rng.IntN(roles))
			m, err := testCodec.Decode([]byte(js))
			if err != nil {
				tb.Fatal(err)
			}
			entries = append(entries, store.TxEntry{Method: "PUT", Type: "Task", ID: fmt.Sprintf("t%d", done), Resource: m})
		}
		if _, err := st.Transaction(context.Background(), entries); err != nil {
			tb.Fatal(err)
		}
	}
}
