package notify

import (
	"bytes"
	"image"
	"image/color"
	"image/png"

	"github.com/patchgate/patchgate"
)

// Chart geometry: a bar per day, 0-100% compliance.
const (
	chartW, chartH = 600, 160
	chartLeft      = 8
	chartTop       = 8
	chartBottom    = 8
)

var (
	chartBG    = color.RGBA{255, 255, 255, 255}
	chartGrid  = color.RGBA{220, 220, 220, 255}
	chartAxis  = color.RGBA{120, 120, 120, 255}
	chartGood  = color.RGBA{46, 160, 67, 255}  // at least 95%
	chartWarn  = color.RGBA{230, 150, 20, 255} // at least 80%
	chartBad   = color.RGBA{210, 50, 40, 255}
	chartEmpty = color.RGBA{200, 200, 200, 255} // a day without snapshot
)

// BarColor is the colour of a day's bar.
func BarColor(p patchgate.ChartPoint) color.RGBA {
	switch {
	case p.Missing:
		return chartEmpty
	case p.Compliant >= 0.95:
		return chartGood
	case p.Compliant >= 0.80:
		return chartWarn
	}
	return chartBad
}

// DrawChart draws compliance over time as a bar chart PNG, with grid
// lines at 50% and 100%; a day without snapshot is a thin grey stub. It
// uses the standard library only.
func DrawChart(points []patchgate.ChartPoint) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	fill(img, img.Bounds(), chartBG)
	plotH := chartH - chartTop - chartBottom
	base := chartTop + plotH // y of 0%
	for _, frac := range []float64{0.5, 1} {
		y := base - int(frac*float64(plotH))
		fill(img, image.Rect(chartLeft, y, chartW-chartLeft, y+1), chartGrid)
	}
	fill(img, image.Rect(chartLeft, base, chartW-chartLeft, base+1), chartAxis)
	if n := len(points); n > 0 {
		slot := (chartW - 2*chartLeft) / n
		gap := max(slot/5, 1)
		for i, p := range points {
			x0 := chartLeft + i*slot + gap/2
			x1 := x0 + max(slot-gap, 1)
			h := int(min(max(p.Compliant, 0), 1) * float64(plotH))
			if p.Missing {
				h = 2
			}
			h = max(h, 1)
			fill(img, image.Rect(x0, base-h, x1, base), BarColor(p))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}
