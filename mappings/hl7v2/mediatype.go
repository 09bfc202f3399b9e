package hl7v2

import "strings"

// The media type of encapsulated data. HL7 v2 names what an ED (HL7 v2.5
// section 2.A.24) or an RP (2.A.65) holds by a type of data (ED.2, RP.3:
// HL7 table 0191) and a subtype (ED.3, RP.4: user-defined table 0291),
// which are not a MIME type: table 0191 has AP (other application data,
// typically uninterpreted binary data), AU (audio), FT (formatted text),
// IM (image), multipart (a MIME multipart package), NS (non-scanned
// image), SD (scanned document), SI (scanned image), TEXT and TX (machine
// readable text document); table 0291 has DICOM, FAX, GIF, HTML, JOT,
// JPEG, Octet-stream, PICT, PostScript, RTF, SGML, TIFF, XML and
// x-hl7-cda-level-one. FHIR's Attachment.contentType is a MIME type (BCP
// 13; RFC 6838 top-level types application, audio, font, image, message,
// model, multipart, text, video).
//
// mediaType gives the registered media type of each format a subtype
// names, whatever the type of data (a PDF is application/pdf, an "image"
// or a "scanned document" of JPEG data image/jpeg); for the formats that
// are both text and data (XML, RTF, SGML: RFC 7303, RFC 1874), the type of
// data chooses text/ for a text document (TEXT, TX, FT) and application/
// otherwise. A type of data that is already a MIME top-level type, as
// senders write it (the CI-SIS volet "Transmission de documents CDA en HL7
// v2" has its MDM send "text^XML"), is kept with its subtype. A text
// document without a subtype is text/plain, application data without one
// application/octet-stream (table 0191: "uninterpreted binary data").
// Anything else names no format Relais can tell (an image of unknown
// encoding, a FAX or PICT subtype with no registered media type):
// application/octet-stream, and the mapping warns, rather than inventing a
// media type such as "im/jpeg".

// formats are the media types of the subtypes that name one format.
var formats = map[string]string{
	"pdf":                 "application/pdf",        // RFC 8118
	"postscript":          "application/postscript", // RFC 2046
	"octet-stream":        "application/octet-stream",
	"dicom":               "application/dicom", // RFC 3240
	"msword":              "application/msword",
	"x-hl7-cda-level-one": CDAContentType,
	"jpeg":                "image/jpeg", // RFC 2046
	"jpg":                 "image/jpeg",
	"png":                 "image/png",
	"gif":                 "image/gif",
	"tiff":                "image/tiff", // RFC 3302
	"tif":                 "image/tiff",
	"bmp":                 "image/bmp",
	"html":                "text/html",
	"basic":               "audio/basic", // RFC 2046: ISDN mu-law, table 0291's BASIC
	"plain":               "text/plain",
}

// textOrData are the subtypes of formats registered both as text/ and as
// application/.
var textOrData = map[string]bool{"xml": true, "rtf": true, "sgml": true}

// textTypes are the table 0191 types of a text document.
var textTypes = map[string]bool{"TEXT": true, "TX": true, "FT": true}

// topLevel are the RFC 6838 top-level media types (section 4.2).
var topLevel = map[string]bool{
	"application": true, "audio": true, "font": true, "image": true, "message": true,
	"model": true, "multipart": true, "text": true, "video": true,
}

// unknownMedia is what data of no known format is.
const unknownMedia = "application/octet-stream"

// mediaType is the media type of data of type typ (table 0191) and
// subtype sub (table 0291); false when they name no format Relais can
// tell, and the type is application/octet-stream.
func mediaType(typ, sub string) (string, bool) {
	typ, sub = strings.TrimSpace(typ), strings.ToLower(strings.TrimSpace(sub))
	upper := strings.ToUpper(typ)
	if ct, ok := formats[sub]; ok {
		return ct, true
	}
	if textOrData[sub] {
		if textTypes[upper] {
			return "text/" + sub, true
		}
		return "application/" + sub, true
	}
	if lower := strings.ToLower(typ); topLevel[lower] && restrictedName(sub) {
		return lower + "/" + sub, true
	}
	switch {
	case sub != "":
	case textTypes[upper]:
		return "text/plain", true
	case upper == "AP":
		return unknownMedia, true
	}
	return unknownMedia, false
}

// restrictedName reports whether s is an RFC 6838 (section 4.2) subtype
// name: 1 to 127 characters, a letter or digit first, then letters,
// digits and ! # $ & - ^ _ . +
func restrictedName(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte("!#$&-^_.+", c) >= 0:
		default:
			return false
		}
	}
	return true
}
