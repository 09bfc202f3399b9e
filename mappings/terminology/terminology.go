// Package terminology maps the code-system identifiers found in HL7 v2 and
// CDA (OIDs, HL7 table names) to the canonical FHIR URIs of those systems.
//
// An OID without a known URI becomes "urn:oid:<oid>", which FHIR accepts as a
// system (https://hl7.org/fhir/R4/terminologies-systems.html).
package terminology

import "strings"

// Canonical FHIR URIs of the systems the mappings name directly.
const (
	LOINC      = "http://loinc.org"
	SNOMED     = "http://snomed.info/sct"
	ICD10      = "http://hl7.org/fhir/sid/icd-10"
	CIM10      = "https://smt.esante.gouv.fr/terminologie-cim-10/"
	CCAM       = "https://smt.esante.gouv.fr/terminologie-ccam/"
	CIS        = "https://smt.esante.gouv.fr/terminologie-cis/"
	ATC        = "http://www.whocc.no/atc"
	UCUM       = "http://unitsofmeasure.org"
	RxNorm     = "http://www.nlm.nih.gov/research/umls/rxnorm"
	CVX        = "http://hl7.org/fhir/sid/cvx"
	NDC        = "http://hl7.org/fhir/sid/ndc"
	CPT        = "http://www.ama-assn.org/go/cpt"
	ICD10CM    = "http://hl7.org/fhir/sid/icd-10-cm"
	ICD9CM     = "http://hl7.org/fhir/sid/icd-9-cm"
	NUCC       = "http://nucc.org/provider-taxonomy"
	TAASIP     = "https://smt.esante.gouv.fr/fhir/CodeSystem/terminologie-cisis"
	TAASIPOID  = "1.2.250.1.213.1.1.4.322" // TA_ASIP's OID, as CI-SIS documents name it
	INSNIR     = "urn:oid:1.2.250.1.213.1.4.8"
	INSNIRTest = "urn:oid:1.2.250.1.213.1.4.10"
	INSNIA     = "urn:oid:1.2.250.1.213.1.4.9"
	INSNIATest = "urn:oid:1.2.250.1.213.1.4.11"
	RPPS       = "https://rpps.esante.gouv.fr"
	FINESS     = "https://finess.esante.gouv.fr"
	IDNPS      = "urn:oid:1.2.250.1.71.4.2.1"
	TREG15     = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
	TRER85     = "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
	TRER94     = "https://mos.esante.gouv.fr/NOS/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial"
	// TRER66 codes the categories of establishment (FINESS), OID
	// 1.2.250.1.213.1.6.1.8; CI-SIS discharge letters name the kind of
	// establishment a patient left for with it.
	TRER66 = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
	// TRER38 codes the physicians' specialties (Spécialité ordinale, "SM"
	// codes).
	TRER38    = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
	V3ActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	// TRER13 codes the communes (INSEE COG) of FR Core's address
	// extension AddressINSEE, on Address (or Address.city).
	TRER13       = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
	AddressINSEE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"

	// HL7 v3 and v2 code systems that CDA documents name by OID.
	V3Gender          = "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender"
	V3Marital         = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	V3Confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	V3RoleCode        = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	V3ParticipationFn = "http://terminology.hl7.org/CodeSystem/v3-ParticipationFunction"
	V3ActPriority     = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
	V3Interpretation  = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	V3Route           = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
	V3NullFlavor      = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
	V2DischargeDisp   = "http://terminology.hl7.org/CodeSystem/v2-0112"
	// TaskCode is R4's task-code system; its "fulfill" (TaskFulfil) is
	// the code of a Task that asks its owner to carry out its focus, a
	// request.
	TaskCode   = "http://hl7.org/fhir/CodeSystem/task-code"
	TaskFulfil = "fulfill"
	// NUBCPatientStatus is NUBC UB-04 FL17 Patient Status, the code system
	// of C-CDA's discharge disposition (value set
	// 2.16.840.1.113883.3.88.12.80.33); its URI is terminology.hl7.org's
	// AHANUBCPatientDischargeStatus.
	NUBCPatientStatus = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
	UNII              = "http://fdasis.nlm.nih.gov"
	MVX               = "http://hl7.org/fhir/sid/mvx"
	ICD10PCS          = "http://www.cms.gov/Medicare/Coding/ICD10"
)

// byOID lists the OIDs with a canonical FHIR URI. Keep it sorted by OID.
// Extend it with str_replace-style edits: several mappings share it.
var byOID = map[string]string{
	TAASIPOID:                   TAASIP,
	"1.2.250.1.213.1.4.10":      INSNIRTest,
	"1.2.250.1.213.1.4.8":       INSNIR,
	"1.2.250.1.213.1.4.9":       INSNIA,
	"1.2.250.1.213.1.6.1.8":     TRER66,
	"1.2.250.1.213.2.28":        TRER38,
	"1.2.250.1.213.2.3.1":       CIS,
	"1.2.250.1.213.2.5":         CCAM,
	"1.2.250.1.71.1.2.7":        TREG15,
	"1.2.250.1.71.4.2.1":        IDNPS,
	"2.16.840.1.113883.12.112":  V2DischargeDisp,
	"2.16.840.1.113883.12.227":  MVX,
	"2.16.840.1.113883.12.292":  CVX,
	"2.16.840.1.113883.4.9":     UNII,
	"2.16.840.1.113883.5.1":     V3Gender,
	"2.16.840.1.113883.5.1008":  V3NullFlavor,
	"2.16.840.1.113883.5.111":   V3RoleCode,
	"2.16.840.1.113883.5.112":   V3Route,
	"2.16.840.1.113883.5.2":     V3Marital,
	"2.16.840.1.113883.5.25":    V3Confidentiality,
	"2.16.840.1.113883.5.4":     V3ActCode,
	"2.16.840.1.113883.5.7":     V3ActPriority,
	"2.16.840.1.113883.5.83":    V3Interpretation,
	"2.16.840.1.113883.5.88":    V3ParticipationFn,
	"2.16.840.1.113883.6.1":     LOINC,
	"2.16.840.1.113883.6.101":   NUCC,
	"2.16.840.1.113883.6.103":   ICD9CM,
	"2.16.840.1.113883.6.12":    CPT,
	"2.16.840.1.113883.6.3":     ICD10,
	"2.16.840.1.113883.6.301.5": NUBCPatientStatus,
	"2.16.840.1.113883.6.4":     ICD10PCS,
	"2.16.840.1.113883.6.69":    NDC,
	"2.16.840.1.113883.6.73":    ATC,
	"2.16.840.1.113883.6.8":     UCUM,
	"2.16.840.1.113883.6.88":    RxNorm,
	"2.16.840.1.113883.6.90":    ICD10CM,
	"2.16.840.1.113883.6.96":    SNOMED,
}

// SystemForOID returns the FHIR system URI for an OID: its canonical URI
// when known, else "urn:oid:<oid>".
func SystemForOID(oid string) string {
	oid = strings.TrimPrefix(strings.TrimSpace(oid), "urn:oid:")
	if uri, ok := byOID[oid]; ok {
		return uri
	}
	return "urn:oid:" + oid
}

// KnownOID reports whether the OID has a canonical FHIR URI here.
func KnownOID(oid string) bool {
	_, ok := byOID[strings.TrimPrefix(oid, "urn:oid:")]
	return ok
}

// nosBase is where the ANS publishes the NOS terminologies (TRE_, JDV_).
const nosBase = "https://mos.esante.gouv.fr/NOS/"

// Canonical returns a code system's canonical URI, so that a code matches
// however its source named the system: an OID known here is the URI it
// stands for (urn:oid:1.2.250.1.213.2.5 is CCAM, urn:oid:1.2.250.1.71.1.2.7
// TRE_G15), and a NOS terminology named by one of the other forms ANS
// guides and exports use is its canonical URL: over http, with a trailing
// slash (the MOS pages' links), or as its FHIR file
// (".../TRE-G15-ProfessionSante/TRE_G15-ProfessionSante-FHIR.json", which
// an earlier AsPractitionerRoleProfile of the Annuaire Santé IG fixed as
// the system of its professionG15 slice).
func Canonical(system string) string {
	if oid, ok := strings.CutPrefix(system, "urn:oid:"); ok {
		if uri, ok := byOID[oid]; ok {
			return uri
		}
		return system
	}
	rest, ok := strings.CutPrefix(system, nosBase)
	if ok && !strings.HasSuffix(rest, "/") && !strings.HasSuffix(rest, "-FHIR.json") {
		return system // already canonical: consent asks this of every role at every decision
	}
	if !ok {
		if rest, ok = strings.CutPrefix(system, "http://mos.esante.gouv.fr/NOS/"); !ok {
			return system
		}
	}
	rest = strings.TrimSuffix(rest, "/")
	if i := strings.LastIndexByte(rest, '/'); i >= 0 && strings.HasSuffix(rest, "-FHIR.json") {
		rest = rest[:i]
	}
	return nosBase + rest
}
