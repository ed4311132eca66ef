package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/catalog"
	"edgecdn/internal/cluster"
	"edgecdn/origin"
	"edgecdn/origin/packager"
)

// runClusterFleet streams a Zipf request mix through a 6-edge, 3-zone cluster and reports how
// often objects reach the origin: origin fetches per object and offload (1 - origin bytes /
// served bytes), with and without cross-zone fill.
func runClusterFleet(ctx context.Context, args []string) (string, error) {
	fs := newFlags("cluster")
	requests := fs.Int("requests", 20000, "requests in the run")
	workers := fs.Int("workers", 32, "concurrent clients")
	titles := fs.Int("titles", 20, "titles in the catalog")
	zipfS := fs.Float64("zipf", 1.1, "Zipf exponent of title popularity")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "edgecdn-bench-cluster-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: *titles, Duration: 40 * time.Second, Ladder: "small", Logger: quiet})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Coalescing and offload in a cluster\n\n`go run ./bench cluster --requests %d --workers %d --titles %d --zipf %g` on %d CPUs: one origin, 6 edges in 3 zones (in one process, real HTTP and gossip on loopback), clients spread evenly over the edges; titles drawn Zipf(%g), each request a random segment of a random rendition of the title.\n\n",
		*requests, *workers, *titles, *zipfS, runtime.NumCPU(), *zipfS)
	var sum []string
	fmt.Fprintf(&b, "| cross-zone fill | requests | distinct objects | served MB | origin fetches | origin MB | fetches per object | offload |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, cross := range []bool{false, true} {
		r, err := fleetRun(ctx, dir, cat, cross, *requests, *workers, *zipfS, quiet)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %v | %d | %d | %.1f | %d | %.1f | %.2f | %.3f |\n", cross, r.requests, r.distinct, float64(r.served)/1e6,
			r.originFetches, float64(r.originBytes)/1e6, float64(r.originFetches)/float64(r.distinct), 1-float64(r.originBytes)/float64(r.served))
		sum = append(sum, fmt.Sprintf("%.2f origin fetches per object and offload %.3f", float64(r.originFetches)/float64(r.distinct), 1-float64(r.originBytes)/float64(r.served)))
	}
	fmt.Fprintf(&b, "\nWithout cross-zone fill each zone fetches an object once (at most 3 per object); with it, the key's home zone fetches it and the other zones fill from there.\n")
	fmt.Fprintf(&b, "\nSummary: %s; with cross-zone fill %s.\n", sum[0], sum[1])
	return b.String(), nil
}

type fleetResult struct {
	requests, distinct, originFetches int
	served, originBytes               int64
}

func fleetRun(ctx context.Context, dir string, cat *catalog.Catalog, cross bool, requests, workers int, s float64, log *slog.Logger) (fleetResult, error) {
	osrv, err := origin.New(origin.Config{Content: dir, Logger: log})
	if err != nil {
		return fleetResult{}, err
	}
	oln, _ := net.Listen("tcp", "127.0.0.1:0")
	go osrv.Serve(oln)
	defer osrv.Shutdown(context.Background())

	zones := []string{"zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"}
	var edges []*edge.Server
	var bases []string
	var join []string
	for i, z := range zones {
		e, err := edge.New(edge.Config{Name: fmt.Sprintf("%s-%d", z, i), Zone: z, Origins: []string{"http://" + oln.Addr().String()},
			CrossZoneFill: cross, Logger: log, ProbeInterval: -1})
		if err != nil {
			return fleetResult{}, err
		}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		cl, err := cluster.Start(cluster.Config{Name: fmt.Sprintf("%s-%d", z, i), Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: z, HTTP: ln.Addr().String()},
			GossipListen: "127.0.0.1:0", Join: join, LoadFunc: e.Load, Logger: log})
		if err != nil {
			return fleetResult{}, err
		}
		// Each edge joins every one started before it, as a pod joins every address of a headless
		// Service: each join is a push-pull with each of them. Joining only the one before left
		// an edge's arrival to spread by gossip alone, which 2 runs in 6 had not done everywhere
		// after 15 s.
		join = append(join, cl.GossipAddr())
		e.AttachCluster(cl)
		go e.Serve(ln)
		edges = append(edges, e)
		bases = append(bases, "http://"+ln.Addr().String())
	}
	defer func() {
		for _, e := range edges {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			e.Shutdown(sctx)
			cancel()
		}
	}()
	// Wait until every edge sees the 6 edges.
	deadline := time.Now().Add(15 * time.Second)
	for _, base := range bases {
		for {
			resp, err := http.Get(base + "/cluster")
			n := 0
			var body []byte
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				n = strings.Count(string(body), `"state": "alive"`)
			}
			if n == 6 {
				break
			}
			if time.Now().After(deadline) {
				return fleetResult{}, fmt.Errorf("cluster did not form within 15 s: %s sees %d of 6 edges alive (%v) %s", base, n, err, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Zipf over titles.
	cdf := make([]float64, len(cat.Titles))
	var sum float64
	for k := range cdf {
		sum += 1 / math.Pow(float64(k+1), s)
		cdf[k] = sum
	}
	var (
		res      fleetResult
		mu       sync.Mutex
		seen     = map[string]bool{}
		served   atomic.Int64
		failures atomic.Int64
		next     atomic.Int64
	)
	tr := &http.Transport{MaxIdleConnsPerHost: workers, Proxy: nil}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				i := next.Add(1)
				if i > int64(requests) || ctx.Err() != nil {
					return
				}
				ti, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
				t := cat.Titles[min(ti, len(cat.Titles)-1)]
				r := t.Renditions[rng.IntN(len(t.Renditions))]
				seg := r.Segments[rng.IntN(len(r.Segments))]
				path := "/vod/" + t.Name + "/" + r.Name + "/" + seg.Name
				resp, err := client.Get(bases[int(i)%len(bases)] + path)
				if err != nil {
					failures.Add(1)
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != seg.Size {
					failures.Add(1)
					continue
				}
				served.Add(n)
				mu.Lock()
				seen[path] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	tr.CloseIdleConnections()
	if f := failures.Load(); f > 0 {
		return res, fmt.Errorf("%d requests failed", f)
	}
	res.requests, res.distinct, res.served = requests, len(seen), served.Load()
	// The origin's own counters: every segment request it answered.
	var mb strings.Builder
	osrv.Metrics().WritePrometheus(&mb)
	for _, line := range strings.Split(mb.String(), "\n") {
		var n float64
		if strings.HasPrefix(line, `edgecdn_origin_requests_total{kind="segment",code="200"} `) {
			fmt.Sscan(strings.Fields(line)[1], &n)
			res.originFetches = int(n)
		}
		if strings.HasPrefix(line, `edgecdn_origin_sent_bytes_total{kind="segment"} `) {
			fmt.Sscan(strings.Fields(line)[1], &n)
			res.originBytes = int64(n)
		}
	}
	return res, nil
}
