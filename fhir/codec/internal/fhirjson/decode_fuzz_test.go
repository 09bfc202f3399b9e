package fhirjson

import (
	"os"
	"testing"
)

// FuzzDecode checks the contract on any input: if the fast decoder returns
// a resource, jsonformat accepts the input and returns an equal one; it
// never panics. Seeded with the corpus and the rule cases; the corpus
// files over 16 KB (large Bundles) are left out because each execution on
// them takes jsonformat tens of milliseconds, which starves the fuzzer.
// TestDecodeCorpus covers them.
func FuzzDecode(f *testing.F) {
	for _, name := range corpusFiles(f) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 16<<10 {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"resourceType":"Patient","birthDate":"1990-01-01","_birthDate":{"id":"b"},"name":[{"given":["a","b"],"_given":[{"id":"x"},{"id":"y"}]}]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.5e3,"comparator":"<="},"subject":{"reference":"Patient/1/_history/2"}}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"10:00:00.1234","contained":[{"resourceType":"Patient","id":"p"}]}`,
		`{"resourceType":"Patient","deceasedDateTime":"2020-02-03T04:05:06.7-00:00","meta":{"lastUpdated":"2020-02-03T04:05:06Z"}}`,
		`{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8="}`,
	} {
		f.Add([]byte(s))
	}
	d, ref := newDecoder(f), newReference(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, d, ref, b)
	})
}
