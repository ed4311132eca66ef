package emucmd

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"edgecdn/player-sim/player"
)

// writePlots writes, into dir: bitrate.png and buffer.png (over time, for up to four sample
// players), qoe-cdf.png and startup-cdf.png (over every player that played).
func writePlots(dir string, rep *player.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var sample []*player.Result
	for _, r := range rep.PerPlayer {
		if !r.Failed && len(r.Chunks) > 0 && len(sample) < 4 {
			sample = append(sample, r)
		}
	}
	series := func(title, ylabel, file string, y func(c player.Chunk) float64) error {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, "session time (s)", ylabel
		var lines []any
		for i, r := range sample {
			pts := make(plotter.XYs, len(r.Chunks))
			for j, c := range r.Chunks {
				pts[j].X, pts[j].Y = c.AtS, y(c)
			}
			lines = append(lines, fmt.Sprintf("player %d (%s)", i+1, r.Title), pts)
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return err
		}
		return p.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, file))
	}
	if err := series("Bitrate of sample players", "kbit/s", "bitrate.png", func(c player.Chunk) float64 { return float64(c.Kbps) }); err != nil {
		return err
	}
	if err := series("Buffer of sample players", "buffer after each segment (s)", "buffer.png", func(c player.Chunk) float64 { return c.BufferS }); err != nil {
		return err
	}
	cdf := func(title, xlabel, file string, v func(r *player.Result) float64) error {
		var xs []float64
		for _, r := range rep.PerPlayer {
			if !r.Failed {
				xs = append(xs, v(r))
			}
		}
		if len(xs) == 0 {
			return nil
		}
		sort.Float64s(xs)
		pts := make(plotter.XYs, len(xs))
		for i, x := range xs {
			pts[i].X, pts[i].Y = x, float64(i+1)/float64(len(xs))
		}
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, "fraction of players"
		if err := plotutil.AddLines(p, pts); err != nil {
			return err
		}
		return p.Save(6*vg.Inch, 4*vg.Inch, filepath.Join(dir, file))
	}
	if err := cdf(fmt.Sprintf("QoE_lin per player (%d players)", len(rep.PerPlayer)), "QoE_lin", "qoe-cdf.png", func(r *player.Result) float64 { return r.QoELin }); err != nil {
		return err
	}
	return cdf(fmt.Sprintf("Startup delay (%d players)", len(rep.PerPlayer)), "startup (ms)", "startup-cdf.png", func(r *player.Result) float64 { return r.StartupMS })
}
