package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"edgecdn/internal/testenv"
)

type corev1Pod = corev1.Pod

// prometheusConfig scrapes the namespace's pods as their annotations say (prometheus.io/scrape,
// port, path), with the relabelling of the usual kubernetes-pods job. Debian's Prometheus is
// built without the Kubernetes service discovery, so the pods come from the test's HTTP
// service discovery (podsSD), which reads them from the Kubernetes API and labels them as
// kubernetes_sd_configs' role "pod" does; with an upstream Prometheus, the job's
// http_sd_configs is replaced by kubernetes_sd_configs (role: pod) and nothing else changes.
const prometheusConfig = `global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: edgecdn-pods
    http_sd_configs:
      - url: %q
        refresh_interval: 2s
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        action: replace
        regex: (.+)
        target_label: __metrics_path__
      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        action: replace
        regex: ([^:]+)(?::\d+)?;(\d+)
        replacement: $1:$2
        target_label: __address__
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
        target_label: component
      - source_labels: [__meta_kubernetes_pod_label_edgecdn_zone]
        target_label: zone
`

// checkPrometheus runs Debian's Prometheus on the host with Kubernetes service discovery,
// waits until it scrapes every annotated pod, and runs every query of the Grafana dashboard.
func (c *cluster) checkPrometheus(fleetBin string) {
	t := c.t
	prom := testenv.Tool(t, "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	sd := httptest.NewServer(http.HandlerFunc(c.podsSD))
	defer sd.Close()
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(prometheusConfig, sd.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus log:\n%s", b)
		}
	}()
	api := "http://" + addr + "/api/v1/"

	want := 0
	for _, p := range c.pods("app.kubernetes.io/name=edgecdn") {
		if p.Annotations["prometheus.io/scrape"] == "true" && p.Status.Phase == corev1.PodRunning {
			want++
		}
	}
	waitFor(t, "Prometheus scraping every annotated pod", 2*time.Minute, func() error {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(api+"targets?state=active", &r); err != nil {
			return err
		}
		up := 0
		var bad []string
		for _, tg := range r.Data.ActiveTargets {
			if tg.Health == "up" {
				up++
			} else {
				bad = append(bad, tg.Labels["pod"]+": "+tg.Health+" "+tg.LastError)
			}
		}
		if up < want {
			return fmt.Errorf("%d of %d targets up; %v", up, want, bad)
		}
		return nil
	})
	t.Logf("FIGURE Prometheus scrapes %d pods, found through the Kubernetes API by their annotations", want)

	// Traffic for the rates, then every dashboard query must return data.
	f := c.startFleet(fleetBin, "prometheus", 10, 30*time.Second, false)
	exec.Command("dig", "+short", "+time=1", "+tries=1", "@"+c.serviceIP("dns"), "video.edgecdn.local", "A").Run()
	queries := dashboardQueries(t, filepath.Join(c.top, "k8s/base/grafana-dashboard.json"))
	for _, q := range queries {
		expr := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "5m").Replace(q.expr)
		waitFor(t, fmt.Sprintf("dashboard panel %q query %s returning data", q.panel, expr), 90*time.Second, func() error {
			var r struct {
				Status string `json:"status"`
				Error  string `json:"error"`
				Data   struct {
					Result []json.RawMessage `json:"result"`
				} `json:"data"`
			}
			if err := getJSON(api+"query?query="+url.QueryEscape(expr), &r); err != nil {
				return err
			}
			if r.Status != "success" {
				return fmt.Errorf("%s: %s", r.Status, r.Error)
			}
			if len(r.Data.Result) == 0 {
				return fmt.Errorf("empty result")
			}
			return nil
		})
	}
	t.Logf("FIGURE every one of the dashboard's %d queries returns data from Prometheus", len(queries))
	f.wait(t)
}

// podsSD answers Prometheus's HTTP service discovery with the namespace's pods, read from the
// Kubernetes API, one target per pod at its IP, labelled as kubernetes_sd_configs labels them
// (__meta_kubernetes_namespace, _pod_name, _pod_phase, _pod_ready, _pod_label_<name>,
// _pod_annotation_<name>, names sanitized to [a-zA-Z0-9_]).
func (c *cluster) podsSD(w http.ResponseWriter, r *http.Request) {
	out, _, err := c.run(r.Context(), nil, "-n", ns, "get", "pods", "-o", "json")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var l corev1.PodList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := []group{}
	for _, p := range l.Items {
		if p.Status.PodIP == "" {
			continue
		}
		labels := map[string]string{
			"__meta_kubernetes_namespace": p.Namespace,
			"__meta_kubernetes_pod_name":  p.Name,
			"__meta_kubernetes_pod_phase": string(p.Status.Phase),
			"__meta_kubernetes_pod_ready": fmt.Sprint(ready(&p)),
		}
		for k, v := range p.Labels {
			labels["__meta_kubernetes_pod_label_"+sanitize(k)] = v
		}
		for k, v := range p.Annotations {
			labels["__meta_kubernetes_pod_annotation_"+sanitize(k)] = v
		}
		groups = append(groups, group{Targets: []string{p.Status.PodIP}, Labels: labels})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(groups)
}

// sanitize spells a label or annotation name as Prometheus's service discovery does.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

type panelQuery struct{ panel, expr string }

func dashboardQueries(t interface{ Fatal(...any) }, path string) []panelQuery {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var qs []panelQuery
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Expr != "" {
				qs = append(qs, panelQuery{p.Title, tg.Expr})
			}
		}
	}
	return qs
}

func getJSON(u string, v any) error {
	status, body, err := httpGet(context.Background(), u, nil)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("GET %s: %d %.200s", u, status, body)
	}
	return json.Unmarshal(body, v)
}
