package player

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"edgecdn/internal/dash"
	"edgecdn/internal/hls"
)

// loadMPD reads the title's DASH manifest, /vod/<title>/manifest.mpd, and makes one level per
// Representation of its video AdaptationSet (the first set when none says video), from its
// SegmentTemplate: the init segment and every media segment, relative to the title's folder,
// the same files an HLS player of a CMAF title fetches.
func (p *session) loadMPD(ctx context.Context) error {
	title := "/vod/" + p.cfg.Title + "/"
	b, err := p.getAll(ctx, title+"manifest.mpd")
	if err != nil {
		return err
	}
	mpd, err := dash.Parse(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("manifest.mpd: %w", err)
	}
	levels, err := mpdLevels(mpd)
	if err != nil {
		return fmt.Errorf("manifest.mpd: %w", err)
	}
	p.levels = levels
	return nil
}

// mpdLevels turns a parsed MPD's first Period into levels, lowest bandwidth first.
func mpdLevels(mpd *dash.MPD) ([]level, error) {
	period := &mpd.Periods[0]
	as := &period.AdaptationSets[0]
	for i := range period.AdaptationSets {
		a := &period.AdaptationSets[i]
		if a.ContentType == "video" || strings.HasPrefix(a.MimeType, "video/") {
			as = a
			break
		}
	}
	total := mpd.MediaPresentationDuration.Seconds()
	if period.Start != nil {
		total -= period.Start.Seconds()
	}
	reps := slices.Clone(as.Representations)
	slices.SortStableFunc(reps, func(a, b dash.Representation) int { return int(a.Bandwidth - b.Bandwidth) })
	var levels []level
	for i := range reps {
		r := &reps[i]
		st := as.Template(r)
		segs, err := st.Segments(total)
		if err != nil {
			return nil, fmt.Errorf("representation %s: %w", r.ID, err)
		}
		l := level{kbps: int(r.Bandwidth / 1000), uri: r.ID}
		if st.Initialization != "" {
			if l.init, err = dash.Expand(st.Initialization, r.ID, r.Bandwidth, 0, 0); err != nil || !insideTitle(l.init) {
				return nil, fmt.Errorf("representation %s: initialization %.64q is not inside the title", r.ID, l.init)
			}
		}
		for _, s := range segs {
			u, err := dash.Expand(st.Media, r.ID, r.Bandwidth, s.Number, s.Time)
			if err != nil || !insideTitle(u) {
				return nil, fmt.Errorf("representation %s: segment %.64q is not inside the title", r.ID, u)
			}
			l.segments = append(l.segments, hls.Segment{URI: u, Duration: s.Duration})
		}
		levels = append(levels, l)
	}
	if len(levels) == 0 {
		return nil, errors.New("no Representation")
	}
	return levels, nil
}
