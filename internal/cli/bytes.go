package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes is a flag.Value for sizes such as 512MiB, 1GiB, 10MB or 4096 (bytes).
type Bytes int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseBytes parses a size with an optional unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB, B).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			mult, t = u.mult, strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("bad size %q: want a number with an optional unit, like 512MiB or 1GiB", s)
	}
	return int64(f * float64(mult)), nil
}

// FormatBytes writes n with a binary unit: 1GiB, 1.5MiB, 100B.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m {
			return strconv.FormatFloat(float64(n)/float64(u.m), 'f', -1, 64) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// String implements flag.Value.
func (b *Bytes) String() string { return FormatBytes(int64(*b)) }

// Set implements flag.Value.
func (b *Bytes) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}
