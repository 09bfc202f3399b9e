package store

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Stored versions at least compressMin bytes long are kept compressed,
// with the dictionary in dictionary.go, when that saves at least a fifth:
// the source Binary of an HL7 v2 message (its base64 text) and the
// OperationOutcome of the mapping's warnings (the same issue texts over
// and over) shrink to a half and a tenth, and with the dictionary a
// resource of under a kilobyte (a Condition, an Observation) to a third:
// without it, such a version saved too little to be worth compressing,
// and versions that small were most of a discharge's. A smaller file
// writes fewer pages per commit and keeps more of itself in memory.
//
// Versions under s2Max bytes are S2 blocks (the format of
// github.com/klauspost/compress/s2, with the same dictionary), the
// others Zstandard frames (RFC 8878). On the 80,000 versions of 8,000
// corpus discharges (280 MiB of JSON), Zstandard for all stored 81 MiB
// at 17 µs a version; S2 below 2 KiB 84 MiB at 13 µs, below 4 KiB 90 MiB
// at 9 µs, but a data directory grown by 20,000 of them then measured
// 1.43 and 1.46 times its JSON (1.37 below 2 KiB), too near the 1.5 it
// must stay under. The versions under 2 KiB, most of what clients read,
// decompress in 0.2 µs instead of 2.3; in the large ones (a message's
// source Binary, its warnings, its Provenance and Encounter), what the
// dictionary cannot match Zstandard's entropy coding still shrinks.
// Frames written before storage version 10 name no dictionary and are
// read without it.
const (
	compressMin   = 128
	compressRatio = 0.8
	s2Max         = 2 << 10
	decodeMax     = 64 << 20 // the most a stored version decompresses to
)

// codecs are the store's compressors and decompressors: all are safe for
// concurrent use (EncodeAll, DecodeAll, an S2 Dict) and cost memory, so
// one serves the process. The Zstandard compressor keeps two encoder
// states: the ingest planner and the writer (which prepares what routing
// writes in the transaction it follows) compress at the same time, and
// with one state each waited for the other (a routed discharge's versions
// took 86 µs each instead of 30–43, wall time).
type codecs struct {
	enc   *zstd.Encoder
	dec   *zstd.Decoder
	small *s2.Dict
}

func newCodecs() (*codecs, error) {
	// A 32 KiB window (the default is 8 MiB) holds the dictionary and a
	// whole version but a few large documents, and sets up in less
	// time: compressing the versions of 8,000 corpus discharges took 10%
	// less CPU, for the same bytes.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true), zstd.WithEncoderDictRaw(versionDictID, []byte(versionDict)),
		zstd.WithWindowSize(32<<10))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(decodeMax),
		zstd.WithDecoderDictRaw(versionDictID, []byte(versionDict)))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	// The first repeat offset is the dictionary's start: fixed, so that
	// the blocks written with it always read back.
	small := s2.MakeDictManual([]byte(versionDict), 0)
	if small == nil {
		return nil, errors.New("S2 dictionary: refused")
	}
	return &codecs{enc: enc, dec: dec, small: small}, nil
}

// A large base64 "data" value (Binary.data, Attachment.data: the source
// message of every HL7 v2 ingest, a CDA document) is compressed as the
// bytes it encodes: base64 spreads 6 bits over every 8, which Zstandard
// cannot undo, so an 8.6 KB HL7 message stored as its 11.5 KB of base64
// compressed to 7 KB and compresses to about 3 KB as bytes. The value is
// decoded only when encoding the bytes again gives it back exactly
// (standard alphabet, padded, no line breaks: what the codec writes), so
// the JSON read back is the JSON written, byte for byte.
const dataMin = 1 << 10

var dataField = []byte(`"data":"`)

// compress appends to dst the compressed form of b and returns the version
// flags that say how (flagCompressed, and flagDecoded when a base64 value
// was decoded first), or 0 and dst unchanged when compressing does not pay.
func (c *codecs) compress(dst, b []byte) ([]byte, byte) {
	if len(b) < compressMin {
		return dst, 0
	}
	in, flags := b, byte(flagCompressed)
	var out []byte
	if d, ok := decodeData(b); ok {
		in, flags = d, flagCompressed|flagDecoded
	}
	if len(in) < s2Max {
		flags |= flagS2
		out = append(dst, c.small.Encode(nil, in)...)
	} else {
		out = c.enc.EncodeAll(in, dst)
	}
	if float64(len(out)-len(dst)) > compressRatio*float64(len(b)) {
		return dst, 0
	}
	return out, flags
}

// decompress returns the JSON b was compressed from (flags as compress
// returned them), in a new slice.
func (c *codecs) decompress(b []byte, flags byte) ([]byte, error) {
	var out []byte
	var err error
	if flags&flagS2 != 0 {
		// The block states its length: a damaged one is refused before
		// it is allocated, as the Zstandard decoder refuses frames past
		// its memory bound.
		if n, lerr := s2.DecodedLen(b); lerr != nil || n > decodeMax {
			return nil, fmt.Errorf("stored version: S2 block of %d bytes: %w", n, errBadKey)
		}
		out, err = c.small.Decode(nil, b)
	} else {
		out, err = c.dec.DecodeAll(b, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("stored version: %w", err)
	}
	if flags&flagDecoded != 0 {
		if out, err = encodeData(out); err != nil {
			return nil, fmt.Errorf("stored version: %w", err)
		}
	}
	return out, nil
}

// decodeData is js with its first base64 "data" value of dataMin bytes or
// more as the bytes it encodes: uvarint len(before) before, uvarint
// len(after) after, then the bytes, where before and after are the JSON
// around the value (its quotes excluded). ok is false when js has no such
// value or the value would not encode back to itself.
func decodeData(js []byte) (out []byte, ok bool) {
	for from := 0; ; {
		i := bytes.Index(js[from:], dataField)
		if i < 0 {
			return nil, false
		}
		start := from + i + len(dataField)
		end := bytes.IndexByte(js[start:], '"')
		if end < 0 {
			return nil, false
		}
		end += start
		from = end
		val := js[start:end]
		if len(val) < dataMin || len(val)%4 != 0 {
			continue
		}
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(val)))
		n, err := base64.StdEncoding.Strict().Decode(raw, val)
		if err != nil || !bytes.Equal(base64.StdEncoding.AppendEncode(nil, raw[:n]), val) {
			continue // not base64 as the codec writes it
		}
		out = binary.AppendUvarint(make([]byte, 0, len(js)-len(val)+n+8), uint64(start))
		out = append(out, js[:start]...)
		out = binary.AppendUvarint(out, uint64(len(js)-end))
		out = append(out, js[end:]...)
		return append(out, raw[:n]...), true
	}
}

// encodeData is the JSON decodeData took apart.
func encodeData(b []byte) ([]byte, error) {
	part := func() ([]byte, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, false
		}
		p := b[w : w+int(n)]
		b = b[w+int(n):]
		return p, true
	}
	before, ok1 := part()
	after, ok2 := part()
	if !ok1 || !ok2 {
		return nil, errBadKey
	}
	js := make([]byte, 0, len(before)+base64.StdEncoding.EncodedLen(len(b))+len(after))
	js = append(js, before...)
	js = base64.StdEncoding.AppendEncode(js, b)
	return append(js, after...), nil
}
