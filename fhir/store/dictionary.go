package store

// versionDict is the Zstandard raw-content dictionary (RFC 8878 §5) that
// stored versions are compressed with: text a version is likely to
// repeat, which a frame may then copy from instead of spelling out. What
// every version Relais stores repeats is structure, not patient data: the
// member names of compact FHIR JSON (written with sorted keys), the
// sensitivity labels every version carries in meta.security (their
// systems, codes and displays, fhir/category), and the code systems of
// the mappings. A 1 KB Condition, stored as it was because compression
// without a dictionary saved less than a fifth, takes about 300 bytes
// with it. The text comes last where it is most often used: a copy from
// near the end is a short offset.
//
// The dictionary is part of the storage format: a frame names it by
// versionDictID, and a version written with it can only be read with
// these exact bytes. Never edit it; a better one gets a new id, and this
// one stays for reading (TestVersionDictFrozen holds its hash).
const versionDictID = 1

const versionDict = `{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201 Created","location":"` +
	`"resourceType":"OperationOutcome","issue":[{"code":"not-supported","details":{"text":"field not mapped"},"expression":["PID-` +
	`{"code":"processing","details":{"text":"segment not mapped"},"expression":["ZBE"],"severity":"warning"},` +
	`"resourceType":"Binary","contentType":"x-application/hl7-v2+er7","data":"` +
	`"contentType":"application/pdf","data":"` +
	`"resourceType":"DocumentReference","status":"current","type":{"coding":[{"code":"18842-5","display":"Discharge summary","system":"http://loinc.org"}]},"content":[{"attachment":{"contentType":"text/xml","url":"Binary/` +
	`"resourceType":"Composition","section":[{"code":{"coding":[{"code":"11450-4","display":"Problem list","system":"http://loinc.org"}]},"text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">","status":"generated"},"title":"` +
	`"intent":"order","priority":"routine","requester":{"reference":"Organization/","owner":{"reference":"PractitionerRole/","focus":{"reference":"ServiceRequest/","for":{"reference":"Patient/",` +
	`"resourceType":"Task","status":"requested","businessStatus":{"coding":[{"code":"","system":"https://relais-health.github.io/fhir/CodeSystem/routing-status"}]},"restriction":{"period":{"end":"` +
	`"resourceType":"CarePlan","status":"active","intent":"plan","activity":[{"reference":{"reference":"ServiceRequest/"}}],"instantiatesCanonical":["https://relais-health.github.io/fhir/PlanDefinition/` +
	`"resourceType":"ServiceRequest","basedOn":[{"reference":"CarePlan/"}],"occurrencePeriod":{"end":"","start":"` +
	`"resourceType":"CareTeam","participant":[{"member":{"reference":"PractitionerRole/"},"role":[{"coding":[{"code":"","system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"}]}]}],"status":"active",` +
	`"resourceType":"Consent","category":[{"coding":[{"code":"59284-0","system":"http://loinc.org"}]}],"policyRule":{"coding":[{"code":"OPTIN","system":"http://terminology.hl7.org/CodeSystem/v3-ActCode"}]},"provision":{"actor":[{"reference":{"reference":"PractitionerRole/"},"role":{"coding":[{"code":"IRCP","system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType"}]}}],"scope":{"coding":[{"code":"patient-privacy","system":"http://terminology.hl7.org/CodeSystem/consentscope"}]},` +
	`"resourceType":"QuestionnaireResponse","item":[{"answer":[{"valueCoding":{"code":"","display":"","system":"` +
	`"resourceType":"MedicationRequest","dosageInstruction":[{"doseAndRate":[{"doseQuantity":{"code":"mg","system":"http://unitsofmeasure.org","unit":"mg","value":` +
	`"resourceType":"MedicationStatement","medicationCodeableConcept":{"coding":[{"code":"","display":"","system":"http://www.nlm.nih.gov/research/umls/rxnorm"}]},"status":"active",` +
	`"resourceType":"PractitionerRole","active":true,"code":[{"coding":[{"code":"60","display":"Infirmier","system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"}]}],"organization":{"reference":"Organization/` +
	`"resourceType":"HealthcareService","extension":[{"extension":[{"url":"typeTerritorialDivision","valueCode":"3"},{"url":"codeTerritorialDivision","valueCode":""}],"url":"https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-territorial-division"}],` +
	`"resourceType":"Organization","identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.2","value":"` +
	`"telecom":[{"system":"phone","use":"home","value":"},{"system":"email","use":"work","value":"` +
	`"address":[{"city":"","country":"FR","line":[""],"postalCode":"","type":"postal","use":"home"}],` +
	`"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"` +
	`"identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","type":{"coding":[{"code":"INS-NIR","system":"https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"}]},"value":"` +
	`{"system":"http://hl7.org/fhir/sid/us-ssn","type":{"coding":[{"code":"SS","system":"http://terminology.hl7.org/CodeSystem/v2-0203"}]},"value":"` +
	`"type":{"coding":[{"code":"MR","system":"http://terminology.hl7.org/CodeSystem/v2-0203"}]},"value":"` +
	`"relationship":[{"coding":[{"code":"","system":"http://terminology.hl7.org/CodeSystem/v2-0131"}]}],"resourceType":"RelatedPerson",` +
	`"name":[{"family":"","given":[""],"prefix":["Dr"],"use":"official"}],"gender":"female","birthDate":"19` +
	`"generalPractitioner":[{"reference":"Practitioner/"},{"reference":"PractitionerRole/` +
	`"resourceType":"Patient","active":true,` +
	`"class":{"code":"IMP","display":"inpatient encounter","system":"http://terminology.hl7.org/CodeSystem/v3-ActCode"},"hospitalization":{"dischargeDisposition":{"coding":[{"code":"","system":"http://terminology.hl7.org/CodeSystem/v2-0112"}]}},"diagnosis":[{"condition":{"reference":"Condition/"},"rank":1,"use":{"coding":[{"code":"DD","display":"Discharge diagnosis","system":"http://terminology.hl7.org/CodeSystem/diagnosis-role"}]}}],` +
	`"location":[{"location":{"reference":"Location/"},"status":"completed"}],"participant":[{"individual":{"reference":"Practitioner/"},"type":[{"coding":[{"code":"ATND","system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType"}]}]}],"period":{"end":"","start":"` +
	`"resourceType":"Encounter","status":"finished",` +
	`"physicalType":{"coding":[{"code":"bd","display":"Bed","system":"http://terminology.hl7.org/CodeSystem/location-physical-type"}]},"resourceType":"Location","mode":"instance",` +
	`"activity":{"coding":[{"code":"CREATE","display":"create","system":"http://terminology.hl7.org/CodeSystem/v3-DataOperation"}]},"agent":[{"type":{"coding":[{"code":"assembler","system":"http://terminology.hl7.org/CodeSystem/provenance-participant-type"}]},"who":{"reference":"Device/"}}],"entity":[{"role":"source","what":{"reference":"Binary/"}},{"role":"derivation","what":{"reference":"OperationOutcome/"}}],"recorded":"` +
	`"resourceType":"Provenance","target":[{"reference":"Patient/"},{"reference":"Encounter/"},{"reference":"Condition/"},{"reference":"Observation/"},{"reference":"Procedure/"},{"reference":"AllergyIntolerance/"},{"reference":"Practitioner/"},{"reference":"Location/` +
	`"clinicalStatus":{"coding":[{"code":"active","system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"}]},"verificationStatus":{"coding":[{"code":"confirmed","system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"}]},"criticality":"low","reaction":[{"manifestation":[{"text":""}],"severity":"mild"}],"resourceType":"AllergyIntolerance","type":"allergy",` +
	`"performedDateTime":"","performer":[{"actor":{"reference":"Practitioner/"}}],"resourceType":"Procedure","status":"completed",` +
	`"category":[{"coding":[{"code":"encounter-diagnosis","display":"Encounter Diagnosis","system":"http://terminology.hl7.org/CodeSystem/condition-category"}]}],"clinicalStatus":{"coding":[{"code":"active","system":"http://terminology.hl7.org/CodeSystem/condition-clinical"}]},"recordedDate":"","resourceType":"Condition",` +
	`"code":{"coding":[{"code":"","display":"","system":"http://hl7.org/fhir/sid/icd-10"}]},{"system":"https://smt.esante.gouv.fr/terminologie-cim-10/"},{"system":"http://snomed.info/sct"}],"text":"` +
	`"category":[{"coding":[{"code":"laboratory","display":"Laboratory","system":"http://terminology.hl7.org/CodeSystem/observation-category"}]}],"interpretation":[{"coding":[{"code":"N","display":"Normal","system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"}]}],"referenceRange":[{"high":{"unit":"","value":},"low":{"unit":"","value":},"text":""}],"resourceType":"Observation","status":"final","valueQuantity":{"code":"","system":"http://unitsofmeasure.org","unit":"","value":` +
	`"code":{"coding":[{"code":"","display":"","system":"http://loinc.org"}]},"effectiveDateTime":"` +
	`"encounter":{"reference":"Encounter/"},"id":"","identifier":[{"system":"urn:oid:","value":""}],` +
	`"meta":{"lastUpdated":"20","security":[` +
	`{"code":"ORD","display":"Orders, tasks and activities addressed to a recipient","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"},` +
	`{"code":"MED","display":"Medication","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"},` +
	`{"code":"FUNC","display":"Functional status: autonomy, GIR, mobility","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"},` +
	`{"code":"SOC","display":"Social: living situation, carers, housing, benefits","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"},` +
	`{"code":"ADM","display":"Administrative: identity, contact, encounter dates","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"},` +
	`{"code":"CLIN","display":"Clinical: diagnoses, procedures, results, allergies","system":"https://relais-health.github.io/fhir/CodeSystem/data-category"},` +
	`{"code":"N","system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality"},{"code":"R","system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality"}],"versionId":"1"},"patient":{"reference":"Patient/"},"subject":{"reference":"Patient/"}`
