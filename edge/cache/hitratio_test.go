package cache

import (
	"fmt"
	"strings"
	"testing"
)

// The hit-ratio workload: a catalog of 2,000 segments of 100 KB..2.5 MB (LadderSize), 200,000
// requests, Zipf exponents and cache sizes as a share of the catalog's bytes.
const (
	hrObjects  = 2000
	hrRequests = 200_000
)

var (
	hrExponents = []float64{0.8, 1.0, 1.2}
	hrPercents  = []int64{1, 5, 10, 20}
	hrPolicies  = []string{PolicyLRU, PolicyS3FIFO}
)

// TestHitRatioZipf measures every policy on the Zipf workload, logs the table, and checks the
// claim the default policy rests on: S3-FIFO's byte hit ratio beats LRU's at 5% and 10%.
func TestHitRatioZipf(t *testing.T) {
	catalogBytes := CatalogBytes(hrObjects, nil)
	var tab strings.Builder
	fmt.Fprintf(&tab, "byte hit ratio (object hit ratio), %d objects, %d MB, %d requests\n",
		hrObjects, catalogBytes/1e6, hrRequests)
	fmt.Fprintf(&tab, "%-8s %4s", "policy", "s")
	for _, pct := range hrPercents {
		fmt.Fprintf(&tab, " %15s", fmt.Sprintf("%d%%", pct))
	}
	tab.WriteByte('\n')
	for _, s := range hrExponents {
		trace := ZipfTrace(hrRequests, hrObjects, s, 1, nil)
		byteHR := map[string][]float64{}
		for _, pol := range hrPolicies {
			fmt.Fprintf(&tab, "%-8s %4.1f", pol, s)
			for _, pct := range hrPercents {
				ohr, bhr := Simulate(pol, catalogBytes*pct/100, trace)
				byteHR[pol] = append(byteHR[pol], bhr)
				fmt.Fprintf(&tab, "  %.3f (%.3f)", bhr, ohr)
			}
			tab.WriteByte('\n')
		}
		for i, pct := range hrPercents {
			if pct != 5 && pct != 10 {
				continue
			}
			if got, lru := byteHR[PolicyS3FIFO][i], byteHR[PolicyLRU][i]; got <= lru {
				t.Errorf("zipf s=%.1f, cache %d%%: s3fifo byte hit ratio %.4f, want > lru's %.4f", s, pct, got, lru)
			}
		}
	}
	t.Logf("\n%s", tab.String())
}

// TestHitRatioScan measures a Zipf working set (s=1.0) with a one-pass scan of new objects mixed
// in, where admission matters: LRU lets the scan flush the working set.
func TestHitRatioScan(t *testing.T) {
	if testing.Short() {
		t.Skip("hit-ratio simulation of the scan workload")
	}
	catalogBytes := CatalogBytes(hrObjects, nil)
	var tab strings.Builder
	fmt.Fprintf(&tab, "byte hit ratio (object hit ratio), zipf s=1.0 with a scan\n%-8s %5s", "policy", "scan")
	for _, pct := range hrPercents {
		fmt.Fprintf(&tab, " %15s", fmt.Sprintf("%d%%", pct))
	}
	tab.WriteByte('\n')
	for _, scan := range []float64{0.2, 0.5} {
		trace := ScanTrace(hrRequests, hrObjects, 1.0, scan, 2, nil)
		byteHR := map[string][]float64{}
		for _, pol := range hrPolicies {
			fmt.Fprintf(&tab, "%-8s %4.0f%%", pol, scan*100)
			for _, pct := range hrPercents {
				ohr, bhr := Simulate(pol, catalogBytes*pct/100, trace)
				byteHR[pol] = append(byteHR[pol], bhr)
				fmt.Fprintf(&tab, "  %.3f (%.3f)", bhr, ohr)
			}
			tab.WriteByte('\n')
		}
		for i, pct := range hrPercents {
			if got, lru := byteHR[PolicyS3FIFO][i], byteHR[PolicyLRU][i]; got <= lru {
				t.Errorf("scan %.0f%%, cache %d%%: s3fifo byte hit ratio %.4f, want > lru's %.4f", scan*100, pct, got, lru)
			}
		}
	}
	t.Logf("\n%s", tab.String())
}
