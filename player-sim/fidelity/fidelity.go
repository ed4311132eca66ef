// Package fidelity checks the emulation against virtual time: one real-time player per trace,
// through an idle CDN, each link replaying its trace from the start, the same ABR, ladder and
// chunk count as player-sim sim, and the two QoE_lin figures compared trace by trace.
package fidelity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/player"
	"edgecdn/player-sim/qoe"
	"edgecdn/player-sim/sim"
)

// Config is one comparison. Zero fields take the defaults of player-sim sim.
type Config struct {
	Traces []*sim.Trace // one player per trace, player i on trace i
	Entry  func(i int) player.Entry
	Title  string // a title on the Envivio ladder, at least Chunks segments of 4 s
	ABR    string // default abr.Default
	Chunks int    // default 48
	// BufferCap, Latency and Goodput are the virtual-time model's (60 s, 80 ms, 0.95); the
	// emulated players get the same.
	BufferCap time.Duration
	Latency   time.Duration
	// Timeout is a segment's download timeout; default 10 minutes, since the virtual-time
	// simulator waits out any outage of a trace where a real player would give up and retry.
	Timeout  time.Duration
	Protocol string
	// Sim, when set, replaces the virtual-time configuration (its Chunks is set to Chunks).
	Sim *sim.Config
	// Cold skips warming the CDN: by default the first two segments of every level are fetched
	// once through every base the players will use, unshaped, before they start, so that the
	// first segment, from which the ABR makes its first choice, is not a cache miss (virtual
	// time has no CDN).
	Cold bool
}

// constant is an ABR that always answers one level.
type constant int

func (c constant) Choose(*abr.State) int { return int(c) }

// warm fetches the first two segments of every level of title through every base of the
// first players' entries.
func warm(ctx context.Context, cfg Config) error {
	seen := map[string]bool{}
	for i := 0; i < min(len(cfg.Traces), 64); i++ {
		bases, err := cfg.Entry(i).Bases(ctx, cfg.Title)
		if err != nil {
			return fmt.Errorf("fidelity: warming: %w", err)
		}
		for _, b := range bases {
			if seen[b] {
				continue
			}
			seen[b] = true
			for q := 0; q < 6; q++ {
				r, err := player.Play(ctx, player.Config{Title: cfg.Title, Protocol: cfg.Protocol, Entry: player.URLEntry{Base: b}, ABR: constant(q), MaxChunks: 2})
				if err != nil || r.Failed {
					return fmt.Errorf("fidelity: warming %s: %v %v", b, err, r.FailReason)
				}
			}
		}
	}
	return nil
}

// Trace is one trace in both modes; QoE figures are per chunk (the score over chunks 2..N
// divided by N-1).
type Trace struct {
	Name                         string  `json:"trace"`
	Virtual, Emulated            float64 `json:"-"`
	VirtualQoE                   float64 `json:"virtual_qoe_per_chunk"`
	EmulatedQoE                  float64 `json:"emulated_qoe_per_chunk"`
	Diff                         float64 `json:"diff"` // emulated - virtual, per chunk
	VirtualKbps, EmulatedKbps    float64 `json:"-"`
	VirtualRebuf, EmulatedRebuf  float64 `json:"-"`
	VirtualLevels, EmulatedLevel []int   `json:"-"`
	// VirtualDownload and EmulatedDownload are each chunk's seconds from request to last byte.
	VirtualDownload, EmulatedDownload []float64 `json:"-"`
	EmulatedTTFB                      []float64 `json:"-"`
	Failed                            string    `json:"failed,omitempty"`
}

// Report is a comparison's outcome.
type Report struct {
	ABR    string  `json:"abr"`
	Chunks int     `json:"chunks"`
	Traces []Trace `json:"traces"`
	// MedianAbsDiff and WorstAbsDiff are the median and the largest |emulated - virtual| QoE_lin
	// per chunk over the traces that played; MeanVirtual is the mean virtual score per chunk.
	MedianAbsDiff, WorstAbsDiff, MeanVirtual, MeanEmulated, MedianVirtual float64
	Worst                                                                 string // the worst trace's name
	// RelMedian is MedianAbsDiff over the mean virtual score per chunk.
	RelMedian float64
	Emulation *player.Report `json:"-"`
}

// Run plays the traces in both modes.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Traces) == 0 || cfg.Entry == nil || cfg.Title == "" {
		return nil, errors.New("fidelity: traces, entry and title are required")
	}
	if cfg.ABR == "" {
		cfg.ABR = abr.Default
	}
	if cfg.Chunks == 0 {
		cfg.Chunks = 48
	}
	if cfg.BufferCap == 0 {
		cfg.BufferCap = 60 * time.Second
	}
	if cfg.Latency == 0 {
		cfg.Latency = 80 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	sc := sim.Config{}
	if cfg.Sim != nil {
		sc = *cfg.Sim
	}
	sc.Chunks = cfg.Chunks
	s, err := sim.New(sc)
	if err != nil {
		return nil, err
	}
	rep := &Report{ABR: cfg.ABR, Chunks: cfg.Chunks}
	var links []player.Link
	for _, t := range cfg.Traces {
		links = append(links, &player.TraceLink{Name: t.Name, Times: t.Time, Mbps: t.Mbps})
		alg, err := abr.New(cfg.ABR)
		if err != nil {
			return nil, err
		}
		var sess sim.Session
		if err := s.Run(t, alg, &sess); err != nil {
			return nil, err
		}
		tr := Trace{Name: t.Name, Virtual: sess.Score, VirtualKbps: sess.BitrateKbps, VirtualRebuf: sess.Rebuffer}
		for _, c := range sess.Chunks {
			tr.VirtualLevels = append(tr.VirtualLevels, c.Level)
			tr.VirtualDownload = append(tr.VirtualDownload, c.Download)
		}
		rep.Traces = append(rep.Traces, tr)
	}
	if !cfg.Cold {
		if err := warm(ctx, cfg); err != nil {
			return nil, err
		}
	}
	emu, err := player.RunFleet(ctx, player.FleetConfig{
		Players: len(cfg.Traces), Titles: []string{cfg.Title}, Protocol: cfg.Protocol, NewEntry: cfg.Entry,
		NewABR: func() (abr.Algorithm, error) { return abr.New(cfg.ABR) }, Links: links, FixedOffset: true,
		Latency: cfg.Latency, MaxChunks: cfg.Chunks, BufferCap: cfg.BufferCap, Timeout: cfg.Timeout,
	})
	if err != nil {
		return nil, err
	}
	if len(emu.PerPlayer) != len(cfg.Traces) {
		return nil, fmt.Errorf("fidelity: %d of %d players reported (cut short?)", len(emu.PerPlayer), len(cfg.Traces))
	}
	rep.Emulation = emu
	per := float64(cfg.Chunks - 1)
	kbps := sim.Envivio().Kbps
	if sc.Video != nil {
		kbps = sc.Video.Kbps
	}
	for i := range rep.Traces {
		tr := &rep.Traces[i]
		p := emu.PerPlayer[i]
		if p.Trace != tr.Name {
			return nil, fmt.Errorf("fidelity: player %d played %q, want %q", i, p.Trace, tr.Name)
		}
		tr.VirtualQoE = tr.Virtual / per
		if p.Failed || len(p.Chunks) != cfg.Chunks {
			tr.Failed = fmt.Sprintf("%d of %d chunks: %s", len(p.Chunks), cfg.Chunks, p.FailReason)
			continue
		}
		// QoE_lin on the ladder's nominal bitrates, as virtual time scores it (the player's
		// report uses the playlist's AVERAGE-BANDWIDTH, 306 kbps for the 300 kbps rung).
		tr.EmulatedRebuf = p.RebufferS
		for j, c := range p.Chunks {
			tr.EmulatedLevel = append(tr.EmulatedLevel, c.Level)
			tr.EmulatedDownload = append(tr.EmulatedDownload, c.Seconds)
			tr.EmulatedTTFB = append(tr.EmulatedTTFB, c.TTFBms/1000)
			if j > 0 {
				k := kbps[c.Level]
				tr.EmulatedKbps += float64(k) / per
				tr.Emulated += qoe.Lin(k, kbps[p.Chunks[j-1].Level], c.RebufferS, 4.3)
			}
		}
		tr.EmulatedQoE = tr.Emulated / per
		tr.Diff = tr.EmulatedQoE - tr.VirtualQoE
	}
	Summarize(rep)
	return rep, nil
}

// Summarize sets r's summary figures from its traces (those that played in both modes).
func Summarize(r *Report) {
	var diffs, virt []float64
	r.MeanVirtual, r.MeanEmulated, r.WorstAbsDiff, r.Worst = 0, 0, 0, ""
	for _, tr := range r.Traces {
		if tr.Failed != "" {
			continue
		}
		diffs = append(diffs, math.Abs(tr.Diff))
		virt = append(virt, tr.VirtualQoE)
		r.MeanVirtual += tr.VirtualQoE
		r.MeanEmulated += tr.EmulatedQoE
		if math.Abs(tr.Diff) >= r.WorstAbsDiff {
			r.WorstAbsDiff, r.Worst = math.Abs(tr.Diff), tr.Name
		}
	}
	if n := len(diffs); n > 0 {
		r.MeanVirtual /= float64(n)
		r.MeanEmulated /= float64(n)
		r.MedianAbsDiff = median(diffs)
		r.MedianVirtual = median(virt)
		if m := math.Abs(r.MeanVirtual); m > 0 {
			r.RelMedian = r.MedianAbsDiff / m
		}
	}
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// WriteTable writes one line per trace and the summary.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "trace\tvirtual QoE/chunk\temulated\tdiff\tvirtual kbps\temulated kbps\tvirtual rebuffer s\temulated rebuffer s\t")
	for _, t := range r.Traces {
		if t.Failed != "" {
			fmt.Fprintf(tw, "%s\t%.3f\tfailed: %s\t\t\t\t\t\t\n", t.Name, t.VirtualQoE, t.Failed)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%+.3f\t%.0f\t%.0f\t%.2f\t%.2f\t\n", t.Name, t.VirtualQoE, t.EmulatedQoE, t.Diff, t.VirtualKbps, t.EmulatedKbps, t.VirtualRebuf, t.EmulatedRebuf)
	}
	tw.Flush()
	fmt.Fprintf(w, "%s, %d chunks: |emulated - virtual| QoE_lin per chunk median %.3f (%.1f%% of the mean virtual score), worst %.3f (%s); mean virtual %.3f, emulated %.3f\n",
		r.ABR, r.Chunks, r.MedianAbsDiff, 100*r.RelMedian, r.WorstAbsDiff, r.Worst, r.MeanVirtual, r.MeanEmulated)
}
