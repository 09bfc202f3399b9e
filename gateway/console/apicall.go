package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/proto"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
)

// The console's only way to data: a request to the API's handler, in
// process, carrying the signed-in person's bearer token. The API
// authenticates it, checks its scopes, runs the consent filter or the
// write policy and records its decisions, as for any client.

type client struct {
	h     http.Handler
	codec *codec.Codec
}

// caller is one person's access during one console request.
type caller struct {
	c     *client
	r     *http.Request // the console request: its context and Host
	token string
}

func (c *Console) callerOf(r *http.Request, s *session) caller {
	return caller{c: c.api, r: r, token: s.token}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// apiError is an API refusal, with the text its OperationOutcome gives the
// caller. It is shown to her, never logged.
type apiError struct {
	status int
	text   string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.text) }

// do sends one request to the API. A status of 400 or more is an
// *apiError.
func (k caller) do(method, path string, body []byte, header http.Header) (*response, error) {
	ctx := context.WithoutCancel(k.r.Context())
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for name, vs := range header {
		req.Header[name] = vs
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	// The API resolves absolute references and fhirUsers against the
	// request's base: the console's own.
	req.Host, req.TLS, req.RemoteAddr = k.r.Host, k.r.TLS, k.r.RemoteAddr
	w := &bufferWriter{header: http.Header{}, status: http.StatusOK}
	k.c.h.ServeHTTP(w, req)
	res := &response{status: w.status, header: w.header, body: w.buf.Bytes()}
	if res.status >= 400 {
		return res, &apiError{status: res.status, text: k.c.outcomeText(res.body)}
	}
	return res, nil
}

func (k caller) get(path string) (*response, error) { return k.do("GET", path, nil, nil) }

// fhirJSON is the header of a FHIR JSON body.
func fhirJSON() http.Header {
	return http.Header{"Content-Type": {"application/fhir+json"}, "Prefer": {"return=minimal"}}
}

// read decodes the resource at path.
func (k caller) read(path string) (proto.Message, *response, error) {
	res, err := k.get(path)
	if err != nil {
		return nil, res, err
	}
	m, err := k.c.codec.Decode(res.body)
	return m, res, err
}

// search returns the resources of a searchset or history Bundle at path
// (its first page: the console asks for _count large enough).
func (k caller) search(path string) ([]proto.Message, error) {
	m, _, err := k.read(path)
	if err != nil {
		return nil, err
	}
	b, ok := m.(*bcrpb.Bundle)
	if !ok {
		return nil, fmt.Errorf("%s: not a Bundle", strings.SplitN(path, "?", 2)[0])
	}
	var out []proto.Message
	for _, e := range b.GetEntry() {
		if e.GetResource() == nil {
			continue
		}
		if r := resource.Unwrap(e.GetResource()); r != nil && resource.Type(r) != "OperationOutcome" {
			out = append(out, r)
		}
	}
	return out, nil
}

// query builds path?values.
func query(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// outcomeText is what an OperationOutcome tells the caller.
func (c *client) outcomeText(body []byte) string {
	m, err := c.codec.Decode(body)
	oo, ok := m.(*oopb.OperationOutcome)
	if err != nil || !ok {
		return strings.TrimSpace(string(body))
	}
	var parts []string
	for _, is := range oo.GetIssue() {
		if t := is.GetDetails().GetText().GetValue(); t != "" {
			parts = append(parts, t)
		}
		if t := is.GetDiagnostics().GetValue(); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "; ")
}

// bufferWriter is the in-process response.
type bufferWriter struct {
	header http.Header
	status int
	wrote  bool
	buf    bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}

func (w *bufferWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.buf.Write(b)
}

// Flush lets streaming handlers flush (a no-op: the body is kept).
func (w *bufferWriter) Flush() {}

var _ io.Writer = (*bufferWriter)(nil)
