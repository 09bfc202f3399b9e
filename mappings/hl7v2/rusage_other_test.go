//go:build !unix

package hl7v2

import "time"

// cpuTime is not measured here; the cpu-ns/msg metric then reads 0.
func cpuTime() time.Duration { return 0 }
