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
	bars := make([]Bar, len(rs))
	for i, r := range rs {
		bars[i] = Bar{Name: r.ABR, Mean: r.QoELinMean, CI95: r.QoELinCI95}
	}
	return WriteBars(path, fmt.Sprintf("Mean QoE_lin per trace, %s (%d traces)", filepath.Base(dir), rs[0].Traces),
		"QoE_lin (sum over chunks 2..48)", bars)
}

// Bar is one bar of WriteBars: a mean and the half-width of its 95% confidence interval.
type Bar struct {
	Name       string
	Mean, CI95 float64
}

// WriteBars writes a PNG bar chart of means with their 95% confidence intervals.
func WriteBars(path, title, ylabel string, bars []Bar) error {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = title, ylabel
	means := make(plotter.Values, len(bars))
	names := make([]string, len(bars))
	for i, b := range bars {
		means[i], names[i] = b.Mean, b.Name
	}
	bc, err := plotter.NewBarChart(means, vg.Points(28))
	if err != nil {
		return err
	}
	eb, err := plotter.NewYErrorBars(errBars(bars))
	if err != nil {
		return err
	}
	bc.Color = color.RGBA{R: 70, G: 130, B: 180, A: 255}
	bc.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bc, eb)
	p.NominalX(names...)
	return p.Save(vg.Length(160+60*len(bars))*vg.Points(1), 4*vg.Inch, path)
}

// errBars adapts bars to plotter.XYer and plotter.YErrorer.
type errBars []Bar

func (e errBars) Len() int                        { return len(e) }
func (e errBars) XY(i int) (float64, float64)     { return float64(i), e[i].Mean }
func (e errBars) YError(i int) (float64, float64) { return e[i].CI95, e[i].CI95 }
