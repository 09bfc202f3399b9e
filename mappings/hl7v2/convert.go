package hl7v2

import (
	"strconv"
	"strings"
	"time"

	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// conv is one conversion in progress.
type conv struct {
	msg   *er7.Message
	b     *bundle.Builder
	opts  Options
	zone  *time.Location
	h     Header
	code  string // MSH-9.1
	event string // MSH-9.2
	// scope keys the ids of things the sender names without an assigning
	// authority: MSH-4 (or MSH-3).
	scope string

	patient     *ppb.Patient
	patientID   string
	encounter   *encpb.Encounter
	encKey      string                    // what identifies the encounter, for child resource ids
	assigned    *encpb.Encounter_Location // the encounter's PV1-3, which ZBE-2 dates
	restricted  bool                      // PD1-12 or ARV: label everything R
	masked      bool                      // MetaDMPMSS MASQUE_PS Y: label the documents R
	documents   []proto.Message           // the documents carried and what they map to
	sourceSens  []category.Sensitivity    // what the source holds unmapped (ZFS: PSY)
	merged      bool                      // the MRG of an A40 or A34 is mapped
	movement    movement                  // the PAM France ZBE, read before PV1
	report      *drpb.DiagnosticReport    // of the last OBR, which the OBX after it add to
	reportKey   string                    // what identifies it, for its results' ids
	lastObs     *obspb.Observation        // of the last OBX, which an NTE after it annotates
	ref         referral                  // of a REF message
	doc         documentStated            // by the CDA documents it carries (cda.go)
	deleting    bool                      // the message only deletes documents (deletion.go)
	deletes     []string                  // what it deletes: bundle.Result.Deletes
	order       string                    // ORC-1 of the order the next OBR starts
	reportOrder string                    // ORC-1 of the current report's order
	outputs     []proto.Message
	a           blocks    // where the small protos come from
	zones       zoneCache // of the date-times read
}

func newConv(msg *er7.Message, opts Options) *conv {
	c := &conv{msg: msg, b: bundle.New(Mapping), opts: opts, zone: opts.Zone, outputs: make([]proto.Message, 0, 16)}
	if c.zone == nil {
		c.zone = senderZone(msg, &c.zones)
	}
	c.code, c.event, _ = msg.Type()
	return c
}

// senderZone: HL7 reads a time without offset in the sender's zone, which
// MSH-7's offset (when given) tells; else UTC.
func senderZone(msg *er7.Message, zones *zoneCache) *time.Location {
	if _, off, ok := splitOffset(text(msg.MSH().Field(7).Comp(1))); ok {
		return zones.fixed(off)
	}
	return time.UTC
}

func (c *conv) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// run maps every segment. PID and PV1 go first: the others refer to them.
func (c *conv) run() error {
	c.header()
	pid := c.msg.First("PID")
	if pid == nil {
		return &er7.Error{Loc: er7.Location{Segment: "PID"}, Offset: -1, Condition: er7.SegmentSequenceError, Reason: "required PID segment missing"}
	}
	if err := c.mapPatient(pid); err != nil {
		return err
	}
	for _, s := range c.msg.Segments {
		if s.Name == "PV1" || s.Name == "PV2" || s.Name == "ZBE" {
			for i := 1; i <= s.Len(); i++ {
				if s.Field(i).Null() {
					c.h.Nulled = append(c.h.Nulled, s.Name+"-"+strconv.Itoa(i))
				}
			}
		}
	}
	if err := c.readDeletion(); err != nil {
		return err
	}
	c.movement = c.readMovement()
	c.h.Historic = c.movement.historic
	pv1 := c.msg.First("PV1")
	switch {
	case pv1 == nil && c.code == "ADT" && !personEvent(c.event) && !mergeEvent(c.event) && !OpensStay(c.event):
		// a movement of a stay (opensStay) that does not say which
		return &er7.Error{Loc: er7.Location{Segment: "PV1"}, Offset: -1, Condition: er7.SegmentSequenceError, Reason: "required PV1 segment missing: a movement names its stay"}
	case pv1 == nil:
	case c.code == "ADT" && personEvent(c.event):
		c.personVisit(pv1)
	case c.deleting:
		c.deletionVisit(pv1)
	default:
		c.mapEncounter(pv1)
	}
	var doc *docBuilder
	for _, s := range c.msg.Segments {
		switch s.Name {
		case "MSH", "EVN", "SFT":
		case "PID", "PV1":
			if s.Seq > 1 {
				c.warnSegment(s)
			}
		case "PD1":
			c.mapPD1(s)
		case "ROL":
			c.mapROL(s)
		case "NK1":
			c.mapNK1(s)
		case "PV2":
			c.mapPV2(s)
		case "ZBE":
			c.mapZBE(s)
		case "ZFM":
			c.mapZFM(s)
		case "DG1":
			c.mapDG1(s)
		case "PR1":
			c.mapPR1(s)
		case "AL1":
			c.mapAL1(s)
		case "ZFS":
			// IHE PAM France section 6.19: the legal mode of psychiatric
			// care (care without consent, ZFS-6) is not mapped, and the
			// source that holds it is psychiatric information.
			c.sourceSens = append(c.sourceSens, category.PSY)
			c.warnSegment(s)
		case "ARV":
			c.restricted = true
		case "MRG":
			if err := c.mapMRG(s); err != nil {
				return err
			}
		case "TXA":
			if c.code != "MDM" {
				c.warnSegment(s)
				continue
			}
			doc = c.startDocument(s)
		case "ORC":
			// not mapped: its order control (ORC-1) says whether the
			// report of its order is cancelled (deletion.go)
			c.order = strings.ToUpper(text(s.Field(1)))
			c.warnSegment(s)
		case "OBR":
			if c.code == "MDM" { // the order a document answers, not a result
				c.warnSegment(s)
				continue
			}
			c.startReport(s)
		case "OBX":
			if c.documentMeta(s) {
				break
			}
			if c.code == "MDM" && doc != nil {
				doc.add(s)
				continue
			}
			if err := c.checkOrder(s); err != nil {
				return err
			}
			if carriesDocument(s) {
				if err := c.resultDocument(s); err != nil {
					return err
				}
				break
			}
			c.lastObs = c.mapOBX(s)
			c.addResult(c.lastObs)
			continue
		case "NTE":
			c.mapNTE(s)
			continue
		case "RF1":
			if c.code != "REF" || c.ref.rf1 != nil {
				c.warnSegment(s)
				continue
			}
			c.ref.rf1 = s
		case "PRD":
			if c.code != "REF" {
				c.warnSegment(s)
				continue
			}
			c.mapPRD(s)
		case "PRT": // participations come between an OBX and its notes (v2.7+)
			c.warnSegment(s)
			continue
		default:
			c.warnSegment(s)
		}
		c.lastObs = nil // an NTE annotates the OBX right before it only
	}
	if c.code == "MDM" {
		if doc == nil {
			return &er7.Error{Loc: er7.Location{Segment: "TXA"}, Offset: -1, Condition: er7.SegmentSequenceError, Reason: "required TXA segment missing"}
		}
		if err := doc.finish(); err != nil {
			return err
		}
	}
	if (mergeEvent(c.event) || c.event == "A47") && !c.merged {
		return &er7.Error{Loc: er7.Location{Segment: "MRG"}, Offset: -1, Condition: er7.SegmentSequenceError, Reason: "required MRG segment missing"}
	}
	if c.code == "REF" {
		if err := c.finishReferral(); err != nil {
			return err
		}
	}
	c.finishEncounter() // labelled from its content by the Builder's Finish
	c.label()
	return nil
}

// header fills c.h from MSH and EVN.
func (c *conv) header() {
	msh, evn := c.msg.MSH(), c.msg.First("EVN")
	h := &c.h
	h.SendingApplication, h.SendingFacility = text(msh.Field(3).Comp(1)), text(msh.Field(4).Comp(1))
	h.ReceivingApplication, h.ReceivingFacility = text(msh.Field(5).Comp(1)), text(msh.Field(6).Comp(1))
	h.ControlID = text(msh.Field(10))
	h.MessageCode, h.TriggerEvent, h.Structure = c.code, c.event, text(msh.Field(9).Comp(3))
	h.Version = c.msg.Version()
	h.ProcessingID = text(msh.Field(11).Comp(1))
	h.AcceptAckType, h.ApplicationAckType = text(msh.Field(15)), text(msh.Field(16))
	if t, ok := c.dtm(msh, 7); ok {
		h.MessageTime = t.t
	}
	h.EventTime = h.MessageTime
	if t, ok := c.dtm(evn, 2); ok {
		h.EventTime = t.t
	}
	if t, ok := c.dtm(evn, 6); ok {
		h.Occurred = t.t
	}
	c.scope = hdComps(msh.Field(4)).key
	if c.scope == "" {
		c.scope = "app:" + h.SendingApplication
	}
}

// dtm reads the first component of a date-time field, warning when it is
// malformed.
func (c *conv) dtm(s *er7.Segment, field int) (dtm, bool) {
	raw := text(s.Field(field).Comp(1))
	if raw == "" {
		return dtm{}, false
	}
	t, ok := parseDTM(raw, c.zone, &c.zones)
	if !ok {
		c.warn(s, field, "invalid date/time, not mapped")
	}
	return t, ok
}

// put adds a resource with its categories and remembers it for labelling.
func (c *conv) put(res proto.Message, cats ...category.Code) string {
	c.outputs = append(c.outputs, res)
	return c.b.Put(res, cats...)
}

// label marks everything restricted when the sender asked for it.
func (c *conv) label() {
	if c.masked && !c.restricted {
		for _, res := range c.documents {
			category.LabelSensitive(res, category.R)
		}
		if len(c.deletes) > 0 { // the source holds the masked document it deletes
			c.sourceSens = append(c.sourceSens, category.R)
		}
	}
	if !c.restricted {
		return
	}
	for _, res := range c.outputs {
		category.LabelSensitive(res, category.R)
	}
}

func (c *conv) warn(s *er7.Segment, field int, what string) {
	var buf [32]byte
	path, _ := s.Loc(field).AppendText(buf[:0])
	c.b.WarnBytes(path, what)
}

// personEvent reports the events of the IHE PAM patient identity feed
// (ITI-30, PAM France) that carry a person, not a visit: A28 adds and A31
// updates person information. Their PV1 is there because the ADT_A05
// structure requires it, normally empty but for PV1-2 = N (not
// applicable).
func personEvent(event string) bool { return event == "A28" || event == "A31" || event == "A47" }

// mergeEvent reports the merges (A40, A34): a patient's, not a visit's.
func mergeEvent(event string) bool { return event == "A40" || event == "A34" }

// personVisit reads the PV1 of a person event: the Encounter stays for
// the visit events (A01 to A16) to write, so a visit it names anyway is
// reported as not mapped rather than created or changed.
func (c *conv) personVisit(pv1 *er7.Segment) {
	for i := 3; i <= pv1.Len(); i++ {
		if !pv1.Field(i).Empty() {
			c.warn(pv1, i, "a person information event (A28, A31) carries no visit: PV1 not mapped")
			return
		}
	}
	if class := strings.ToUpper(text(pv1.Field(2))); class != "" && class != "N" {
		c.warn(pv1, 2, "a person information event (A28, A31) carries no visit: PV1 not mapped")
	}
}

func (c *conv) warnSegment(s *er7.Segment) {
	what := "segment not mapped"
	if s.Name[0] == 'Z' {
		what = "Z-segment not mapped"
	}
	var buf [32]byte
	path, _ := s.Loc(0).AppendText(buf[:0])
	c.b.WarnBytes(path, what)
}

// unmapped warns about every valued field of s not in mapped. It looks at
// every field of every segment: the fields below 64 are looked up in a bit
// set rather than in the list.
func (c *conv) unmapped(s *er7.Segment, mapped ...int) {
	var set uint64
	for _, f := range mapped {
		if f >= 0 && f < 64 {
			set |= 1 << f
		}
	}
	for f, n := 1, s.Len(); f <= n; f++ {
		if s.Field(f).Empty() {
			continue
		}
		if f < 64 && set&(1<<f) != 0 || f >= 64 && hasInt(mapped, f) {
			continue
		}
		c.warn(s, f, "field not mapped")
	}
}

func hasInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}
