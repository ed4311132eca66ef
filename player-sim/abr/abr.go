// Package abr chooses the bitrate level of the next video chunk: the adaptive bitrate (ABR)
// algorithms shared by the virtual-time simulator (player-sim/sim) and the real-time player.
//
// An Algorithm sees a State after every chunk download and answers the level of the next chunk.
// Every algorithm here is deterministic; some keep history between calls (documented on each).
package abr

import (
	"fmt"
	"sort"
	"strings"
)

// State is what a player knows when it picks the level of chunk Next. Slices are owned by the
// caller and valid only during the call; algorithms must not keep them.
type State struct {
	// Next is the 0-based index of the chunk to choose a level for. The simulator also calls
	// Choose once after the last download, with Next == Chunks, so that algorithms that learn
	// from their own predictions (robustMPC) see the last measurement; that answer is ignored.
	Next int
	// Chunks is the number of chunks the session plays.
	Chunks int
	// Buffer is the video buffered ahead of the play head, in seconds.
	Buffer float64
	// LastLevel is the level of chunk Next-1 (the simulator's first chunk is fixed).
	LastLevel int
	// Throughput holds, for each chunk downloaded in this session, oldest first, its bytes
	// divided by its DownloadTime: bytes per second as the player measures it.
	Throughput []float64
	// DownloadTime holds the seconds from request to last byte of each chunk, the request's
	// round trip included, indexed like Throughput.
	DownloadTime []float64
	// Rebuffer is how long playback stalled waiting for chunk Next-1, in seconds.
	Rebuffer float64
	// Idle is how long the player waited with a full buffer between the end of the last download
	// and this decision, in seconds.
	Idle float64
	// Sizes is the size in bytes of every chunk of every level, indexed [level][chunk]; the
	// chunks still to download are Sizes[level][Next:Chunks]. It may hold chunks past Chunks.
	Sizes [][]int64
	// Kbps is the bitrate of each level, lowest first.
	Kbps []int
	// ChunkSeconds is the duration of each chunk.
	ChunkSeconds float64
}

// Levels returns the number of levels.
func (s *State) Levels() int { return len(s.Kbps) }

// Algorithm picks the level (0 = lowest bitrate) of chunk s.Next. Algorithms that keep
// per-session state start a new session when s.Next is not after the Next of their previous call.
type Algorithm interface {
	Choose(s *State) int
}

// Default is the name of the algorithm a player uses unless told otherwise.
const Default = "mdp"

var constructors = map[string]func() Algorithm{
	"throughput": func() Algorithm { return NewThroughput(ThroughputConfig{}) },
	"bba":        func() Algorithm { return NewBBA(BBAConfig{}) },
	"bola":       func() Algorithm { return NewBOLA(BOLAConfig{}) },
	"dynamic":    func() Algorithm { return NewDynamic(DynamicConfig{}) },
	"robustmpc":  func() Algorithm { return NewRobustMPC(MPCConfig{}) },
	"targetmpc":  func() Algorithm { return NewTargetMPC(TargetConfig{}) },
	"mdp": func() Algorithm {
		m, err := NewMDP(MDPConfig{})
		if err != nil {
			panic(err) // mdp_model.json is embedded and checked by TestDefaultThroughputModel
		}
		return m
	},
	"learned": func() Algorithm {
		l, err := NewLearned(nil)
		if err != nil {
			panic(err) // learned_weights.json is embedded and checked by TestLearnedWeights
		}
		return l
	},
}

// Names returns the name of every algorithm New knows, sorted.
func Names() []string {
	n := make([]string, 0, len(constructors))
	for k := range constructors {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// New returns a fresh algorithm by name, with its default configuration.
func New(name string) (Algorithm, error) {
	c, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("unknown ABR %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	return c(), nil
}

// highestBelow returns the highest level whose bitrate is at most bps bits per second, or 0.
func highestBelow(kbps []int, bps float64) int {
	q := 0
	for i, k := range kbps {
		if float64(k)*1000 <= bps {
			q = i
		}
	}
	return q
}
