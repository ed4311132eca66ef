package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// cluster is the local cluster under test, driven through kubectl.
type cluster struct {
	t          *testing.T
	kubectl    string
	kubeconfig string
	top        string // the repository
}

const ns = "edgecdn"

var zones = []string{"zone-a", "zone-b", "zone-c"}

func newCluster(t *testing.T) *cluster {
	top, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, top: top}
	c.kubeconfig = os.Getenv("KUBECONFIG")
	if c.kubeconfig == "" {
		c.kubeconfig = filepath.Join(top, "bin/k8s-local/kubeconfig")
	}
	if _, err := os.Stat(c.kubeconfig); err != nil {
		t.Fatalf("no kubeconfig at %s: start the cluster with make k8s-up", c.kubeconfig)
	}
	c.kubectl = os.Getenv("KUBECTL")
	if c.kubectl == "" {
		m, _ := filepath.Glob(filepath.Join(top, "bin/k8s-local/cache/kubernetes-*/kubectl"))
		if len(m) == 0 {
			t.Fatal("no kubectl in bin/k8s-local/cache: make k8s-up builds it (or set KUBECTL)")
		}
		c.kubectl = m[len(m)-1]
	}
	return c
}

// run runs kubectl with args and returns its standard output; standard error goes into the error.
func (c *cluster) run(ctx context.Context, stdin []byte, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}

// k runs kubectl and fails the test on an error.
func (c *cluster) k(args ...string) string {
	c.t.Helper()
	out, _, err := c.run(context.Background(), nil, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// pods lists the namespace's pods with the label selector.
func (c *cluster) pods(selector string) []corev1.Pod {
	c.t.Helper()
	var l corev1.PodList
	if err := json.Unmarshal([]byte(c.k("-n", ns, "get", "pods", "-l", selector, "-o", "json")), &l); err != nil {
		c.t.Fatalf("pods %s: %v", selector, err)
	}
	return l.Items
}

// service returns a Service's cluster IP.
func (c *cluster) serviceIP(name string) string {
	c.t.Helper()
	return strings.TrimSpace(c.k("-n", ns, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}"))
}

// secret returns a key of a Secret of the namespace, decoded.
func (c *cluster) secret(name, key string) string {
	c.t.Helper()
	var s corev1.Secret
	if err := json.Unmarshal([]byte(c.k("-n", ns, "get", "secret", name, "-o", "json")), &s); err != nil {
		c.t.Fatal(err)
	}
	return string(s.Data[key])
}

// ready reports whether a pod is Ready.
func ready(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitFor polls cond every 250 ms until it returns nil, or fails the test after d with its last error.
func waitFor(t *testing.T, what string, d time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < d {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v: %v", what, d, err)
	return 0
}

// workloads are every Deployment and StatefulSet the overlay creates.
func (c *cluster) workloads() []string {
	c.t.Helper()
	out := c.k("-n", ns, "get", "deployments,statefulsets", "-o", "name")
	return strings.Fields(out)
}

// rolloutAll waits for every workload's rollout to finish.
func (c *cluster) rolloutAll(timeout time.Duration) {
	c.t.Helper()
	for _, w := range c.workloads() {
		if _, _, err := c.run(context.Background(), nil, "-n", ns, "rollout", "status", w, "--timeout", timeout.String()); err != nil {
			c.t.Fatalf("%v\n%s", err, c.k("-n", ns, "get", "pods", "-o", "wide"))
		}
	}
}

// httpGet fetches url with the headers and returns status and body (up to 256 MB).
func httpGet(ctx context.Context, url string, hdr map[string]string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return resp.StatusCode, b, err
}

var errNotYet = errors.New("not yet")

// adminToken is the admin token the manifests give the pods, if any (Secret admin-token).
func (c *cluster) adminToken() string {
	out, _, err := c.run(context.Background(), nil, "-n", ns, "get", "secret", "-o", "name")
	if err != nil {
		return ""
	}
	for _, name := range strings.Fields(out) {
		name = strings.TrimPrefix(name, "secret/")
		if strings.HasPrefix(name, "admin-token") {
			return strings.TrimSpace(c.secret(name, "token"))
		}
	}
	return ""
}

// edgeAdminURL is where an edge serves its admin endpoints (/cluster): its admin port.
func (c *cluster) edgeAdminURL(ip string) string { return "http://" + ip + ":9100" }
