package audit

// Peers are the two network ends of a request, as BALP's RESTful
// patterns record them (https://profiles.ihe.net/ITI/BALP/content.html):
// the client as its TCP connection knows it, the OAuth client_id of its
// token, and the server by the base URL the request was addressed to.
// The zero Peers is a request from nowhere on the network (the server's
// own work: routing, delivery decisions), which records no peer agents.
type Peers struct {
	ClientAddr string // the client's IP address
	ClientID   string // the access token's client_id
	ServerURL  string // the FHIR base URL ("https://relais.example/fhir")
}

// serverDisplay names Relais as source.observer does (Render), so that an
// agent that is the server is the observer (BALP's val-audit-source).
const serverDisplay = "Relais"

// restPeers are the client and server agents of a RESTful event whose
// interaction is sub, after the BALP profile of that interaction. The
// roles follow the direction of the request's own content (DICOM and
// IHE's convention, which BALP keeps): a read's server is the Source
// Role ID (110153) and its client the Destination (110152); a query's,
// a create's and an update's client is the Source and the server the
// Destination; a delete's client is the Application (110150) and the
// server the custodian (BALP PatientDelete). The client's token's
// client_id is the OAuth client application (110150, BALP
// OAUTHaccessTokenUse.Comprehensive oClient), its address its network.
func (p Peers) restPeers(sub Code) []Agent {
	if p.ClientAddr == "" && p.ServerURL == "" {
		return nil
	}
	client := Agent{Display: p.ClientAddr, Network: p.ClientAddr, NetworkType: NetworkIP}
	server := Agent{Display: serverDisplay, Network: p.ServerURL, NetworkType: NetworkURI}
	switch sub {
	case SubRead, SubVRead, SubHistory:
		client.Type, server.Type = AgentDest, AgentSource
	case SubDelete:
		return []Agent{p.application(), {Type: AgentCustodian, Display: serverDisplay, Network: p.ServerURL, NetworkType: NetworkURI}}
	default:
		client.Type, server.Type = AgentSource, AgentDest
	}
	out := []Agent{client, server}
	if p.ClientID != "" {
		out = append(out, p.application())
	}
	return out
}

// application is the client application (DICOM 110150): its client_id
// (else its address) at its address.
func (p Peers) application() Agent {
	a := Agent{Type: AgentApplication, Client: p.ClientID, Display: p.ClientAddr, Network: p.ClientAddr, NetworkType: NetworkIP}
	if p.ClientID != "" {
		a.Display = ""
	}
	return a
}

// server is Relais as an agent at its base URL, in role t.
func (p Peers) server(t Code) Agent {
	return Agent{Type: t, Display: serverDisplay, Network: p.ServerURL, NetworkType: NetworkURI}
}

// AddPeers appends to e the agents BALP gives its pattern for p (none
// for the zero Peers): a RESTful event's client and server (restPeers,
// by its first subtype), a security alert's (an AuthZ consent decision,
// break-the-glass) client application (BALP AuthZconsent
// agent[client]). An agent without a network address renders none.
func (e *Event) AddPeers(p Peers) {
	if p == (Peers{}) {
		return
	}
	switch {
	case e.Type == TypeRest && len(e.Subtype) > 0:
		e.Agents = append(e.Agents, p.restPeers(e.Subtype[0])...)
	case e.Type == TypeAlert: // AuthZ consent, break-the-glass
		e.Agents = append(e.Agents, p.application())
	}
}
