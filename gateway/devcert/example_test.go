package devcert_test

import (
	"fmt"
	"log"
	"os"

	"github.com/relais-health/relais/gateway/devcert"
)

// What `relais certs --dir certs` does: the first run creates every file,
// later runs keep them.
func ExampleGenerateWith() {
	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	res, err := devcert.GenerateWith(dir, devcert.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", res.Created)
	res, err = devcert.GenerateWith(dir, devcert.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", res.Created, "kept:", len(res.Kept))

	srv, err := devcert.ServerTLS(dir, true) // mutual TLS, e.g. for MLLP
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(srv.Certificates), srv.ClientAuth)
	// Output:
	// created: [dev-jwt-es256.pem ca.crt ca.key server.crt server.key client.crt client.key]
	// created: [] kept: 7
	// 1 RequireAndVerifyClientCert
}
