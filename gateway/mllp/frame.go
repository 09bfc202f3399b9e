package mllp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MLLP framing (HL7 v2.5.1 Transport Specification: MLLP, release 2):
// <VT> message <FS><CR>.
const (
	startBlock = 0x0b // VT
	endBlock   = 0x1c // FS
	carriage   = 0x0d // CR
)

// errTooLarge does not close the connection: the frame is refused and
// reading goes on at the next start block.
var (
	// errTooLarge: the frame passed the size limit; the rest of it has been
	// skipped. The frame's beginning is returned with it, for the NACK.
	errTooLarge = errors.New("mllp: message too large")
)

// frameReader reads frames from a connection.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
	// junk counts bytes seen outside any frame (other than CR and LF,
	// which senders put between frames); dropped counts frames cut short
	// by a new start block.
	junk, dropped int
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// waitStart skips to the next start block. It returns once the start block
// is consumed, so that the caller can tighten its deadline for the frame.
func (f *frameReader) waitStart() error {
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return err
		}
		switch c {
		case startBlock:
			return nil
		case '\r', '\n':
		default:
			f.junk++
		}
	}
}

// readFrame reads the body of a frame whose start block was consumed, up to
// its end block (a CR after FS is consumed when it is already buffered;
// otherwise it is skipped as whitespace before the next frame). A start
// block inside a frame means the sender gave up on that frame: it is
// dropped (counted in dropped) and the new one read. The returned slice is
// valid until the next call.
func (f *frameReader) readFrame() ([]byte, error) {
	f.buf = f.buf[:0]
	over := false
	for {
		chunk, err := f.r.ReadSlice(endBlock)
		body := chunk
		if err == nil {
			body = chunk[:len(chunk)-1]
		}
		if i := bytes.LastIndexByte(body, startBlock); i >= 0 {
			f.dropped++
			f.buf, over, body = f.buf[:0], false, body[i+1:]
		}
		if !over {
			if len(f.buf)+len(body) > f.max {
				keep := min(f.max, 4096) // enough of the header for the NACK
				if len(f.buf) < keep {
					f.buf = append(f.buf, body[:min(len(body), keep-len(f.buf))]...)
				}
				over = true
			} else {
				f.buf = append(f.buf, body...)
			}
		}
		if err == nil {
			f.consumeCR()
			if over {
				return f.buf, errTooLarge
			}
			return f.buf, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

func (f *frameReader) consumeCR() {
	if f.r.Buffered() > 0 {
		if c, _ := f.r.ReadByte(); c != carriage {
			_ = f.r.UnreadByte()
		}
	}
}

// appendFrame wraps msg in a frame.
func appendFrame(dst, msg []byte) []byte {
	dst = append(dst, startBlock)
	dst = append(dst, msg...)
	return append(dst, endBlock, carriage)
}
