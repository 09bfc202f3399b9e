package audit

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"
)

// Render appends e as R4 AuditEvent JSON to dst. The field order is
// AuditEvent's (https://hl7.org/fhir/R4/auditevent.html#resource);
// source.observer names Relais itself by display, as a Device would.
func Render(dst []byte, e *Event) []byte {
	b := append(dst, `{"resourceType":"AuditEvent","id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendCoding(b, e.Type)
	b = appendArray(b, `,"subtype":[`, e.Subtype, appendCoding)
	if e.Action != "" {
		b = append(b, `,"action":`...)
		b = appendString(b, e.Action)
	}
	b = append(b, `,"recorded":"`...)
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, '"')
	if e.Outcome != "" {
		b = append(b, `,"outcome":`...)
		b = appendString(b, e.Outcome)
	}
	if e.OutcomeDesc != "" {
		b = append(b, `,"outcomeDesc":`...)
		b = appendString(b, e.OutcomeDesc)
	}
	b = appendArray(b, `,"purposeOfEvent":[`, e.Purpose, func(b []byte, p string) []byte {
		b = append(b, `{"coding":[`...)
		b = appendCoding(b, Code{System: SystemActReason, Code: p})
		return append(b, "]}"...)
	})
	if len(e.Agents) == 0 { // R4 requires an agent: an empty list all the same
		b = append(b, `,"agent":[]`...)
	}
	b = appendArray(b, `,"agent":[`, e.Agents, appendAgent)
	b = append(b, `,"source":{"observer":{"display":"Relais"},"type":[`...)
	b = appendCoding(b, Code{System: SystemSourceType, Code: "4", Display: "Application Server"})
	b = append(b, "]}"...)
	b = appendArray(b, `,"entity":[`, e.Entities, appendEntity)
	return append(b, '}')
}

// appendArray appends open (`,"name":[`), items rendered by add and
// separated by commas, and the closing bracket; nothing when there are
// none.
func appendArray[T any](b []byte, open string, items []T, add func([]byte, T) []byte) []byte {
	if len(items) == 0 {
		return b
	}
	b = append(b, open...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = add(b, it)
	}
	return append(b, ']')
}

func appendAgent(b []byte, a Agent) []byte {
	b = append(b, '{')
	if a.Type.Code != "" {
		b = append(b, `"type":{"coding":[`...)
		b = appendCoding(b, a.Type)
		b = append(b, "]},"...)
	}
	b = append(b, `"who":`...)
	b = appendRef(b, a.Who, SystemClient, a.Client, a.Display)
	b = append(b, `,"requestor":`...)
	b = strconv.AppendBool(b, a.Requestor)
	b = appendArray(b, `,"policy":[`, a.Policy, appendString)
	if a.Network != "" {
		b = append(b, `,"network":{"address":`...)
		b = appendString(b, a.Network)
		if a.NetworkType != "" {
			b = append(b, `,"type":`...)
			b = appendString(b, a.NetworkType)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendEntity renders en. A query (an entity with Query) has no what
// (BALP Query: entity[query].what 0..0); every other entity has one.
func appendEntity(b []byte, en Entity) []byte {
	b = append(b, '{')
	start := len(b)
	if len(en.Query) == 0 {
		b = append(b, `,"what":`...)
		b = appendRef(b, en.What, en.IDSystem, en.IDValue, "")
	}
	if en.Type.Code != "" {
		b = append(b, `,"type":`...)
		b = appendCoding(b, en.Type)
	}
	if en.Role != "" {
		b = append(b, `,"role":`...)
		b = appendCoding(b, Code{System: SystemObjectRole, Code: en.Role})
	}
	if en.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, en.Name)
	}
	if en.Description != "" {
		b = append(b, `,"description":`...)
		b = appendString(b, en.Description)
	}
	if len(en.Query) > 0 {
		b = append(b, `,"query":"`...)
		b = base64.StdEncoding.AppendEncode(b, en.Query)
		b = append(b, '"')
	}
	b = appendArray(b, `,"detail":[`, en.Details, func(b []byte, d Detail) []byte {
		b = append(b, `{"type":`...)
		b = appendString(b, d.Type)
		b = append(b, `,"valueString":`...)
		b = appendString(b, d.Value)
		return append(b, '}')
	})
	if len(b) > start { // the first field's comma
		b = append(b[:start], b[start+1:]...)
	}
	return append(b, '}')
}

// appendRef renders a Reference: by reference, else by identifier, else
// by display.
func appendRef(b []byte, ref, system, value, display string) []byte {
	switch {
	case ref != "":
		b = append(b, `{"reference":`...)
		b = appendString(b, ref)
	case value != "":
		b = append(b, `{"identifier":{"system":`...)
		b = appendString(b, system)
		b = append(b, `,"value":`...)
		b = appendString(b, value)
		b = append(b, '}')
	default:
		if display == "" {
			display = "unknown"
		}
		b = append(b, `{"display":`...)
		b = appendString(b, display)
		return append(b, '}')
	}
	if display != "" {
		b = append(b, `,"display":`...)
		b = appendString(b, display)
	}
	return append(b, '}')
}

func appendCoding(b []byte, c Code) []byte {
	b = append(b, `{"system":`...)
	b = appendString(b, c.System)
	b = append(b, `,"code":`...)
	b = appendString(b, c.Code)
	if c.Display != "" {
		b = append(b, `,"display":`...)
		b = appendString(b, c.Display)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (RFC 8259 escaping; invalid
// UTF-8 becomes U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ParseTime reads a recorded time as Render writes it.
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
