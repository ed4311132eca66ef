package simcmd

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WritePlot writes a PNG bar chart of each result's mean QoE_lin with its 95% confidence interval.
func WritePlot(path, dir string, rs []Result) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Mean QoE_lin per trace, %s (%d traces)", filepath.Base(dir), rs[0].Traces)
	p.Y.Label.Text = "QoE_lin (sum over chunks 2..48)"
	means := make(plotter.Values, len(rs))
	bars := make(errPoints, len(rs))
	names := make([]string, len(rs))
	for i, r := range rs {
		means[i] = r.QoELinMean
		bars[i] = errPoint{x: float64(i), y: r.QoELinMean, e: r.QoELinCI95}
		names[i] = r.ABR
	}
	bc, err := plotter.NewBarChart(means, vg.Points(28))
	if err != nil {
		return err
	}
	eb, err := plotter.NewYErrorBars(bars)
	if err != nil {
		return err
	}
	bc.Color = color.RGBA{R: 70, G: 130, B: 180, A: 255}
	bc.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bc, eb)
	p.NominalX(names...)
	return p.Save(vg.Length(90+60*len(rs))*vg.Points(1), 4*vg.Inch, path)
}

type errPoint struct{ x, y, e float64 }

// errPoints adapts the bars to plotter.XYer and plotter.YErrorer.
type errPoints []errPoint

func (e errPoints) Len() int                        { return len(e) }
func (e errPoints) XY(i int) (float64, float64)     { return e[i].x, e[i].y }
func (e errPoints) YError(i int) (float64, float64) { return e[i].e, e[i].e }
