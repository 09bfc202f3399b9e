package store

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Stored versions at least compressMin bytes long are kept compressed
// (Zstandard, RFC 8878) when that saves at least a fifth: the source Binary
// of an HL7 v2 message (its base64 text) and the OperationOutcome of the
// mapping's warnings (the same issue texts over and over) are most of what
// a discharge stores, and they shrink to a half and a tenth. A smaller file
// writes fewer pages per commit and keeps more of itself in memory. Reads
// pay the decompression, a few µs for a version of a few KB; smaller
// versions, most of them, are stored as they are.
const (
	compressMin   = 1 << 10
	compressRatio = 0.8
)

// codecs are the store's compressor and decompressor: both are safe for
// concurrent use (EncodeAll, DecodeAll) and cost memory, so one serves the
// process.
type codecs struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newCodecs() (*codecs, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &codecs{enc: enc, dec: dec}, nil
}

// compress appends to dst the compressed form of b and reports whether it
// is worth keeping (else dst is returned unchanged).
func (c *codecs) compress(dst, b []byte) ([]byte, bool) {
	if len(b) < compressMin {
		return dst, false
	}
	out := c.enc.EncodeAll(b, dst)
	if float64(len(out)-len(dst)) > compressRatio*float64(len(b)) {
		return dst, false
	}
	return out, true
}

// decompress returns the bytes b was compressed from, in a new slice.
func (c *codecs) decompress(b []byte) ([]byte, error) {
	out, err := c.dec.DecodeAll(b, nil)
	if err != nil {
		return nil, fmt.Errorf("stored version: %w", err)
	}
	return out, nil
}
