// Package cda translates HL7 CDA R2 documents — C-CDA R1.1 and R2.1 (discharge
// and transfer summaries, referral and consultation notes, care plans, CCDs,
// H&P, progress and operative notes), the French CI-SIS discharge letters
// LDL-SES and LDL-EES and the CI-SIS laboratory report CR-BIO (IHE PaLM
// XD-LAB) — into one FHIR R4 transaction Bundle. It is a pure
// function from bytes to FHIR: no I/O, no logging.
//
// # Basics
//
// [Convert] reads the document with its own XML reader (xml.go): one pass
// builds a flat tree whose strings are slices of the input; DOCTYPE and
// entity declarations, undeclared entities and excessive nesting are
// refused, namespaces are resolved (prefixed or default CDA namespace, sdtc,
// xsi:type), mixed-content narrative is kept in order.
//
// The header gives the Patient (INS-NIR/NIA with its FR Core identifier
// type, birth and used names, birthplace, contacts, guardian), the authors,
// legal authenticator and custodian (Practitioner, PractitionerRole with
// TRE_G15 profession and TRE_R38 speciality split from CI-SIS "G15_10/SM26"
// codes, Organization, or Device), the general practitioner (participant or
// performer with functionCode PCP, as Patient.generalPractitioner naming
// her Practitioner), the
// Encounter (with discharge disposition, also taken from the CI-SIS
// FR-Modalite-sortie entry) and a Composition whose sections keep their
// narrative as XHTML and reference the resources made from their entries.
//
// Entries are dispatched on their templateIds (C-CDA, CCD, IHE PCC, CI-SIS)
// and then on their class and mood: Condition, AllergyIntolerance,
// MedicationStatement and MedicationRequest (intents and treatments at
// discharge), Procedure, Observation (results and panels, vital signs,
// social history, functional status labelled FUNC), Immunization, Goal,
// Device with DeviceUseStatement, encounters, and ServiceRequest for every
// planned act — among them the CI-SIS "Suites à donner" entries FR-Acte,
// FR-Demande-d-examen-ou-de-suivi and FR-Rencontre, with code, timing and
// performer type; the results an XD-LAB Laboratory Report Data Processing
// Entry wraps (laboratory observations, battery and isolate organizers as
// panels, the specimen collection as a Procedure). A plan section also
// yields a CarePlan over its requests and the document's goals. An unstructured body becomes a DocumentReference
// holding the text or PDF. A DocumentReference indexes the original, which
// bundle.Builder.Finish stores as a Binary with a Provenance.
//
// Resource ids are bundle.ID hashes of the source identifiers (document
// setId, entry ids, INS, RPPS...), so a resent or new version of a document
// updates the same resources. Code system OIDs become FHIR URIs through
// mappings/terminology; unknown ones become urn:oid: systems.
//
// fhir/codec.Codec.Encode prints the result as FHIR JSON.
//
// # Caveats
//
// Only input that is not a CDA document, names no patient, or exceeds
// Options.MaxSize is refused. Everything else maps fail-soft: an entry that
// matches no mapping is reported as a warning with its XPath and templateIds
// (Result.Issues, and the Bundle's OperationOutcome linked from the
// Provenance). Nested details that have no FHIR home here (family history,
// payers, advance directives, some entryRelationships) are kept only in the
// section narrative and the source Binary.
//
// Times without a UTC offset are read in Options.Location. Character
// encodings other than UTF-8, UTF-16 (with BOM) and ISO-8859-1/Windows-1252
// are refused.
package cda
