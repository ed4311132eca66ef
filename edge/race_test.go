//go:build race

package edge

// raceEnabled: the race detector slows every byte copied; load tests move less under it.
const raceEnabled = true
