package auth

import "slices"

// SMARTConfiguration is the discovery document of SMART App Launch 2.x
// (https://hl7.org/fhir/smart-app-launch/conformance.html), as far as
// this server goes: Backend Services' client_credentials grant with
// private_key_jwt client authentication, and no authorization endpoint.
type SMARTConfiguration struct {
	TokenEndpoint         string   `json:"token_endpoint"`
	GrantTypes            []string `json:"grant_types_supported"`
	TokenEndpointAuth     []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	Scopes                []string `json:"scopes_supported"`
	Capabilities          []string `json:"capabilities"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// NewSMARTConfiguration describes the token endpoint at tokenURL (absolute).
// code_challenge_methods_supported, which SMART 2.x requires, is empty:
// there is no authorization endpoint, so no PKCE. The scopes listed are
// examples of what a client may be registered for; any SMART v1 or v2
// resource scope of the system/ and user/ contexts is understood.
func NewSMARTConfiguration(tokenURL string) SMARTConfiguration {
	return SMARTConfiguration{
		TokenEndpoint:         tokenURL,
		GrantTypes:            []string{GrantClientCredentials},
		TokenEndpointAuth:     []string{"private_key_jwt"},
		TokenEndpointAuthAlgs: slices.Clone(assertionAlgs),
		Scopes:                []string{"system/*.cruds", "system/*.rs", "system/*.read", "system/*.write", "user/*.cruds", "user/*.rs", "user/*.read"},
		Capabilities:          []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"},
		CodeChallengeMethods:  []string{},
	}
}
