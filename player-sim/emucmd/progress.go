package emucmd

import (
	"fmt"
	"strings"
	"time"

	"edgecdn/player-sim/player"
)

// progressBar draws a fleet's progress: on a terminal one line redrawn in place,
// [#####.....] with players done and the time left; elsewhere a plain line every 10 s.
type progressBar struct {
	terminal bool
	media    float64 // media per player, seconds; 0: the whole title (unknown here)
	rate     float64 // arrivals per second; 0: all at once
	last     time.Time
	width    int
}

// line renders p; it is separate from printing so that tests can read it.
func (b *progressBar) line(p player.FleetProgress) string {
	frac := 0.0
	if b.media > 0 && p.Total > 0 {
		frac = p.MediaS / (b.media * float64(p.Total))
	} else if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	frac = min(max(frac, 0), 1)
	if p.Done == p.Total {
		frac = 1
	}
	w := b.width
	if w == 0 {
		w = 30
	}
	fill := int(frac * float64(w))
	bar := strings.Repeat("#", fill) + strings.Repeat(".", w-fill)
	s := fmt.Sprintf("[%s] %3.0f%%  players %d/%d done, %d started", bar, frac*100, p.Done, p.Total, p.Started)
	if left, ok := b.left(p, frac); ok {
		s += ", ~" + left.Round(time.Second).String() + " left"
	}
	return s
}

// left estimates the time left: players play in real time, so the fleet lasts at least until
// the last arrival has played its media; the share of media fetched so far gives another
// estimate, and the larger of the two is the answer.
func (b *progressBar) left(p player.FleetProgress, frac float64) (time.Duration, bool) {
	if p.Done == p.Total {
		return 0, true
	}
	var est float64
	known := false
	if frac > 0.02 {
		est = p.Elapsed.Seconds() * (1 - frac) / frac
		known = true
	}
	if b.media > 0 {
		arrivals := 0.0
		if b.rate > 0 {
			arrivals = float64(p.Total-p.Started) / b.rate
		}
		// The media not yet fetched is still to be played, in real time, after the last arrival.
		est = max(est, arrivals+b.media*(1-frac))
		known = true
	}
	return time.Duration(est * float64(time.Second)), known
}
