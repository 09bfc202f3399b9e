package codec

import "google.golang.org/protobuf/proto"

// DecodeUnchecked is Decode without the strict check, for the benchmark
// that compares the two.
func (c *Codec) DecodeUnchecked(b []byte) (proto.Message, error) { return c.decode(b) }
