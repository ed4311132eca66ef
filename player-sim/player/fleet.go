package player

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"edgecdn/player-sim/abr"
)

// FleetConfig runs many players. Zero values mean the defaults in the field comments.
type FleetConfig struct {
	Players  int      // default 10
	Titles   []string // titles to play; required
	Protocol string   // ProtocolHLS (default) or ProtocolDASH
	// NewProtocol, when set, gives player i its protocol instead of Protocol (mixed fleets).
	NewProtocol func(i int) string
	ZipfS       float64                       // title popularity exponent; default 1.0 (0 means uniform is not possible: use a tiny value)
	Rate        float64                       // arrivals per second (Poisson); 0 means all at once
	NewEntry    func(i int) Entry             // the entry of player i; required
	NewABR      func() (abr.Algorithm, error) // default abr.New(abr.Default)
	// Links are the players' links: player i gets Links[i mod len(Links)] (a folder's traces in
	// sorted order: player i plays trace i); empty: unshaped.
	Links []Link
	// TraceOffset, with FixedOffset, is where every TraceLink starts, in seconds from the
	// trace's first sample (0: from its start); without FixedOffset each player's trace starts
	// at a random point drawn from Seed.
	TraceOffset float64
	FixedOffset bool
	Latency     time.Duration // added per request
	MaxChunks   int           // session length in segments; default the whole title
	MaxSeconds  float64       // session length in media seconds; default the whole title
	BufferCap   time.Duration
	// Timeout bounds one segment's download (Config.Timeout); default 10s.
	Timeout time.Duration
	Seed    uint64
	// OnChunk, when set, is called after every segment of every player (i is the player).
	OnChunk func(i int, c Chunk)
	// Progress, when set, is called about once a second with players done and started.
	Progress func(done, started, total int)
	// OnProgress, when set, is called about once a second with the fleet's progress.
	OnProgress func(FleetProgress)
}

// FleetProgress is how far a fleet is.
type FleetProgress struct {
	Done, Started, Total int
	MediaS               float64       // media fetched by all players, seconds
	Elapsed              time.Duration // since the first player started
}

// Report is a fleet's outcome: the aggregate fields scripts rely on, and each player.
type Report struct {
	Players       int     `json:"players"`
	Failed        int     `json:"failed_players"`
	QoELinMean    float64 `json:"qoe_lin_mean"`
	RebufferRatio float64 `json:"rebuffer_ratio"`
	RebufferCount int     `json:"rebuffer_count"`
	RebufferS     float64 `json:"rebuffer_s"`
	StartupMSP50  float64 `json:"startup_ms_p50"`
	StartupMSP95  float64 `json:"startup_ms_p95"`
	BitrateKbps   float64 `json:"bitrate_kbps_mean"`
	SwitchesMean  float64 `json:"switches_mean"`
	EdgeSwitches  int     `json:"edge_switches"`
	Errors        int     `json:"errors"`
	LinkTimeouts  int     `json:"link_timeouts"` // segment timeouts while the player\'s own link was the bottleneck (not the CDN\'s errors)
	Corrupt       int     `json:"corrupt_segments"`
	Unverified    int     `json:"unverified_segments"` // accepted with no hash to check (neither catalog.json nor a SHA-256 ETag)
	Segments      int     `json:"segments"`
	Bytes         int64   `json:"bytes"`
	WallS         float64 `json:"wall_s"`
	// Health says whether the player process or the CDN was starved of CPU while the fleet ran
	// (then the QoE figures are about the machine).
	Health    Health    `json:"health"`
	PerPlayer []*Result `json:"per_player"`
}

// RunFleet plays the fleet to the end (or until ctx ends) and reports it.
func RunFleet(ctx context.Context, cfg FleetConfig) (*Report, error) {
	if cfg.Players <= 0 {
		cfg.Players = 10
	}
	if len(cfg.Titles) == 0 || cfg.NewEntry == nil {
		return nil, fmt.Errorf("fleet: no titles or no entry")
	}
	if cfg.ZipfS == 0 {
		cfg.ZipfS = 1.0
	}
	if cfg.NewABR == nil {
		cfg.NewABR = func() (abr.Algorithm, error) { return abr.New(abr.Default) }
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	cdf := make([]float64, len(cfg.Titles))
	var sum float64
	for k := range cdf {
		sum += 1 / math.Pow(float64(k+1), cfg.ZipfS)
		cdf[k] = sum
	}
	results := make([]*Result, cfg.Players)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done, started := 0, 0
	stopProgress := make(chan struct{})
	var mediaS float64
	start := time.Now()
	probe := startHealthProbe()
	if cfg.Progress != nil || cfg.OnProgress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					mu.Lock()
					p := FleetProgress{Done: done, Started: started, Total: cfg.Players, MediaS: mediaS, Elapsed: time.Since(start)}
					mu.Unlock()
					if cfg.Progress != nil {
						cfg.Progress(p.Done, p.Started, p.Total)
					}
					if cfg.OnProgress != nil {
						cfg.OnProgress(p)
					}
				}
			}
		}()
	}
	var errOnce error
	for i := 0; i < cfg.Players; i++ {
		if cfg.Rate > 0 && i > 0 {
			gap := time.Duration(rng.ExpFloat64() / cfg.Rate * float64(time.Second))
			select {
			case <-time.After(gap):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		ti, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
		title := cfg.Titles[min(ti, len(cfg.Titles)-1)]
		a, err := cfg.NewABR()
		if err != nil {
			errOnce = err
			break
		}
		proto := cfg.Protocol
		if cfg.NewProtocol != nil {
			proto = cfg.NewProtocol(i)
		}
		pc := Config{Title: title, Protocol: proto, Entry: cfg.NewEntry(i), ABR: a, Latency: cfg.Latency, MaxChunks: cfg.MaxChunks, MaxSeconds: cfg.MaxSeconds,
			BufferCap: cfg.BufferCap, Timeout: cfg.Timeout, SessionID: fmt.Sprintf("p%05d-%x", i, rng.Uint32())}
		pc.OnChunk = func(c Chunk) {
			mu.Lock()
			mediaS += c.MediaS
			mu.Unlock()
			if cfg.OnChunk != nil {
				cfg.OnChunk(i, c)
			}
		}
		trace, offset := "", 0.0
		if len(cfg.Links) > 0 {
			l := cfg.Links[i%len(cfg.Links)]
			if tl, ok := l.(*TraceLink); ok {
				if cfg.FixedOffset {
					tl = tl.At(cfg.TraceOffset)
				} else {
					tl = tl.WithOffset(rng)
				}
				l, trace, offset = tl, tl.Name, tl.Start-tl.Times[0]
			}
			pc.Link = l
		}
		mu.Lock()
		started++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := Play(ctx, pc)
			r.Trace, r.TraceOffsetS = trace, offset
			mu.Lock()
			results[i] = r
			done++
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopProgress)
	var excess []float64
	for _, r := range results {
		if r != nil {
			for _, c := range r.Chunks {
				excess = append(excess, max(c.TTFBms-float64(cfg.Latency.Microseconds())/1000, 0))
			}
		}
	}
	health := probe.finish(excess)
	if errOnce != nil {
		return nil, errOnce
	}
	rep := aggregate(results, time.Since(start))
	rep.Health = health
	return rep, nil
}

func aggregate(results []*Result, wall time.Duration) *Report {
	rep := &Report{WallS: wall.Seconds()}
	var startups []float64
	var played, rebuf, qoe, bitrate, switches float64
	for _, r := range results {
		if r == nil {
			continue
		}
		rep.Players++
		rep.PerPlayer = append(rep.PerPlayer, r)
		rep.Errors += r.Errors
		rep.LinkTimeouts += r.LinkTimeouts
		rep.Corrupt += r.Corrupt
		rep.Unverified += r.Unverified
		rep.EdgeSwitches += r.EdgeSwitches
		rep.RebufferCount += r.Rebuffers
		if r.Failed {
			rep.Failed++
			continue
		}
		startups = append(startups, r.StartupMS)
		played += r.PlayedS
		rebuf += r.RebufferS
		qoe += r.QoELin
		bitrate += r.BitrateKbps
		switches += float64(r.Switches)
		for _, c := range r.Chunks {
			rep.Segments++
			rep.Bytes += c.Bytes
		}
	}
	ok := float64(rep.Players - rep.Failed)
	if ok > 0 {
		rep.QoELinMean, rep.BitrateKbps, rep.SwitchesMean = qoe/ok, bitrate/ok, switches/ok
	}
	rep.RebufferS = rebuf
	if played+rebuf > 0 {
		rep.RebufferRatio = rebuf / (played + rebuf)
	}
	sort.Float64s(startups)
	rep.StartupMSP50, rep.StartupMSP95 = quantile(startups, 0.5), quantile(startups, 0.95)
	return rep
}

func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

// WriteTable writes the fleet's outcome for people.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "players          %d (%d failed)\n", r.Players, r.Failed)
	fmt.Fprintf(w, "startup          p50 %.0f ms, p95 %.0f ms\n", r.StartupMSP50, r.StartupMSP95)
	fmt.Fprintf(w, "rebuffering      %d stalls, %.2f s in all, ratio %.4f\n", r.RebufferCount, r.RebufferS, r.RebufferRatio)
	fmt.Fprintf(w, "bitrate          %.0f kbps mean\n", r.BitrateKbps)
	fmt.Fprintf(w, "switches         %.2f bitrate switches per player, %d edge switches\n", r.SwitchesMean, r.EdgeSwitches)
	fmt.Fprintf(w, "QoE_lin          %.2f mean per player\n", r.QoELinMean)
	fmt.Fprintf(w, "segments         %d (%.1f MB), %d errors, %d corrupt", r.Segments, float64(r.Bytes)/1e6, r.Errors, r.Corrupt)
	if r.LinkTimeouts > 0 {
		fmt.Fprintf(w, ", %d timeouts on the players' own links (trace outages; retried, not errors)", r.LinkTimeouts)
	}
	if r.Unverified > 0 {
		fmt.Fprintf(w, ", %d unverified (no hash to check)", r.Unverified)
	}
	fmt.Fprintln(w)
	r.Health.write(w)
}
