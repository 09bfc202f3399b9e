package directory

import (
	"context"
	"slices"
	"testing"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// TestEndpointAddresses: the allow-list of notification endpoints is the
// address of every active Endpoint of the directory.
func TestEndpointAddresses(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	var entries []store.TxEntry
	for _, js := range []string{
		`{"resourceType":"Endpoint","id":"gp","status":"active","connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},"payloadType":[{"text":"notifications"}],"address":"https://gp.example.org/fhir"}`,
		`{"resourceType":"Endpoint","id":"old","status":"off","connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},"payloadType":[{"text":"notifications"}],"address":"https://old.example.org/fhir"}`,
	} {
		m, err := testCodec.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, store.TxEntry{Method: "PUT", Type: "Endpoint", ID: resource.ID(m), Resource: m})
	}
	if _, err := st.Transaction(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	got, err := New(st, testCodec).EndpointAddresses()
	if err != nil || !slices.Equal(got, []string{"https://gp.example.org/fhir"}) {
		t.Errorf("EndpointAddresses = %v, %v", got, err)
	}
}
