package hl7v2

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// FuzzConvert: any input either converts to a Bundle that encodes, or is
// refused with an *er7.Error that an ACK can carry. Never a panic.
func FuzzConvert(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(read(f, s.path))
	}
	broken, _ := filepath.Glob("testdata/broken/*.hl7")
	for _, b := range broken {
		f.Add(read(f, b))
	}
	// The new events' edges: a referral without RF1 or providers, results
	// with odd SN values and ranges, a note before any result, a pending
	// discharge without a visit.
	for _, m := range []string{
		"MSH|^~\\&|A|B|C|D|20240101||REF^I13^REF_I12|R1|P|2.5\rPRD|RT|^^^|||||^IDNPS\rPID|1||1^^^H^PI\r",
		"MSH|^~\\&|A|B|C|D|20240101||REF^I14^REF_I12|R2|P|2.5\rPID|1||1^^^H^PI\r",
		"MSH|^~\\&|A|B|C|D|20240101||ORU^R01^ORU_R01|O1|P|2.5\rPID|1||1^^^H^PI\rNTE|1||x\rOBX|1|SN|c^d^LN||>=^^-^|u^u^UCUM|[ < ]|ZZ\rOBR|1|||||||||||||||||||||||\rOBX|2|SN|c^d^LN||^1^/^0||-.5--1\r",
		"MSH|^~\\&|A|B|C|D|20240101||ADT^A16^ADT_A16|P1|P|2.5\rPID|1||1^^^H^PI\rPV2|||||||||2024\r",
		"MSH|^~\\&|A|B|C|D|20240101||ADT^A34^ADT_A30|M1|P|2.5\rPID|1||1^^^H^PI\rMRG|1^^^H^PI~~2\r",
		// a movement without PV1; the temporary, prior temporary and
		// pending locations of a discharge, of a past movement
		"MSH|^~\\&|A|B|C|D|20240101||ADT^A02^ADT_A02|L1|P|2.5\rPID|1||1^^^H^PI\rZBE|1^H|2024||INSERT|N\r",
		"MSH|^~\\&|A|B|C|D|20240101||ADT^A03^ADT_A03|L2|P|2.5\rPID|1||1^^^H^PI\rPV1||I|U^1^1|||U^2||||||R^1|||||||V1^^^H^VN|||||||||||||||||||||||P^3|R^1\rZBE|1^H|2024||INSERT|N\r",
		"MSH|^~\\&|A|B|C|D|20240101||ADT^A02^ADT_A02|L3|P|2.5\rPID|1||1^^^H^PI\rPV1||I|U^1^1|||||||||R^1|||||||V1^^^H^VN|||||||||||||||||||||||P^3|R^1\rZBE|1^H|2024||INSERT|Y\r",
	} {
		f.Add([]byte(m))
	}
	cd := codec.MustNew()
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := testOptions()
		opts.EmbeddedCDA = stubCDA
		c, err := Convert(data, opts)
		if err != nil {
			var e *er7.Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			_ = er7.Nack(data, err)
			return
		}
		if _, err := cd.Encode(c.Bundle); err != nil {
			t.Fatalf("Bundle does not encode: %v", err)
		}
		_ = er7.AckFor(c.Message, nil)
	})
}

func BenchmarkConvert(b *testing.B) {
	for _, name := range []string{"ms-ADT-A01-01.hl7", "simhosp-ADT-A01-0004.hl7", "pam-fr-a03.hl7", "mdm-t02-cda.hl7"} {
		path := filepath.Join(sharedCorpus, name)
		if strings.HasPrefix(name, "pam") || strings.HasPrefix(name, "mdm") {
			path = filepath.Join(fixtures, name)
		}
		data := read(b, path)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Convert(data, testOptions()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	var corpus [][]byte
	for _, s := range samples(b) {
		if _, skip := skipped[s.name]; !skip {
			corpus = append(corpus, read(b, s.path))
		}
	}
	b.Run("corpus", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range corpus {
				if _, err := Convert(d, testOptions()); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(corpus)), "ns/msg")
	})
}

func ExampleConvert() {
	msg := "MSH|^~\\&|ADT|HOSP^1.2.250.1.999.1.1^ISO|RELAIS|RELAIS|20240110113000+0100||ADT^A03^ADT_A03|42|P|2.5\r" +
		"EVN||20240110113000+0100\r" +
		"PID|1||123456^^^HOSP&1.2.250.1.999.1.1&ISO^PI||DUPONT^JEANNE||19800515|F\r" +
		"PV1|1|I|CARDIO^101^1|||||||||||||||||240001^^^HOSP&1.2.250.1.999.1.1&ISO^AN|||||||||||||||||01||||||||20240102100000|20240110110000\r"
	c, err := Convert([]byte(msg), Options{})
	if err != nil {
		// Refuse the message: er7.Nack([]byte(msg), err)
		fmt.Println(err)
		return
	}
	fmt.Println(c.Header.MessageCode, c.Header.TriggerEvent, c.Header.ControlID, c.Header.EventTime.UTC().Format("2006-01-02 15:04"))
	fmt.Println(len(c.Bundle.Entry), "entries")
	// Once the Bundle is stored, acknowledge it:
	ack := strings.Split(string(er7.AckFor(c.Message, nil)), "\r")
	fmt.Println(ack[1])
	// Output:
	// ADT A03 42 2024-01-10 10:30
	// 8 entries
	// MSA|AA|42
}
