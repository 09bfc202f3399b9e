//go:build unix

package fhirtest

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time (user + system, garbage collection
// included) the process has used. Benchmarks report work per CPU-second
// next to wall-clock rates: on a machine shared with other work, wall
// time counts the waits for a core, CPU time what the code costs.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
