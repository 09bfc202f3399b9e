package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"github.com/relais-health/relais/fhir/resource"
)

// Languages: French and English. The choice comes from ?lang= (and is then
// kept in a cookie that holds nothing else), else that cookie, else the
// browser's Accept-Language, else French. Every string the console shows
// is in catalogue.

type lang string

const (
	en lang = "en"
	fr lang = "fr"
)

const langCookie = "relais_lang"

func (l lang) other() lang {
	if l == en {
		return fr
	}
	return en
}

func parseLang(s string) (lang, bool) {
	switch strings.ToLower(s) {
	case "en":
		return en, true
	case "fr":
		return fr, true
	}
	return "", false
}

func langOf(r *http.Request) lang {
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		return l
	}
	if ck, err := r.Cookie(langCookie); err == nil {
		if l, ok := parseLang(ck.Value); ok {
			return l
		}
	}
	return acceptedLang(r.Header.Get("Accept-Language"))
}

// langMatcher chooses between the console's languages, French first: the
// answer when the browser accepts neither.
var langMatcher = language.NewMatcher([]language.Tag{language.French, language.English})

// acceptedLang is the language an Accept-Language header prefers: by
// weight, not by the order it lists them (RFC 9110 section 12.5.4: "en;q=0.1,
// fr" prefers French), a weight of 0 meaning not acceptable, a regional
// tag (fr-BE, en-GB) counting for its language; French when it names
// neither or cannot be read.
func acceptedLang(header string) lang {
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return fr
	}
	_, i, conf := langMatcher.Match(tags...)
	if conf == language.No || i != 1 {
		return fr
	}
	return en
}

// displayZone is the time zone the console writes times in: the
// hospital's, France's (Belgium shares its offsets). An instant shown
// without its zone is read as local time by the person reading it.
var displayZone = resource.Location("Europe/Paris")

// day writes the date of instant t, in the display zone, as l does: French
// 07/12/2026, English (ISO 8601) 2026-12-07.
func (l lang) day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if l == fr {
		return t.In(displayZone).Format("02/01/2006")
	}
	return t.In(displayZone).Format("2006-01-02")
}

// when writes instant t, in the display zone, as l does.
func (l lang) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if l == fr {
		return t.In(displayZone).Format("02/01/2006 15:04")
	}
	return t.In(displayZone).Format("2006-01-02 15:04")
}

// date writes a FHIR date (yyyy, yyyy-mm or yyyy-mm-dd, a calendar date
// with no zone: a birth date) as l does.
func (l lang) date(d string) string {
	if l != fr {
		return d
	}
	if t, err := time.Parse("2006-01-02", d); err == nil {
		return t.Format("02/01/2006")
	}
	if t, err := time.Parse("2006-01", d); err == nil {
		return t.Format("01/2006")
	}
	return d
}

// compare orders names as l's readers do: the Unicode Collation Algorithm
// with CLDR's tailoring for l (golang.org/x/text/collate), so that an
// accented letter sorts with its base letter ("Élodie" between "Eddy" and
// "Emma", not after "Zoé" as its bytes would), accents and case deciding
// only between names otherwise equal. Punctuation counts as a space, as
// string search reads it: « Le-Goff » and « Le Goff » sort together, by
// given name. A collator is not safe for concurrent use: each call makes
// its own.
func (l lang) compare() func(a, b string) int {
	col := collate.New(language.Make(string(l)))
	return func(a, b string) int { return col.CompareString(unpunct(a), unpunct(b)) }
}

// unpunct is s with each punctuation mark as a space.
func unpunct(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) {
			return ' '
		}
		return r
	}, s)
}

// keepLang remembers a ?lang= choice.
func keepLang(w http.ResponseWriter, r *http.Request) {
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: Prefix, MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
}

// t is the catalogue entry key in l, formatted with args. A code of an
// open family (status., label.) the catalogue does not know shows as is.
func (l lang) t(key string, args ...any) string {
	e, ok := catalogue[key]
	if !ok {
		if i := strings.IndexByte(key, '.'); i >= 0 && (strings.HasPrefix(key, "status.") || strings.HasPrefix(key, "label.") || strings.HasPrefix(key, "policy.") || strings.HasPrefix(key, "purpose.")) {
			return key[i+1:]
		}
		return key
	}
	msg := e[0]
	if l == fr {
		msg = e[1]
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// catalogue holds every string: key -> {English, French}.
var catalogue = map[string][2]string{
	"brand.console": {"console", "console"},
	"lang.switch":   {"Français", "English"},
	"foot.note": {"Every page reads the API as you: what your token may not see is not shown, and every read is recorded.",
		"Chaque page lit l'API en votre nom : ce que votre jeton ne permet pas de voir n'est pas affiché, et chaque lecture est tracée."},

	"nav.skip":       {"Skip to content", "Aller au contenu"},
	"nav.main":       {"Main", "Principale"},
	"nav.patient":    {"Patient record", "Dossier du patient"},
	"nav.find":       {"Find a patient", "Rechercher un patient"},
	"nav.operations": {"Operations", "Exploitation"},
	"nav.signedin":   {"Signed in as %s", "Connecté·e : %s"},
	"nav.signout":    {"Sign out", "Se déconnecter"},

	"title.signin":      {"Sign in", "Connexion"},
	"title.home":        {"Find a patient", "Rechercher un patient"},
	"title.patients":    {"Patients found", "Patients trouvés"},
	"title.patient":     {"Patient", "Patient"},
	"title.consents":    {"Consents", "Consentements"},
	"title.whatif":      {"What if…", "Et si…"},
	"title.plan":        {"Discharge plan", "Plan de sortie"},
	"title.disclosures": {"Disclosure log", "Journal des accès"},
	"title.operations":  {"Operations", "Exploitation"},
	"title.error":       {"Error", "Erreur"},

	"signin.demo":        {"Demo identities", "Identités de démonstration"},
	"signin.demo.help":   {"Development server (--dev): choose who you are. The console mints that person's token.", "Serveur de développement (--dev) : choisissez qui vous êtes. La console crée le jeton de cette personne."},
	"signin.token":       {"Access token", "Jeton d'accès"},
	"signin.token.help":  {"Sign in with your hospital's identity provider (SMART App Launch or OpenID Connect), then paste the access token it gave you. It is kept on the server only.", "Connectez-vous auprès du fournisseur d'identité de l'établissement (SMART App Launch ou OpenID Connect), puis collez le jeton d'accès reçu. Il n'est conservé que sur le serveur."},
	"signin.token.label": {"Access token (JWT)", "Jeton d'accès (JWT)"},
	"signin.submit":      {"Sign in", "Se connecter"},
	"signin.expired":     {"Your session has ended: sign in again.", "Votre session a pris fin : reconnectez-vous."},
	"signin.refused":     {"The token was refused:", "Le jeton a été refusé :"},

	"who.gp":              {"Dr Claire Martin, GP", "Dr Claire Martin, médecin traitant"},
	"who.nurse":           {"Julien Petit, home nurse", "Julien Petit, infirmier à domicile"},
	"who.physio":          {"Sophie Bernard, physiotherapist", "Sophie Bernard, kinésithérapeute"},
	"who.midwife":         {"Léa Moreau, midwife", "Léa Moreau, sage-femme"},
	"who.home-help":       {"Home-help service (Lille)", "Service d'aide à domicile (Lille)"},
	"who.consent-officer": {"Sophie Lefebvre, consent officer", "Sophie Lefebvre, chargée des consentements"},
	"who.coordinator":     {"Julien Moreau, discharge coordinator", "Julien Moreau, coordinateur de sortie"},
	"who.patient":         {"Jeanne Dupont, the patient", "Jeanne Dupont, la patiente"},
	"who.daughter":        {"Marie Dupont, her daughter (power of attorney)", "Marie Dupont, sa fille (mandataire)"},
	"who.system":          {"Hospital integration (system)", "Intégration de l'hôpital (système)"},

	"find.ins.legend":     {"By INS", "Par INS"},
	"find.ins":            {"INS number (15 digits)", "Numéro INS (15 chiffres)"},
	"find.name.legend":    {"By name and birth date", "Par nom et date de naissance"},
	"find.family":         {"Family name", "Nom de naissance"},
	"find.given":          {"Given name", "Prénom"},
	"find.birthdate":      {"Birth date", "Date de naissance"},
	"find.local.legend":   {"By local identifier", "Par identifiant local"},
	"find.local":          {"Local patient identifier (IPP)", "Identifiant local (IPP)"},
	"find.submit":         {"Search", "Rechercher"},
	"find.empty":          {"Give at least one criterion.", "Indiquez au moins un critère."},
	"find.birthdate.hint": {"dd/mm/yyyy, for example 15/03/1942", "jj/mm/aaaa, par exemple 15/03/1942"},
	"find.baddate":        {"Birth date not understood: write it dd/mm/yyyy (for example 15/03/1942).", "Date de naissance non reconnue : saisissez-la au format jj/mm/aaaa (par exemple 15/03/1942)."},
	"find.results":        {"%d patient(s) found", "%d patient(s) trouvé(s)"},
	"find.none":           {"No patient you may see matches.", "Aucun patient visible pour vous ne correspond."},
	"find.again":          {"New search", "Nouvelle recherche"},

	"col.name": {"Name", "Nom"}, "col.birthdate": {"Birth date", "Date de naissance"},
	"col.identifiers": {"Identifiers", "Identifiants"}, "col.city": {"City", "Commune"},
	"col.gender": {"Sex", "Sexe"}, "col.gp": {"GP", "Médecin traitant"},
	"col.task": {"Task", "Tâche"}, "col.status": {"Status", "Statut"}, "col.owner": {"Asked of", "Destinataire"},
	"col.deadline": {"Answer by", "Réponse avant"}, "col.why": {"Why", "Pourquoi"}, "col.reason": {"Status reason", "Motif"}, "col.actions": {"Actions", "Actions"},
	"col.when": {"When", "Quand"}, "col.who": {"Who", "Qui"}, "col.what": {"What", "Quoi"}, "col.decision": {"Decision", "Décision"},

	"gender.female": {"female", "féminin"}, "gender.male": {"male", "masculin"},
	"gender.other": {"other", "autre"}, "gender.unknown": {"unknown", "inconnu"},
	"patient.born":        {"born %s", "date de naissance : %s"},
	"patient.born.female": {"born %s", "née le %s"}, "patient.born.male": {"born %s", "né le %s"},

	"tab.summary":         {"Summary", "Synthèse"},
	"tab.consents":        {"Consents", "Consentements"},
	"tab.whatif":          {"What if…", "Et si…"},
	"tab.plan":            {"Discharge plan", "Plan de sortie"},
	"tab.disclosures":     {"Disclosure log", "Journal des accès"},
	"summary.consents":    {"The patient's objections and permits, in plain words; record or revoke one.", "Ses oppositions et autorisations, en clair ; en enregistrer ou en révoquer."},
	"summary.whatif":      {"Could this person see this data? Asked of the consent engine.", "Cette personne pourrait-elle voir ces données ? Réponse du moteur de consentement."},
	"summary.plan":        {"The pathway, each request and who was asked, in order.", "Son parcours, chaque demande et qui a été sollicité, dans l'ordre."},
	"summary.disclosures": {"Who received or read what, when and why.", "Qui a reçu ou lu quoi, quand et pourquoi."},

	"cat.ADM":   {"identity and contact", "identité et coordonnées"},
	"cat.CLIN":  {"clinical data", "données cliniques"},
	"cat.MED":   {"medication", "médicaments"},
	"cat.ORD":   {"orders", "demandes de prise en charge"},
	"cat.FUNC":  {"autonomy", "autonomie"},
	"cat.SOC":   {"social situation", "situation sociale"},
	"label.PSY": {"mental health", "santé mentale"}, "label.HIV": {"HIV", "VIH"},
	"label.ETH": {"substance use", "addictions"}, "label.SEX": {"sexual health", "santé sexuelle"},
	"label.R": {"restricted data", "données restreintes"},

	"consent.deny":           {"%s objects to sharing with %s", "%s s'oppose au partage avec %s"},
	"consent.deny.what":      {"%s objects to sharing %s with %s", "%s s'oppose au partage de : %s avec %s"},
	"consent.permit":         {"%s may receive: %s", "%s peut recevoir : %s"},
	"consent.permit.default": {"%s may receive: identity, orders, autonomy, social situation (the default of a permit)", "%s peut recevoir : identité, demandes, autonomie, situation sociale (par défaut)"},
	"consent.anyone":         {"anyone", "quiconque"},
	"consent.patient":        {"The patient", "Le patient"},
	"consent.until":          {"until %s", "jusqu'au %s"},
	"consent.exceptions":     {"(with %d exception(s))", "(avec %d exception(s))"},

	"consents.law":             {"Without a choice recorded here, the law decides: the patient's care team shares health data; anyone else needs a permit.", "Sans choix enregistré ici, la loi s'applique : l'équipe de soins partage les données de santé ; toute autre personne a besoin d'une autorisation."},
	"consents.none":            {"No consent recorded.", "Aucun consentement enregistré."},
	"consents.updated":         {"updated %s (version %s)", "mis à jour le %s (version %s)"},
	"consents.revoke":          {"Revoke", "Révoquer"},
	"consents.revoke.label":    {"Revoke: %s", "Révoquer : %s"},
	"consents.history":         {"History (%d earlier version(s))", "Historique (%d version(s) antérieure(s))"},
	"consents.version":         {"version %s, %s", "version %s, %s"},
	"consents.record":          {"Record a choice", "Enregistrer un choix"},
	"consents.kind":            {"The patient's choice", "Choix du patient"},
	"consents.kind.deny":       {"Objection: do not share with…", "Opposition : ne pas partager avec…"},
	"consents.kind.permit":     {"Permit: share with…", "Autorisation : partager avec…"},
	"consents.recipients":      {"Recipients (from the directory)", "Destinataires (annuaire)"},
	"consents.categories":      {"Data categories", "Catégories de données"},
	"consents.categories.help": {"None ticked: an objection covers everything; a permit gives the default (identity, orders, autonomy, social situation).", "Aucune cochée : une opposition couvre tout ; une autorisation donne le socle (identité, demandes, autonomie, situation sociale)."},
	"consents.submit":          {"Record", "Enregistrer"},

	"whatif.help":                      {"Asks the consent engine, with the patient's Consents as they are now, and shows its explanation. Nothing is changed.", "Interroge le moteur de consentement avec ses consentements actuels et affiche son explication. Rien n'est modifié."},
	"whatif.actor":                     {"Who", "Qui"},
	"whatif.what":                      {"Which data", "Quelles données"},
	"whatif.choose":                    {"Choose…", "Choisir…"},
	"whatif.submit":                    {"Ask", "Demander"},
	"whatif.yes":                       {"Yes: this would be shared.", "Oui : ce serait partagé."},
	"whatif.no":                        {"No: this would not be shared.", "Non : ce ne serait pas partagé."},
	"whatif.passes":                    {"Categories that would pass:", "Catégories transmises :"},
	"whatif.basis":                     {"Decided by:", "Décidé par :"},
	"whatif.provision":                 {"Provision:", "Provision:"},
	"whatif.policy":                    {"Rule:", "Règle :"},
	"whatif.explanation":               {"Explanation: the consent engine's trace (technical, in English)", "Explication : la trace du moteur de consentement (technique, en anglais)"},
	"policy.care-team":                 {"Base rule: the patient's care team shares health data unless the patient objects.", "Règle de base : l'équipe de soins du patient partage les données de santé, sauf opposition du patient."},
	"policy.explicit-permit-required":  {"Base rule: anyone outside the care team needs the patient's permit.", "Règle de base : hors de l'équipe de soins, le partage nécessite l'autorisation du patient."},
	"policy.non-health-professional":   {"Base rule: a professional who is not a health professional needs the patient's permit.", "Règle de base : un professionnel qui n'est pas un professionnel de santé a besoin de l'autorisation du patient."},
	"policy.outside-care-team":         {"Base rule: outside the patient's care team, sharing needs the patient's permit.", "Règle de base : hors de l'équipe de soins du patient, le partage nécessite son autorisation."},
	"policy.cross-border":              {"Base rule: a recipient across the border needs the patient's permit.", "Règle de base : un destinataire de l'autre côté de la frontière a besoin de l'autorisation du patient."},
	"policy.category-not-permitted":    {"The permit does not cover this category of data.", "L'autorisation ne couvre pas cette catégorie de données."},
	"policy.sensitive-label-not-named": {"Sensitive data are shared only when a choice of the patient names them.", "Les données sensibles ne sont partagées que si un choix du patient les nomme."},
	"policy.consent-administrator-not-a-recipient": {"A consent officer receives no patient data.", "Un chargé des consentements ne reçoit aucune donnée de patient."},
	"policy.order-not-addressed-to-recipient":      {"Outside the care team, a permit shows only the orders addressed to the recipient, not the other recipients'.", "Hors de l'équipe de soins, une autorisation ne montre que les demandes adressées au destinataire, pas celles des autres."},
	"policy.routing-candidate":                     {"A candidate sees only the request addressed to them until they accept it.", "Un candidat ne voit que la demande qui lui est adressée tant qu'il ne l'a pas acceptée."},
	"policy.unclassified-actor":                    {"The recipient's profession is not known: nothing is shared without the patient's permit.", "La profession du destinataire est inconnue : rien n'est partagé sans l'autorisation du patient."},
	"policy.purpose-requires-permit":               {"This purpose needs the patient's permit.", "Cette finalité nécessite l'autorisation du patient."},
	"policy.system-access":                         {"Access by the hospital's own system.", "Accès par le système de l'hôpital."},
	"policy.break-glass":                           {"Emergency access (break-the-glass).", "Accès en urgence (bris de glace)."},
	"policy.break-glass-health-professionals-only": {"Only health professionals may break the glass.", "Seuls les professionnels de santé peuvent recourir au bris de glace."},
	"policy.invalid-request":                       {"The question could not be evaluated.", "La question n'a pas pu être évaluée."},
	"policy.patient-own-record":                    {"The patient's own record.", "Le dossier du patient lui-même."},
	"policy.not-the-patients-own-record":           {"Not the patient's own record.", "Ce n'est pas le dossier du patient."},
	"subject.letter":                               {"the discharge letter", "la lettre de liaison"},
	"subject.diagnoses":                            {"the diagnoses", "ses diagnostics"},
	"subject.medication":                           {"the medication", "ses médicaments"},
	"subject.tasks":                                {"the tasks addressed to them", "les demandes qui leur sont adressées"},
	"subject.autonomy":                             {"the autonomy assessment", "son évaluation d'autonomie"},
	"subject.social":                               {"the social situation", "sa situation sociale"},
	"subject.identity":                             {"the identity and contact details", "son identité et ses coordonnées"},

	"plan.none":           {"No discharge plan you may see.", "Aucun plan de sortie visible pour vous."},
	"plan.attention":      {"Tasks needing attention", "Tâches à suivre"},
	"plan.careplan":       {"Care plan", "Plan de soins"},
	"plan.pathway":        {"Pathway", "Parcours"},
	"plan.progress":       {"Moves of its Tasks (%d)", "Évolution des tâches (%d)"},
	"plan.window":         {"Due", "Échéance"},
	"plan.chain":          {"Who was asked, in order", "Qui a été sollicité, dans l'ordre"},
	"plan.waiting":        {"waiting for consent", "en attente de consentement"},
	"plan.nocandidate":    {"no candidate", "aucun candidat"},
	"plan.timedout":       {"timed out", "sans réponse à temps"},
	"plan.undelivered":    {"not delivered", "non distribuée"},
	"plan.act":            {"Re-route or assign by hand", "Réorienter ou confier manuellement"},
	"plan.assign.to":      {"Assign to", "Confier à"},
	"plan.assign":         {"Assign", "Confier"},
	"plan.cancel.reason":  {"Reason to cancel", "Motif d'annulation"},
	"plan.cancel":         {"Cancel task", "Annuler la tâche"},
	"plan.reroute":        {"Ask the next candidate", "Solliciter le candidat suivant"},
	"plan.cancel.default": {"cancelled by the discharge coordinator", "annulée par la coordination de sortie"},

	"disclosures.help":       {"Every consent decision about the patient's data: reads, searches and deliveries, newest first.", "Chaque décision de consentement sur ses données : lectures, recherches et envois, les plus récents d'abord."},
	"disclosures.none":       {"Nothing recorded.", "Rien d'enregistré."},
	"disclosures.breakglass": {"%d break-the-glass access(es) to review.", "%d accès en urgence (bris de glace) à examiner."},
	"disclosures.btg":        {"break-the-glass", "bris de glace"},
	"disclosures.system":     {"system", "système"},
	"disclosures.counts":     {"(%d shown, %d withheld)", "(%d transmis, %d retenus)"},
	// Purposes of use (R4 AuditEvent.purposeOfEvent, HL7 v3 ActReason, the
	// PurposeOfUse value set): their displays, and in French.
	"purpose.TREAT":     {"treatment", "soins"},
	"purpose.ETREAT":    {"emergency treatment", "soins en urgence"},
	"purpose.BTG":       {"break the glass", "bris de glace"},
	"purpose.CAREMGT":   {"care management", "coordination des soins"},
	"purpose.COC":       {"continuity of care", "continuité des soins"},
	"purpose.POPHLTH":   {"population health", "santé des populations"},
	"purpose.PATRQT":    {"patient requested", "à la demande du patient"},
	"purpose.FAMRQT":    {"family requested", "à la demande de la famille"},
	"purpose.PWATRNY":   {"power of attorney", "à la demande de son mandataire"},
	"purpose.HOPERAT":   {"healthcare operations", "fonctionnement de l'établissement"},
	"purpose.HPAYMT":    {"healthcare payment", "facturation des soins"},
	"purpose.PUBHLTH":   {"public health", "santé publique"},
	"purpose.HRESCH":    {"healthcare research", "recherche en santé"},
	"purpose.HSYSADMIN": {"health system administration", "administration du système d'information"},
	"purpose.HLEGAL":    {"legal", "obligation légale"},
	"decision.permit":   {"shared", "partagé"},
	"decision.deny":     {"refused", "refusé"},

	"ops.inbox":         {"HL7 v2 inbox", "Boîte de réception HL7 v2"},
	"ops.refused":       {"Not available to you:", "Non accessible pour vous :"},
	"ops.queued":        {"%d accepted message(s) not written yet.", "%d message(s) accepté(s) pas encore écrit(s)."},
	"ops.failed":        {"Set-aside messages", "Messages mis de côté"},
	"ops.nofailed":      {"No message set aside.", "Aucun message mis de côté."},
	"ops.message":       {"Message", "Message"},
	"ops.maps":          {"Maps now", "Convertible"},
	"ops.maps.yes":      {"yes", "oui"},
	"ops.maps.no":       {"no:", "non :"},
	"ops.retry":         {"Retry", "Réessayer"},
	"ops.retry.label":   {"Retry message %d", "Réessayer le message %d"},
	"ops.discard":       {"Discard", "Supprimer"},
	"ops.discard.label": {"Discard message %d", "Supprimer le message %d"},
	"ops.dead":          {"Delivery dead letters", "Notifications abandonnées"},
	"ops.nodead":        {"No dead letter.", "Aucune notification abandonnée."},
	"ops.subscription":  {"Subscription", "Abonnement"},
	"ops.attempts":      {"Attempts", "Tentatives"},
	"ops.lasterror":     {"Last error", "Dernière erreur"},
	"ops.replay":        {"Replay", "Renvoyer"},
	"ops.replay.label":  {"Replay %s event %d", "Renvoyer %s, événement %d"},

	"done.objection": {"Objection recorded.", "Opposition enregistrée."},
	"done.permit":    {"Permit recorded.", "Autorisation enregistrée."},
	"done.revoked":   {"Consent revoked: it no longer applies.", "Consentement révoqué : il ne s'applique plus."},
	"done.assigned":  {"Task re-assigned.", "Tâche confiée."},
	"done.cancelled": {"Task cancelled.", "Tâche annulée."},
	"done.rerouted":  {"Task re-routed: the next candidate is asked.", "Tâche réorientée : le candidat suivant est sollicité."},
	"done.retried":   {"Message written.", "Message écrit."},
	"done.discarded": {"Message discarded.", "Message supprimé."},
	"done.replayed":  {"Notification queued again.", "Notification remise en file."},

	"err.api":          {"The server says:", "Le serveur indique :"},
	"err.csrf":         {"This form has expired or did not come from the console. Reload the page and try again.", "Ce formulaire a expiré ou ne provient pas de la console. Rechargez la page et réessayez."},
	"err.notfound":     {"Not found, or not disclosed to you", "Introuvable, ou non communiqué pour vous"},
	"err.forbidden":    {"You may not do this", "Vous ne pouvez pas faire ceci"},
	"err.conflict":     {"Changed meanwhile: reload and try again", "Modifié entre-temps : rechargez et réessayez"},
	"err.invalid":      {"The request was refused", "La demande a été refusée"},
	"err.internal":     {"Something went wrong", "Une erreur est survenue"},
	"err.identity":     {"Unknown demo identity", "Identité de démonstration inconnue"},
	"err.token":        {"Paste an access token", "Collez un jeton d'accès"},
	"err.consent.form": {"Choose objection or permit and at least one recipient", "Choisissez opposition ou autorisation et au moins un destinataire"},
	"err.owner":        {"Choose whom to assign the task to", "Choisissez à qui confier la tâche"},

	"status.active": {"active", "actif"}, "status.inactive": {"revoked", "révoqué"},
	"status.draft": {"draft", "brouillon"}, "status.proposed": {"proposed", "proposé"},
	"status.rejected": {"rejected", "refusée"}, "status.entered-in-error": {"entered in error", "saisie erronée"},
	"status.requested": {"requested", "demandée"}, "status.received": {"received", "reçue"},
	"status.accepted": {"accepted", "acceptée"}, "status.ready": {"ready", "prête"},
	"status.cancelled": {"cancelled", "annulée"}, "status.in-progress": {"in progress", "en cours"},
	"status.on-hold": {"on hold", "suspendue"}, "status.failed": {"failed", "échouée"},
	"status.completed": {"completed", "terminée"}, "status.revoked": {"revoked", "révoquée"},
	"status.unknown": {"unknown", "inconnu"},

	// Routing's explanations, by code of routing.RoutingStatus (explain.go):
	// the arguments are the step's recipients and Tasks, its Consents, its
	// data categories, its roles, then its particulars.
	"why.sep":                       {"; ", " ; "},
	"why.or":                        {" or ", " ou "},
	"why.no-candidate":              {"no candidate", "aucun candidat"},
	"why.recipient-left":            {"its recipient left the directory", "son destinataire a quitté l'annuaire"},
	"why.re-route":                  {"re-routed by its requester", "réorientée par le demandeur"},
	"why.discharge-cancelled":       {"the discharge was cancelled: the patient stays in hospital", "la sortie a été annulée : le patient reste hospitalisé"},
	"why.superseded":                {"the discharge was planned along another pathway than this draft", "la sortie a été planifiée selon un autre parcours que ce brouillon"},
	"why.not-going-home":            {"the discharge was corrected: the patient is not going home", "la sortie a été corrigée : le patient ne rentre pas à domicile"},
	"why.patient-deceased":          {"the patient died: there is nobody to visit", "le patient est décédé : il n'y a plus de visite à faire"},
	"why.diagnosis-withdrawn":       {"a diagnosis or procedure this plan was made on was withdrawn: the stay no longer takes its pathway", "un diagnostic ou un acte sur lequel reposait ce plan a été retiré : le séjour ne relève plus de ce parcours"},
	"why.permit-required":           {"the patient's explicit permit is required", "l'autorisation explicite du patient est requise"},
	"why.no-answer":                 {"no answer in time", "pas de réponse dans le délai"},
	"why.not-delivered":             {"its notification could not be delivered", "sa notification n'a pas pu être remise"},
	"why.undelivered":               {"notification undelivered", "notification non distribuée"},
	"why.no-answer-within":          {"time to answer %s", "délai de réponse %s"},
	"why.removed":                   {"%s: removed from the directory", "%s : retiré de l'annuaire"},
	"why.general-practitioner":      {"the patient's general practitioner (Patient.generalPractitioner): %s", "le médecin traitant du patient (Patient.generalPractitioner) : %s"},
	"why.general-practitioner-role": {"in their role in the directory: %s", "dans son rôle de l'annuaire : %s"},
	"why.care-team":                 {"%s is in the patient's care team with this role", "%s fait partie de l'équipe de soins du patient avec ce rôle"},
	"why.first-candidate":           {"first candidate of the directory: %s", "premier candidat de l'annuaire : %s"},
	"why.directory-candidate":       {"%s is a candidate of the directory for the role %s", "%s est candidat de l'annuaire pour le rôle %s"},
	"why.covers-commune":            {"%s covers the patient's commune (%s)", "%s couvre la commune du patient (%s)"},
	"why.covers-departement":        {"%s covers the patient's département (%s)", "%s couvre le département du patient (%s)"},
	"why.covers-region":             {"%s covers the patient's région (%s)", "%s couvre la région du patient (%s)"},
	"why.covers-postal-code":        {"%s covers the patient's Belgian postal code (%s)", "%s couvre le code postal belge du patient (%s)"},
	"why.load":                      {"%s holds %s open Tasks of %s", "%s a %s tâches ouvertes sur %s"},
	"why.no-candidate-for-role":     {"no candidate in the directory for the role %s", "aucun candidat dans l'annuaire pour le rôle %s"},
	"why.unknown-commune":           {"the patient's address names no known commune", "l'adresse du patient ne désigne aucune commune connue"},
	"why.hospital-follows-up":       {"the discharging organisation follows up", "l'établissement de sortie assure le suivi"},
	"why.no-role":                   {"the action names no role", "l'action ne désigne aucun rôle"},
	"why.waiting-permit":            {"waiting for the patient's explicit permit", "en attente de l'autorisation explicite du patient"},
	"why.narrow-permit":             {"the patient's permit (%s) does not cover: %s", "l'autorisation du patient (%s) ne couvre pas : %s"},
	"why.objected":                  {"the patient objected: %s", "le patient s'y est opposé : %s"},
	"why.chosen-by-hand":            {"%s, chosen by hand", "%s, choisi manuellement"},
	"why.not-a-candidate":           {"%s, chosen by hand: not among the directory's candidates for the role %s", "%s, choisi manuellement : hors des candidats de l'annuaire pour le rôle %s"},
	"why.not-proposed":              {"%s, chosen by hand: the directory would not propose them for the role %s", "%s, choisi manuellement : l'annuaire ne le proposerait pas pour le rôle %s"},
	"why.reassigned":                {"re-assigned by %s", "confiée par %s"},
	"why.reassigned-by-requester":   {"re-assigned by its requester", "confiée par le demandeur"},
	"why.reassigned-from":           {"instead of %s", "à la place de %s"},
	"why.after-rejected":            {"after %s was rejected", "après le refus de %s"},
	"why.after-rerouted":            {"after %s was re-routed by its requester", "après la réorientation de %s par le demandeur"},
	"why.after-cancelled":           {"after %s was cancelled", "après l'annulation de %s"},
	"why.objection":                 {"%s: the patient objected (%s)", "%s : opposition du patient (%s)"},
	"why.refused-before":            {"%s: refused this request before", "%s : a déjà refusé cette demande"},
	"why.no-answer-before":          {"%s: did not answer this request in time", "%s : n'a pas répondu à temps à cette demande"},
	"why.unreachable-before":        {"%s: could not be reached for this request", "%s : n'a pas pu être joint pour cette demande"},
	"why.left-before":               {"%s: left the directory", "%s : a quitté l'annuaire"},
	"why.taken-off-before":          {"%s: was taken off this request before", "%s : a déjà été retiré de cette demande"},
	"why.inactive":                  {"%s: inactive", "%s : inactif"},
	"why.inactive-practitioner":     {"%s: inactive (its Practitioner)", "%s : inactif (son professionnel)"},
	"why.inactive-organization":     {"%s: inactive (its Organization)", "%s : inactif (sa structure)"},
	"why.period-ended":              {"%s: its period ended (PractitionerRole.period)", "%s : sa période d'exercice est terminée (PractitionerRole.period)"},
	"why.language":                  {"%s: speaks %s, not %s", "%s : parle %s, pas %s"},
	"why.outside-period":            {"%s: outside its period (PractitionerRole.period)", "%s : hors de sa période d'exercice (PractitionerRole.period)"},
	"why.not-available":             {"%s: unavailable throughout the window (notAvailable)", "%s : indisponible pendant toute la période (notAvailable)"},
	"why.outside-hours":             {"%s: outside its hours throughout the window (availableTime)", "%s : hors de ses horaires pendant toute la période (availableTime)"},
	"why.at-capacity":               {"%s: at capacity, %s open Tasks of %s", "%s : complet, %s tâches ouvertes sur %s"},
	"why.out-of-territory":          {"%s: out of territory, covers %s", "%s : hors territoire, couvre %s"},
	"why.no-territory":              {"%s: declares no territory", "%s : ne déclare aucun territoire"},
	"why.task-reassigned":           {"%s re-assigned from %s to %s", "%[1]s confiée à %[3]s à la place de %[2]s"},
	"why.task-requested":            {"%s requested of %s", "%s demandée à %s"},
	"why.task-held":                 {"%s on hold for %s until the patient's permit", "%s en attente de l'autorisation du patient pour %s"},
	"why.task-cancelled":            {"%s cancelled, asked of %s", "%s annulée (demandée à %s)"},
	"why.task-received":             {"%s received by %s", "%s reçue par %s"},
	"why.task-accepted":             {"%s accepted by %s", "%s acceptée par %s"},
	"why.task-rejected":             {"%s rejected by %s", "%s refusée par %s"},
	"why.task-ready":                {"%s ready at %s", "%s prête chez %s"},
	"why.task-in-progress":          {"%s in progress at %s", "%s en cours chez %s"},
	"why.task-on-hold":              {"%s put on hold by %s", "%s suspendue par %s"},
	"why.task-completed":            {"%s completed by %s", "%s terminée par %s"},
	"why.task-failed":               {"%s failed at %s", "%s en échec chez %s"},
	"why.task-entered-in-error":     {"%s entered in error (%s)", "%s saisie par erreur (%s)"},
	"why.task-draft":                {"%s draft (%s)", "%s en brouillon (%s)"},
	"why.reason":                    {"(%s)", "(%s)"},

	// Pathway roles (gateway/pathways RoleSystem).
	"role.gp":                       {"GP", "médecin traitant"},
	"role.nurse":                    {"nurse", "infirmier"},
	"role.physiotherapist":          {"physiotherapist", "kinésithérapeute"},
	"role.midwife":                  {"midwife", "sage-femme"},
	"role.pharmacist":               {"pharmacist", "pharmacien"},
	"role.cardiologist":             {"cardiologist", "cardiologue"},
	"role.pulmonologist":            {"pulmonologist", "pneumologue"},
	"role.neurologist":              {"neurologist", "neurologue"},
	"role.rehab-physician":          {"rehabilitation physician", "médecin de médecine physique et de réadaptation"},
	"role.speech-therapist":         {"speech therapist", "orthophoniste"},
	"role.geriatrician":             {"geriatrician", "gériatre"},
	"role.paediatrician":            {"paediatrician", "pédiatre"},
	"role.home-help":                {"home help", "aide à domicile"},
	"role.meals":                    {"meals", "portage de repas"},
	"role.social-worker":            {"social worker", "assistant de service social"},
	"role.case-manager":             {"case manager", "gestionnaire de cas"},
	"role.apa-team":                 {"APA team", "équipe APA"},
	"role.home-nursing-service":     {"home nursing service", "service de soins infirmiers à domicile"},
	"role.family-social-technician": {"family social technician", "technicien de l'intervention sociale et familiale"},
	"role.mother-child-protection":  {"mother and child protection", "protection maternelle et infantile"},
}
