package assessment

import "testing"

func benchConvert(b *testing.B, file string) {
	in := read(b, file)
	opts := testOptions("")
	for b.Loop() {
		if _, err := Convert(in, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConvertAGGIR(b *testing.B) { benchConvert(b, "testdata/aggir-subvariables.json") }
func BenchmarkConvertTDDUI(b *testing.B) { benchConvert(b, "testdata/tddui-qualifiers.json") }
func BenchmarkConvertNeeds(b *testing.B) { benchConvert(b, "testdata/needs-full-careplan.json") }
