/*
Package consent decides, for one requester, one patient and one piece of data,
whether Relais may disclose it: a FHIR R4 Consent decision engine.

# Basics

[Engine.Decide] is the one entry point. A [Request] names the patient, the
actor (the caller's fhirUser: a Practitioner, PractitionerRole or
Organization), the action (access or disclose), the purpose of use (a v3
ActReason code, TREAT by default) and the facts of the resource (type, data
categories, sensitivity labels, clinically relevant date, codes, references).
The [Decision] says permit or deny, with an ID, the Consents that decided
(Basis), the provision path that decided or the base-policy rule when none did
(Policy), and the data categories allowed to pass (Obligations). Anything the
engine cannot establish denies.

The semantics are those of https://hl7.org/fhir/R4/consent.html, read as
follows (../shared/DESIGN.md, "Consent model"):

  - Only active Consents apply; a Consent applies where its root provision's
    criteria match. A root without type takes it from policyRule (v3 ActCode
    OPTIN/OPTINR: permit, OPTOUT/OPTOUTE: deny); an unknown policy rule makes
    the whole Consent a deny wherever its root matches.
  - Nested provisions, to any depth, are exceptions of the opposite type when
    they carry no type; one that states its parent's type is a refinement
    (R4 requires the type, so it is valid; the explanation says how it was
    read). The deepest matching provision gives the Consent's answer (deny
    wins between equally deep siblings).
  - Across applicable Consents deny overrides permit. When none applies the
    base [Policy] decides.
  - Criteria: actor (reference or role code), action, purpose, class (resource
    types, or Relais data categories), code, securityLabel, period (validity,
    against the clock), dataPeriod (against the resource's date) and data
    (instance, related). A criterion the engine cannot evaluate (an unknown
    class system, a resource without date against a dataPeriod, data meaning
    authoredby...) counts as matching in a deny provision and as not matching
    in a permit provision.

The default base policy ([FrenchLaw]) follows CSP L.1110-4 and L.1110-12:
health professionals (PractitionerRole coded in TRE_G15) in the patient's care
team (generalPractitioner and members of active CareTeams) receive ADM, CLIN,
MED, ORD and FUNC unless the patient objected. Everyone else - non-health
roles (TRE_R85, TRE_R94), people outside the care team, unclassifiable actors,
cross-border recipients - needs an explicit permit, which passes ADM, ORD,
FUNC and SOC, and CLIN or MED only when the permit names them (class or
securityLabel in the category code system, or a criterion naming the very
resource). Sensitive labels (PSY, HIV, ETH, SEX, R) pass only under a
provision naming the label. Of the orders (Policy.Addressed: Task,
ServiceRequest), a permit to anyone outside the care team passes only those
addressed to or from her, unless it names the resource itself: ORD is the
order addressed to a recipient, not every recipient's. Unlabelled resources
take [category.Default].
A consent administrator (RoleSystem) is no recipient: no Consent applies
to her, not even a permit naming no actor.

Facts come through small interfaces ([Directory], [CareTeams], [Consents]);
[StoreSource] implements them over the FHIR store, reading search indexes
rather than JSON, and memoises its answers under the generation of the
store snapshot they were read from (reused only while no write has
committed since). Inside a search it reads the search's own snapshot
(store.WithSnapshot): a read transaction never opens a second one.
Compiled Consents are cached per patient and revalidated on every decision
against the (id, version) set of the patient's Consents, so a revocation is
seen by the very next decision.

[Filter] applies the engine to search results before paging: per patient it
resolves the actor once and specialises each Consent's rule tree to the
request (actor, purpose, action, clock), so that per resource only the data
criteria run, on the few index values they need. [Log] keeps the
append-only decision record in the store; [Validate] checks a Consent before it
is written; and [CodeSystem] publishes the data-category code system.

# Caveats

  - Actor roles from v3-ParticipationType (PRCP, CST, AUT...) describe
    participation, not qualification: the actor's reference decides. Custodian
    and author semantics (data held or written by the actor) are not modelled.
  - Break-the-glass grants (purpose ETREAT or BTG with a reason) are kept in
    memory: after a restart the reason must be given again. They override
    patient objections and sensitive labels, and are flagged for review.
  - Group references as actors are not resolved; a Group actor with a role
    code matches by role only, without one it cannot be evaluated.
  - Purpose subsumption is limited to TREAT > ETREAT > BTG.
  - The search filter sees the current version's index; history and vread of
    older versions should decide on the facts of the version served
    ([FactsOf]).
  - A filtered search costs 1.2x an unfiltered one when it searches by
    patient and 1.4x when it reads every resource of a type, where the
    unfiltered search reads nothing but the current pointers
    (BenchmarkSearchFilter/patient and /type). Per resource the filter
    compares the leading bytes of its stored index values (labels, patient,
    subject: storage version 3 stores them first, one group per parameter)
    with the last few resources whose verdicts depended on nothing else,
    and otherwise reads those groups in one store.Groups walk without
    allocating; each patient is resolved once per request.
  - Several R4 Consent examples (notThem, notThis, notTime, notAuthor,
    grantor, Emergency) encode the opposite of their narratives under these
    semantics (OPTIN roots without type permit); TestCorpusConsents says
    which and asserts what the encoding means.
*/
package consent
