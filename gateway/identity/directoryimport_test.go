package identity

import (
	"fmt"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// TestNationalIDsOrganization: the registers an Organization is known by
// (TRE_G07: IDNST = 1 + FINESS, 2 + SIREN, 3 + SIRET), SIREN and SIRET in
// one SIRENE system, whichever form of its URL.
func TestNationalIDsOrganization(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		system, value string
		want          string
	}{
		{FINESS, "590780194", "[[" + FINESS + " 590780194]]"},
		{SIRET, "26590018300017", "[[" + SIRET + " 26590018300017]]"},
		{SIRET, "265900183", "[[" + SIRET + " 265900183]]"},
		{"http://sirene.fr", "265900183", "[[" + SIRET + " 265900183]]"},
		{IDNST, "1590780194", "[[" + IDNST + " 1590780194] [" + FINESS + " 590780194]]"},
		{IDNST, "2265900183", "[[" + IDNST + " 2265900183] [" + SIRET + " 265900183]]"},
		{IDNST, "326590018300017", "[[" + IDNST + " 326590018300017] [" + SIRET + " 26590018300017]]"},
		{"https://rppsrang.esante.gouv.fr", "F754567860", "[]"},
	} {
		if got := fmt.Sprint(NationalIDs("Organization", c.system, c.value)); got != c.want {
			t.Errorf("%s|%s: %s, want %s", c.system, c.value, got, c.want)
		}
	}
}

// TestMergeExtensions: by URL, the incoming extensions replace the stored
// ones of their URL in place; the stored ones of other URLs stay, and
// merging the same extensions again gives the same order.
func TestMergeExtensions(t *testing.T) {
	t.Parallel()
	ext := func(url, v string) *dtpb.Extension {
		return &dtpb.Extension{Url: &dtpb.Uri{Value: url}, Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: v}}}}
	}
	show := func(xs []*dtpb.Extension) string {
		out := ""
		for _, x := range xs {
			out += x.GetUrl().GetValue() + "=" + x.GetValue().GetStringValue().GetValue() + " "
		}
		return out
	}
	stored := []*dtpb.Extension{ext("period", "1998"), ext("territory", "59350"), ext("territory", "59360")}
	got := mergeExtensions(stored, []*dtpb.Extension{ext("territory", "59350"), ext("help", "02")})
	if want := "period=1998 territory=59350 help=02 "; show(got) != want {
		t.Errorf("got %s, want %s", show(got), want)
	}
	if again := mergeExtensions(got, []*dtpb.Extension{ext("period", "1998")}); show(again) != show(got) {
		t.Errorf("merged again: %s, was %s", show(again), show(got))
	}
}
